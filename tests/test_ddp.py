"""Real Lightning DDP: two CPU processes (gloo) over two folds, launched the way a user launches it."""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.wandb_records import read_runs


@pytest.mark.ddp
def test_two_process_ddp_fit_over_two_folds(cifar_dir, workdir):
    env = {
        **os.environ,
        "COMPETE_VERBOSE": "1",
        "WANDB_MODE": "offline",
        "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    env.pop("LOCAL_RANK", None)
    command = [
        sys.executable,
        "-m",
        "competitions",
        "fit",
        "cifar-10",
        "--config",
        "debug",
        "--data-dir",
        str(cifar_dir),
        "--trainer.accelerator=cpu",
        "--trainer.devices=2",
        "--trainer.strategy=ddp",
        "--data.batch_size=4",
        "--model.scale_lr=linear",
        "--logger=wandb",  # and only rank 0 talks to W&B
    ]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert "Starting with 2 processes" in log and "distributed_backend=gloo" in log

    # Every artifact was written by rank 0, exactly once.
    writes = re.findall(r"\[rank (\d+)\] wrote (\S+)", log)
    assert writes and {rank for rank, _ in writes} == {"0"}, writes
    counts = collections.Counter(path for _, path in writes)
    run_config = "runs/cifar-10/baseline/config.yaml"  # written when the fit starts and when it finishes (history)
    assert counts.pop(run_config) == 2, counts
    assert all(n == 1 for path, n in counts.items() if not path.endswith("wandb.json")), counts  # W&B ids: per fold
    run = workdir / "runs" / "cifar-10" / "baseline"
    for k in (0, 1):
        assert any(p.endswith(f"fold{k}/oof.csv") for p in counts)
        assert (run / f"fold{k}" / "best.ckpt").exists() and (run / f"fold{k}" / "last.ckpt").exists()
        assert log.count(f"fold {k}: OOF accuracy") == 1

    # Out-of-fold predictions were gathered from both processes: every training row, once.
    labels = pd.read_csv(cifar_dir / "trainLabels.csv", dtype=str)
    oof = pd.concat([pd.read_csv(run / f"fold{k}" / "oof.csv", dtype={"id": str}) for k in (0, 1)])
    assert sorted(oof["id"]) == sorted(labels["id"])
    cv = json.loads((run / "cv.json").read_text())
    assert cv["complete"] and cv["oof_rows"] == len(labels)
    runs = read_runs(run / "wandb")  # W&B: one run per fold and the cv run, from rank 0 only
    state = json.loads((run / "wandb.json").read_text())
    assert set(runs) == {*state["folds"].values(), state["cv"]} and len(runs) == 3
    assert sorted(r["run"][1] for r in runs.values()) == ["cv", "fold0", "fold1"]


@pytest.mark.ddp
def test_two_process_ddp_fit_of_the_tabular_model(competition_dir, workdir):
    """The house-price path under DDP: each process fits the same fold preprocessing; OOF rows are
    gathered from both and every training row is predicted once. No validation epoch (2 epochs, validating
    every 3rd): no monitored checkpoint, so the final weights are saved as best.ckpt, by every process
    (save_checkpoint waits for all; rank 0 alone hung)."""
    slug = "house-prices-advanced-regression-techniques"
    data = competition_dir(slug)
    env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("LOCAL_RANK", None)
    command = [sys.executable, "-m", "competitions", "fit", slug, "--config", "debug", "--data-dir", str(data)]
    command += ["--trainer.devices=2", "--trainer.strategy=ddp", "--trainer.max_epochs=2",
                "--trainer.check_val_every_n_epoch=3"]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert "Starting with 2 processes" in log and log.count("features: ") == 1
    assert log.count("no checkpoint was monitored") == 2  # one per fold, said once
    run = workdir / "runs" / slug / "baseline"
    oof = pd.concat([pd.read_csv(run / f"fold{k}" / "oof.csv", dtype={"id": str}) for k in (0, 1)])
    train = pd.read_csv(data / "train.csv", dtype={"Id": str})
    assert sorted(oof["id"]) == sorted(train["Id"]) and (oof["prediction"] > 0).all()


@pytest.mark.ddp
def test_ddp_predict_writes_byte_identical_files(cifar_dir, workdir):
    """`compete predict` on 2 processes writes the same bytes as on one: fold files and submission."""
    from competitions.commands.cli import main

    assert main(["fit", "cifar-10", "--config", "debug", "--data-dir", str(cifar_dir)]) == 0
    run = workdir / "runs" / "cifar-10" / "baseline"
    # Batches of 5 over 12 test images: 3 batches, dealt to 2 processes. One thread per process in
    # both runs: CPU kernels round differently with other thread counts (GPUs do not care).
    predict = ["predict", "cifar-10", "--run", str(run), "--data.batch_size=5", "--threads=1"]
    import torch

    threads = torch.get_num_threads()
    try:
        assert main(predict) == 0
    finally:
        torch.set_num_threads(threads)
        os.environ.pop("OMP_NUM_THREADS", None)
    single = {p.relative_to(run): p.read_bytes() for p in [*run.glob("test/fold*.csv"), run / "submission.csv"]}
    for path in single:
        (run / path).unlink()

    env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("LOCAL_RANK", None)
    command = [sys.executable, "-m", "competitions", *predict, "--trainer.devices=2", "--trainer.strategy=ddp"]
    command += ["--trainer.accelerator=cpu"]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert "Starting with 2 processes" in log or "distributed_backend=gloo" in log
    assert len(single) == 3
    for path, expected in single.items():
        assert (run / path).read_bytes() == expected, path



@pytest.mark.ddp
def test_two_process_ddp_fit_with_device_augmentation(cifar_dir, workdir):
    """The index batches under DDP: each process its share of one shuffled order, augmented on its device.
    Batches of 32: each fold's 20 training rows are one batch, dealt round again so both processes step
    (a process without a batch hung), and its 20 validation rows are one batch, so the second process
    predicts none of the out-of-fold rows (Lightning refused an empty loader)."""
    env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("LOCAL_RANK", None)
    command = [sys.executable, "-m", "competitions", "fit", "cifar-10", "--config", "debug", "--data-dir", str(cifar_dir),
               "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp", "--data.batch_size=32",
               "--data.augment_on=device", "--trainer.limit_train_batches=null"]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert "Starting with 2 processes" in log
    run = workdir / "runs" / "cifar-10" / "baseline"
    cv = json.loads((run / "cv.json").read_text())
    assert cv["complete"] and cv["oof_rows"] == 40
    metrics = pd.read_csv(run / "fold0" / "logs" / "metrics.csv")
    assert metrics["step"].max() <= 1  # one step per process in the one epoch


@pytest.mark.ddp
def test_processes_that_do_not_share_the_run_folder_are_refused(cifar_dir, workdir):
    """Process 1 sees another folder (a node with a disk of its own): it would predict its OOF rows with its
    last-epoch weights, not rank 0's best.ckpt, and mix them in. Refused on every process before a step."""
    root = str(Path(__file__).resolve().parents[1])  # tests.fixtures is importable from the project's root
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("LOCAL_RANK", None)
    command = [sys.executable, "-m", "competitions", "fit", "cifar-10", "--config", "debug", "--data-dir",
               str(cifar_dir), "--trainer.devices=2", "--trainer.strategy=ddp", "--trainer.accelerator=cpu",
               "--trainer.callbacks+=tests.fixtures.OwnDiskOnRank1"]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode == 1, log[-3000:]
    assert ("error: runs/cifar-10/baseline: not the same folder in every process (another node has a disk of its "
            "own?)") in log  # fmt: skip
    assert not (workdir / "runs" / "cifar-10" / "baseline" / "fold0" / "oof.csv").exists()
