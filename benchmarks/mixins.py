"""Benchmark: what mixup/CutMix and TTA do on the `compete demo` digits, at equal epochs.

    python benchmarks/mixins.py [--workdir /tmp/bench] [--epochs 12]

Trains the demo recipe twice (plain, and with mixup + CutMix), then predicts each run without TTA
and with `--tta auto`, and prints pooled OOF accuracy and held-out test accuracy for each cell.
The OOF score of `--tta auto` is optimistic (the views were chosen on it); the held-out accuracy
is the unbiased figure.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from competitions.commands.cli import main
from competitions.pipeline.demo import build_digits_competition, heldout_accuracy

# Geometric views that suit digits (which must not be flipped).
FIXED_TTA = "identity,shift,scale"


def demo_fit_args(data_dir: Path, runs_dir: Path, experiment: str, extra: list[str] | None = None) -> list[str]:
    """The `compete fit` command line of the demo on the digits."""
    return ["fit", "cifar-10", "--config", "demo", "--data-dir", str(data_dir), "--runs-dir", str(runs_dir),
            "--experiment", experiment, *(extra or [])]  # fmt: skip


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default="bench-mixins")
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()
    workdir = Path(args.workdir)
    data_dir, heldout = build_digits_competition(workdir)
    runs = workdir / "runs"
    variants = {
        "plain": [],
        "mixup+cutmix": ["--model.mixup_alpha=0.2", "--model.cutmix_alpha=1.0", "--model.mixup_off_epochs=2"],
    }
    rows = []
    for name, extra in variants.items():
        experiment = f"{name}-e{args.epochs}-{int(time.time())}"
        started = time.time()
        code = main([*demo_fit_args(data_dir, runs, experiment, [f"--trainer.max_epochs={args.epochs}", *extra])])
        assert code == 0, f"fit {name} failed"
        fit_seconds = time.time() - started
        run = runs / "cifar-10" / experiment
        cv = json.loads((run / "cv.json").read_text())
        assert main(["predict", "cifar-10", "--run", str(run), "--tta", "none"]) == 0
        plain_heldout = heldout_accuracy(run / "submission.csv", heldout)
        assert main(["predict", "cifar-10", "--run", str(run), "--tta", "auto"]) == 0
        tta = json.loads((run / "tta.json").read_text())
        kept = [step for step in tta["steps"] if step["kept"]]
        auto_heldout = heldout_accuracy(run / "submission.csv", heldout)
        assert main(["predict", "cifar-10", "--run", str(run), "--tta", FIXED_TTA]) == 0
        per_group = ", ".join(f"{step['add']} {step['score']:.4f}" for step in tta["steps"][1:])
        rows.append(
            {
                "variant": name,
                "epochs": args.epochs,
                "CV mean±std": f"{cv['mean']:.4f}±{cv['std']:.4f}",
                "OOF (no TTA)": round(cv["oof"], 4),
                "held-out (no TTA)": round(plain_heldout, 4),
                "auto TTA views": "+".join(tta["chosen"]),
                "OOF (auto TTA)": round(kept[-1]["score"], 4),
                "held-out (auto TTA)": round(auto_heldout, 4),
                f"held-out ({FIXED_TTA})": round(heldout_accuracy(run / "submission.csv", heldout), 4),
                "OOF of identity+view": per_group,
                "fit s": round(fit_seconds),
            }
        )
    print(f"\nmachine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores")
    for row in rows:
        print()
        for key, value in row.items():
            print(f"  {key:28s} {value}")


if __name__ == "__main__":
    main_benchmark()
