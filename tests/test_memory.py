"""core/memory.py: freed memory goes back to the system, and every CPU fold and prediction asks for it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

FRAGMENTED = textwrap.dedent(
    """
    import ctypes, os
    from competitions.core.memory import release_freed_memory

    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]

    def resident():
        return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    big, small = [], []
    for _ in range(3000):  # 64 KB blocks (inside the heap, under glibc's mmap threshold), each pinned by a small one
        block = libc.malloc(64 * 1024)
        ctypes.memset(block, 1, 64 * 1024)
        big.append(block)
        small.append(libc.malloc(16))
    for block in big:
        libc.free(block)
    before = resident()
    returned = release_freed_memory()
    print(before, resident(), returned)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim is Linux's")
def test_freed_but_fragmented_memory_goes_back_to_the_system():
    out = subprocess.run([sys.executable, "-c", FRAGMENTED], capture_output=True, text=True, check=True).stdout
    before, after, returned = out.split()
    assert returned == "True"
    assert int(before) - int(after) > 100 * 2**20, out  # most of the 190 MB freed was still resident, now is not


def test_a_cpu_trainer_hands_freed_memory_back_while_it_trains_and_predicts(monkeypatch):
    import lightning as L
    from lightning.pytorch.demos.boring_classes import BoringModel

    from competitions.core import memory
    from competitions.pipeline.fit_callbacks import freed_memory_returned

    calls = []
    real = memory.release_freed_memory
    monkeypatch.setattr(memory, "release_freed_memory", lambda: calls.append(1) or real())
    trainer = L.Trainer(accelerator="cpu", max_steps=3, limit_val_batches=2, limit_predict_batches=2, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, callbacks=[freed_memory_returned(every=0.0)])  # fmt: skip
    model = BoringModel()
    trainer.fit(model)
    assert len(calls) >= 3 + 2  # each training and validation batch (sanity check included)
    trained = len(calls)
    trainer.predict(model, dataloaders=model.val_dataloader())
    assert len(calls) == trained + 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_on_the_cpu_the_image_cache_is_the_mapped_file_not_a_private_copy(tmp_path):
    """Every process that trains or predicts from the cache shares its pages (the page cache's), and the
    kernel may drop them under pressure: the tensor's memory is the file's mapping."""
    import numpy as np
    import torch

    from datamodules.batched import DeviceImages

    images = np.random.default_rng(0).integers(0, 256, (64, 8, 8, 3), dtype=np.uint8)
    path = tmp_path / "cache.npy"
    np.save(path, images)
    tensor = DeviceImages(path).on(torch.device("cpu"))
    assert torch.equal(tensor, torch.from_numpy(images)) and tensor[torch.tensor([3, 1])].shape == (2, 8, 8, 3)
    address = tensor.data_ptr()
    mapped = [line.split() for line in open("/proc/self/maps") if line.rstrip().endswith(str(path))]
    assert any(int(a, 16) <= address < int(b, 16) for a, b in (fields[0].split("-") for fields in mapped)), mapped
