"""`compete demo` as a new user runs it: real digits in the cifar-10 layout, 2-fold fit, predict, score."""

from __future__ import annotations

import re
import subprocess
import sys

import pandas as pd

from competitions.catalog import COMPETITIONS
from competitions.pipeline.demo import build_digits_competition

CIFAR10_CLASSES = COMPETITIONS["cifar-10"].classes


def test_demo_builds_the_exact_cifar10_layout(tmp_path):
    data_dir, heldout = build_digits_competition(tmp_path)
    labels = pd.read_csv(data_dir / "trainLabels.csv")
    sample = pd.read_csv(data_dir / "sampleSubmission.csv")
    assert list(labels.columns) == ["id", "label"] and list(sample.columns) == ["id", "label"]
    assert labels["id"].tolist() == list(range(1, len(labels) + 1))
    assert len(labels) + len(sample) == 1797
    assert sorted(p.name for p in (data_dir / "train").iterdir()) == sorted(f"{i}.png" for i in labels["id"])
    assert len(list((data_dir / "test").iterdir())) == len(sample)
    assert set(labels["label"]) == set(CIFAR10_CLASSES)
    assert not (data_dir / heldout.name).exists()  # the held-out labels stay outside the competition folder


def test_demo_reaches_90_percent_on_held_out_digits(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "competitions", "demo", "--workdir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    match = re.search(
        r"2-fold CV accuracy ([\d.]+) ± [\d.]+ \(pooled OOF ([\d.]+)\); held-out test accuracy ([\d.]+)", log
    )
    assert match, log[-2000:]
    cv, oof, heldout = map(float, match.groups())
    assert heldout >= 0.90 and cv >= 0.90, log[-1500:]
    run = tmp_path / "demo" / "runs" / "cifar-10" / "digits"
    for name in (
        "config.yaml",
        "folds.csv",
        "cv.json",
        "submission.csv",
        "fold0/best.ckpt",
        "fold1/last.ckpt",
        "test/fold0.csv",
        "test/fold1.csv",
    ):
        assert (run / name).exists(), name
    # The summary says where everything is.
    assert f"{run}/  config.yaml" in log and f"{run}/submission.csv" in log and f"{run}/fold<k>/best.ckpt" in log
