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

import pandas as pd

from competitions.cli import main
from competitions.demo import build_digits_competition


def heldout_accuracy(run: Path, heldout: Path) -> float:
    submission = pd.read_csv(run / "submission.csv", dtype=str)
    truth = pd.read_csv(heldout, dtype=str)
    return float((submission["label"].to_numpy() == truth["label"].to_numpy()).mean())


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
        code = main(["fit", "cifar-10", "--config", "demo", "--data-dir", str(data_dir), "--runs-dir", str(runs),
                     "--experiment", experiment, f"--trainer.max_epochs={args.epochs}", *extra])
        assert code == 0, f"fit {name} failed"
        fit_seconds = time.time() - started
        run = runs / "cifar-10" / experiment
        cv = json.loads((run / "cv.json").read_text())
        assert main(["predict", "cifar-10", "--run", str(run), "--tta", "none"]) == 0
        plain_heldout = heldout_accuracy(run, heldout)
        assert main(["predict", "cifar-10", "--run", str(run), "--tta", "auto"]) == 0
        tta = json.loads((run / "tta.json").read_text())
        kept = [s for s in tta["steps"] if s["kept"]]
        rows.append({
            "variant": name,
            "epochs": args.epochs,
            "CV mean±std": f"{cv['mean']:.4f}±{cv['std']:.4f}",
            "OOF (no TTA)": round(cv["oof"], 4),
            "held-out (no TTA)": round(plain_heldout, 4),
            "TTA views (auto)": "+".join(tta["chosen"]),
            "OOF (auto TTA)": round(kept[-1]["score"], 4),
            "held-out (auto TTA)": round(heldout_accuracy(run, heldout), 4),
            "fit s": round(fit_seconds),
        })
    table = pd.DataFrame(rows)
    print(f"\nmachine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores")
    print(table.to_markdown(index=False) if _has_tabulate() else table.to_string(index=False))


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main_benchmark()
