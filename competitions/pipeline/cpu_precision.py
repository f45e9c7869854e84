"""bfloat16 on a CPU: only where it is native and measured faster than float32.

A preset's ``bf16-mixed`` runs under torch's CPU autocast. CPUs with AMX or AVX-512 BF16 (Intel Xeon
from Sapphire Rapids on, AMD Zen 4) compute convolutions and matrix products in bfloat16 natively
(oneDNN), which can be faster than float32; elsewhere autocast emulates them and is several times
slower. So the first time a process resolves ``bf16-mixed`` for a CPU it asks torch whether oneDNN has
bfloat16 and, when it has, times a few training steps of a small conv net both ways (about half a second),
keeping bf16-mixed only when it is at least ``GAIN`` faster. The answer stays in ``COMPETE_CPU_BF16``
(1 or 0) for the rest of the process and the processes it starts (DDP's), so they all train alike; set
it yourself (0: always float32) to skip the probe.
"""

from __future__ import annotations

import os
import time

VARIABLE = "COMPETE_CPU_BF16"
GAIN = 0.85  # bf16's step must take at most this share of float32's
STEPS = 3  # timed training steps each way, after one untimed
BATCH, SIZE = 32, 64  # images of the probe's batches


def cpu_bf16_faster() -> bool:
    """Whether bf16-mixed trains faster than 32-true on this CPU (measured once per process tree)."""
    known = os.environ.get(VARIABLE, "").strip()
    if known in ("0", "1"):
        return known == "1"
    faster = onednn_bf16() and step_ratio() < GAIN
    os.environ[VARIABLE] = "1" if faster else "0"
    return faster


def onednn_bf16() -> bool:
    """torch's oneDNN computes bfloat16 natively here (AVX-512 BF16 or AMX)."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without the check: do not guess
        return False


def step_ratio() -> float:
    """A bf16-autocast training step's seconds over a float32 one's, for the fast presets' plain 3-block CNN
    (``cnn3``) on 64 px images."""
    import torch
    from torch import nn

    from lightning_modules.small_nets import cnn3

    torch.manual_seed(0)
    net = cnn3(num_classes=10)
    images, labels = torch.randn(BATCH, 3, SIZE, SIZE), torch.randint(0, 10, (BATCH,))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)

    def seconds(bf16: bool) -> float:
        times = []
        for _ in range(STEPS + 1):
            started = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = nn.functional.cross_entropy(net(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            times.append(time.perf_counter() - started)
        return min(times[1:])

    return seconds(True) / max(seconds(False), 1e-9)
