"""`compete demo`: a miniature cifar-10, in Kaggle's exact layout, made from real handwritten digits.

scikit-learn ships 1,797 real 8x8 digit scans; each becomes a 32x32 RGB PNG named like Kaggle's
cifar-10 files, digit d labelled with the d-th CIFAR-10 class name. A held-out part is the test
set (its labels kept outside the competition folder), so the demo can report a true test accuracy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from competitions.artifacts import read_json, write_csv
from competitions.cifar10 import CIFAR10_CLASSES


def build_digits_competition(root: str | Path, test_fraction: float = 0.3, seed: int = 0) -> tuple[Path, Path]:
    """Write ``root/data/cifar-10`` (train/, test/, trainLabels.csv, sampleSubmission.csv) and
    ``root/heldout_labels.csv``; return both paths. Idempotent: an existing copy is reused."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    root = Path(root)
    data_dir = root / "data" / "cifar-10"
    heldout = root / "heldout_labels.csv"
    if (data_dir / "sampleSubmission.csv").exists() and heldout.exists():
        return data_dir, heldout
    digits = load_digits()
    labels = np.asarray(CIFAR10_CLASSES)[digits.target]
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=test_fraction, stratify=digits.target, random_state=seed
    )
    for split, indices in (("train", train_idx), ("test", test_idx)):
        folder = data_dir / split
        folder.mkdir(parents=True, exist_ok=True)
        for file_id, i in enumerate(indices, start=1):
            gray = (digits.images[i] * (255 / 16)).astype(np.uint8)
            image = Image.fromarray(gray).resize((32, 32), Image.BICUBIC).convert("RGB")
            image.save(folder / f"{file_id}.png")
    ids = lambda n: np.arange(1, n + 1)  # noqa: E731
    write_csv(data_dir / "trainLabels.csv", pd.DataFrame({"id": ids(len(train_idx)), "label": labels[train_idx]}))
    write_csv(data_dir / "sampleSubmission.csv", pd.DataFrame({"id": ids(len(test_idx)), "label": "cat"}))
    write_csv(heldout, pd.DataFrame({"id": ids(len(test_idx)), "label": labels[test_idx]}))
    return data_dir, heldout


def _free_experiment(runs_dir: Path, base: str) -> str:
    name, n = base, 1
    while (runs_dir / "cifar-10" / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def demo_fit_args(data_dir: Path, runs_dir: Path, experiment: str, extra: list[str] | None = None) -> list[str]:
    """The `compete fit` command line the demo (and the mixin benchmark) runs on the digits."""
    return ["fit", "cifar-10", "--config", "demo", "--data-dir", str(data_dir), "--runs-dir", str(runs_dir),
            "--experiment", experiment, *(extra or [])]  # fmt: skip


def heldout_accuracy(submission: Path, heldout: Path) -> float:
    """Accuracy of a submission's labels against the held-out labels (same id order)."""
    predicted = pd.read_csv(submission, dtype=str)
    truth = pd.read_csv(heldout, dtype=str)
    return float((predicted["label"].to_numpy() == truth["label"].to_numpy()).mean())


def run_demo(workdir: str | Path = "demo", extra: list[str] | None = None) -> dict:
    from competitions.cli import main

    started = time.time()
    workdir = Path(workdir)
    data_dir, heldout_path = build_digits_competition(workdir)
    runs_dir = workdir / "runs"
    experiment = _free_experiment(runs_dir, "digits")
    fit_args = demo_fit_args(data_dir, runs_dir, experiment, extra)
    print(f"$ compete {' '.join(fit_args)}", file=sys.stderr)
    if (code := main(fit_args)) != 0:
        raise SystemExit(code)
    run = runs_dir / "cifar-10" / experiment
    print(f"$ compete predict cifar-10 --run {run}", file=sys.stderr)
    if (code := main(["predict", "cifar-10", "--run", str(run)])) != 0:
        raise SystemExit(code)

    accuracy = heldout_accuracy(run / "submission.csv", heldout_path)
    truth = pd.read_csv(heldout_path, dtype=str)
    cv = read_json(run / "cv.json")
    result = {
        "cv_mean": cv["mean"],
        "cv_std": cv["std"],
        "cv_oof": cv["oof"],
        "heldout_accuracy": accuracy,
        "seconds": time.time() - started,
        "run": str(run),
        "data_dir": str(data_dir),
    }
    print(
        f"\ncompete demo: {cv['n_folds']}-fold CV accuracy {cv['mean']:.4f} ± {cv['std']:.4f} "
        f"(pooled OOF {cv['oof']:.4f}); held-out test accuracy {accuracy:.4f} on {len(truth)} digits; "
        f"{result['seconds']:.0f}s in all\n"
        f"  competition folder  {data_dir}  (Kaggle's cifar-10 layout)\n"
        f"  held-out labels     {heldout_path}\n"
        f"  run                 {run}/  config.yaml, folds.csv, cv.json\n"
        f"  checkpoints         {run}/fold<k>/best.ckpt, last.ckpt  (+ oof.csv, metrics.json)\n"
        f"  fold predictions    {run}/test/fold<k>.csv\n"
        f"  submission          {run}/submission.csv  (validated against sampleSubmission.csv)"
    )
    return result


def run_demo_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="compete demo",
        description="Build a miniature cifar-10 from real handwritten digits, then run a 2-fold fit, "
        "predict and validated submission, and print the CV score and the held-out accuracy.",
    )
    parser.add_argument("--workdir", default="demo", help="where the data and runs go (default: ./demo)")
    args, extra = parser.parse_known_args(argv)
    run_demo(args.workdir, extra)
    return 0
