"""The GPU check: what one device does with the `fast` recipe, in at most 5 minutes, as one JSON file.

    python benchmarks/gpu_check.py --out gpu_check.json                  # on a GPU machine (the `device` tool)
    python benchmarks/gpu_check.py --device cpu --quick --out check.json # on a CPU (what the test runs)

It prints and writes:
  steps        images/s of the fast recipe's training step (ResNet-9; half width on the CPU) at batch 512
               (64 on the CPU): fp32, bf16 autocast, bf16 + channels_last, + torch.compile (and the seconds
               the compile took)
  fit_predict  a real `compete fit cifar-10 --config fast` + `compete predict` of a generated cifar-10-shaped
               set (scikit-learn's digits as 32x32 PNGs in Kaggle's layout): seconds and the OOF accuracy
  ddp_one      the same fit with --trainer.strategy=ddp on one process (what DDP's machinery costs)
  fold_parallel  two fold-parallel workers on the one device (--fold-parallel 2)
  budget       --budget B: the plan (epochs, step times) against the seconds the fit used
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.speed import build  # noqa: E402
from competitions.commands.cli import main as compete  # noqa: E402


def step_rates(device: str, batch: int, steps: int) -> dict:
    """Images/s of forward + backward + SGD step of the fast recipe's network, four ways."""
    from lightning_modules.generic import ImageModel

    backbone = "resnet9" if device == "cuda" else "resnet9_narrow"
    out: dict = {"backbone": backbone, "batch": batch}
    images = torch.randn(batch, 3, 32, 32, device=device)
    target = torch.randint(0, 10, (batch,), device=device)
    for name, bf16, channels_last, compiled in (("fp32", False, False, False), ("bf16", True, False, False),
                                                ("bf16_channels_last", True, True, False),
                                                ("bf16_channels_last_compile", True, True, True)):  # fmt: skip
        model = ImageModel(num_classes=10, class_names=[str(i) for i in range(10)], backbone=backbone, pretrained=False,
                           small_input_stem=False, channels_last=channels_last, compile=compiled,
                           compile_backend="inductor" if device == "cuda" else "eager").to(device)  # fmt: skip
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        started = time.time()
        train_step(model, optimizer, images, target, bf16)  # the first step: cuDNN's choices, the compile
        sync(device)
        first = time.time() - started
        started = time.time()
        for _ in range(steps):
            train_step(model, optimizer, images, target, bf16)
        sync(device)
        out[name] = round(batch * steps / (time.time() - started), 1)
        if compiled:
            out["compile_seconds"] = round(first, 2)
    return out


def train_step(model, optimizer, images, target, bf16: bool) -> None:
    with torch.autocast(device_type=images.device.type, dtype=torch.bfloat16, enabled=bf16):
        loss = torch.nn.functional.cross_entropy(model(images), target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed_fit(data: Path, runs: Path, experiment: str, *options: str) -> dict:
    started = time.time()
    code = compete(["fit", "cifar-10", "--config", "fast", "--data-dir", str(data), "--runs-dir", str(runs),
                    "--experiment", experiment, *options])  # fmt: skip
    out = {"exit": code, "seconds": round(time.time() - started, 1)}
    cv = runs / "cifar-10" / experiment / "cv.json"
    if code == 0 and cv.exists():
        out["oof_accuracy"] = round(json.loads(cv.read_text())["oof"], 4)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workdir", default="gpu-check")
    parser.add_argument("--out", default="gpu_check.json")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the CPU test)")
    args = parser.parse_args(argv)
    work = Path(args.workdir)
    gpu = args.device == "cuda"
    accelerator = ["--trainer.accelerator=gpu" if gpu else "--trainer.accelerator=cpu"]
    report: dict = {"machine": {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.processor()
                                or platform.machine(), "gpu": torch.cuda.get_device_name(0) if gpu else None}}  # fmt: skip
    report["steps"] = step_rates(args.device, 16 if args.quick else (512 if gpu else 64), 2 if args.quick else 30)
    data, _ = build(work, n_train=120, n_total=200) if args.quick else build(work, n_train=1200)
    runs = work / "runs"
    size = ["--n-folds=2", "--trainer.max_epochs=1" if args.quick else "--trainer.max_epochs=8",
            "--data.batch_size=32" if args.quick else "--data.batch_size=128"]  # fmt: skip
    fitted = timed_fit(data, runs, "fast", *accelerator, *size)
    started = time.time()
    predicted = compete(["predict", "cifar-10", "--run", str(runs / "cifar-10" / "fast")])
    report["fit_predict"] = {**fitted, "predict_exit": predicted, "predict_seconds": round(time.time() - started, 1)}
    if args.quick:  # one fold is enough to see each part work
        size.append("--folds=0")
    report["ddp_one"] = timed_fit(data, runs, "ddp-one", *accelerator, *size, "--trainer.strategy=ddp",
                                  "--trainer.devices=1")  # fmt: skip
    if not args.quick:  # (tests/test_fold_parallel.py runs it on the CPU)
        report["fold_parallel"] = timed_fit(data, runs, "fold-parallel", *accelerator, *size, "--fold-parallel", "2",
                                            "--trainer.devices=1")  # fmt: skip
    budget = "15s" if args.quick else "60s"
    used = timed_fit(data, runs, "budget", *accelerator, *size[:1], *size[2:], "--budget", budget)
    history = yaml.safe_load((runs / "cifar-10" / "budget" / "config.yaml").read_text())["history"][-1]
    plan = history.get("budget") or {}
    report["budget"] = {"budget": budget, "planned_epochs": plan.get("epochs"), "plan_seconds_per_epoch":
                        plan.get("epoch_seconds"), "used_seconds": history.get("seconds"), **used}  # fmt: skip
    text = json.dumps(report, indent=2)
    Path(args.out).write_text(text + "\n")
    print(text)
    failed = [name for name, part in report.items() if isinstance(part, dict) and part.get("exit", 0) != 0]
    return 1 if failed or report["fit_predict"]["predict_exit"] != 0 else 0


if __name__ == "__main__":
    raise SystemExit(main())
