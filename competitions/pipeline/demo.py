"""`compete demo`: a miniature cifar-10, in Kaggle's exact layout, made from real handwritten digits.

scikit-learn ships 1,797 real 8x8 digit scans; each becomes a 32x32 RGB PNG named like Kaggle's
cifar-10 files, digit d labelled with the d-th CIFAR-10 class name. A held-out part is the test
set (its labels kept outside the competition folder), so the demo can report a true test accuracy.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from competitions.catalog import COMPETITIONS
from competitions.core.artifacts import write_csv
from competitions.core.console import info

CIFAR10_CLASSES = COMPETITIONS["cifar-10"].classes


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


def heldout_accuracy(submission: Path, heldout: Path) -> float:
    """Accuracy of a submission's labels against the held-out labels (same id order)."""
    predicted = pd.read_csv(submission, dtype=str)
    truth = pd.read_csv(heldout, dtype=str)
    return float((predicted["label"].to_numpy() == truth["label"].to_numpy()).mean())


def run_demo(workdir: str | Path = "demo", overrides: dict | None = None, command: str | None = None) -> dict:
    """Build the digits competition, fit (the `demo` preset, 2 folds; ``overrides`` as fit takes them),
    predict, and score the submission against the held-out labels. Returns the figures and the paths."""
    from competitions.catalog import get_competition
    from competitions.pipeline.fit import fit
    from competitions.pipeline.predict import predict_run
    from competitions.pipeline.run_config import resolve_run

    started = time.time()
    workdir = Path(workdir)
    data_dir, heldout_path = build_digits_competition(workdir)
    runs_dir = workdir / "runs"
    experiment = _free_experiment(runs_dir, "digits")
    spec = get_competition("cifar-10")
    settings = {"data_dir": str(data_dir), "runs_dir": str(runs_dir), "experiment": experiment, **(overrides or {})}
    shown = " ".join(f"--{key.replace('_', '-') if '.' not in key else key}={value}" for key, value in settings.items())
    info(f"$ compete fit cifar-10 --config demo {shown}")
    run = fit(resolve_run(spec, ["demo"], overrides=settings, command=command or f"compete fit cifar-10 --config demo {shown}"))
    if run is None:  # a DDP process other than rank 0
        return {}
    info(f"$ compete predict cifar-10 --run {run.path}")
    submission = predict_run(spec, run.path)
    cv = run.cv
    return {
        "cv_mean": cv["mean"],
        "cv_std": cv["std"],
        "cv_oof": cv["oof"],
        "n_folds": cv["n_folds"],
        "heldout_accuracy": heldout_accuracy(submission.path, heldout_path),
        "heldout_rows": len(pd.read_csv(heldout_path, dtype=str)),
        "seconds": time.time() - started,
        "run": str(run.path),
        "data_dir": str(data_dir),
        "heldout": str(heldout_path),
    }
