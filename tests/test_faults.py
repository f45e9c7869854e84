"""Faults and races: two fits of one experiment, resumes that would rewrite history, kills mid-fit."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from competitions.commands.cli import main
from tests.helpers import fit, fit_command

ROOT = Path(__file__).resolve().parents[1]




def environment() -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("LOCAL_RANK", None)
    return env


def wait_for(path: Path | str, process: subprocess.Popen, seconds: float = 120) -> None:
    """Until ``path`` exists (a str: a glob pattern under the working directory that matches)."""
    deadline = time.monotonic() + seconds
    while not (path.exists() if isinstance(path, Path) else any(Path.cwd().glob(path))):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_a_second_fit_of_the_same_experiment_fails_at_once_naming_the_holder(cifar_dir, workdir, capsys):
    first = subprocess.Popen(fit_command("cifar-10", cifar_dir, "--model.lr=0.01", "--trainer.max_epochs=100000"), cwd=workdir,
                             env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for(workdir / "runs" / "cifar-10" / "baseline" / "config.yaml", first)
        started = time.monotonic()
        code = main(fit_command("cifar-10", cifar_dir, "--model.lr=0.5")[3:])  # this process is the second
        err = capsys.readouterr().err
        assert first.poll() is None  # still training: the two met
    finally:
        first.kill()
        first.wait()
    assert code == 4 and time.monotonic() - started < 60
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err
    assert "is in use by another compete fit (pid " in lines[0] and f"pid {first.pid} on " in lines[0]
    assert "--model.lr=0.01" in lines[0]  # the holder's command
    config = yaml.safe_load((workdir / "runs" / "cifar-10" / "baseline" / "config.yaml").read_text())
    assert config["model"]["lr"] == 0.01  # the first fit's settings, untouched


def test_resume_keeps_what_the_run_was_created_with_and_appends_history(cifar_dir, workdir, capsys):
    base = ["fit", "cifar-10", "--config", "debug", "--data-dir", str(cifar_dir)]
    assert main([*base, "--folds", "0"]) == 0
    run = workdir / "runs" / "cifar-10" / "baseline"
    created = yaml.safe_load((run / "config.yaml").read_text())
    assert [h["event"] for h in created["history"]] == ["created"] and created["history"][0]["status"] == "finished"

    assert main([*base, "--resume", "--model.lr=0.5"]) == 1  # would make the folds incomparable
    err = capsys.readouterr().err
    assert "would change model.lr 0.003 -> 0.5" in err and "--force" in err
    assert yaml.safe_load((run / "config.yaml").read_text()) == created  # nothing rewritten

    assert main([*base, "--resume", "--folds", "1", "--trainer.max_epochs=2"]) == 0
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["trainer"]["max_epochs"] == created["trainer"]["max_epochs"]  # as created
    assert config["meta"] == created["meta"]  # the original command and commit stay
    resumed = config["history"][-1]
    assert resumed["event"] == "resumed" and resumed["status"] == "finished" and resumed["folds"] == [1]
    assert resumed["changed"] == {"trainer.max_epochs": [created["trainer"]["max_epochs"], 2]}
    assert "--trainer.max_epochs=2" in resumed["command"]
    fold0 = yaml.safe_load((run / "fold0" / "config.yaml").read_text())
    fold1 = yaml.safe_load((run / "fold1" / "config.yaml").read_text())
    assert fold0["trainer"]["max_epochs"] == created["trainer"]["max_epochs"] and fold1["trainer"]["max_epochs"] == 2

    assert main([*base, "--resume", "--model.lr=0.5", "--force"]) == 0
    forced = yaml.safe_load((run / "config.yaml").read_text())["history"][-1]
    assert forced["changed"]["model.lr"] == [0.003, 0.5]


def test_checkpoints_carry_the_random_state(cifar_dir, workdir):
    assert main(["fit", "cifar-10", "--config", "debug", "--data-dir", str(cifar_dir), "--folds", "0"]) == 0
    checkpoint = torch.load(workdir / "runs" / "cifar-10" / "baseline" / "fold0" / "last.ckpt", weights_only=True)
    [state] = [v for k, v in checkpoint["callbacks"].items() if "RNGState" in k]
    assert {"python", "numpy", "torch"} <= set(state)


@pytest.mark.parametrize("name", ["", "../../x", "a/b", ".hidden", " padded"])
def test_experiment_names_are_plain_folder_names(cifar_dir, workdir, capsys, name):
    assert main(["fit", "cifar-10", "--config", "debug", "--data-dir", str(cifar_dir), "--experiment", name]) == 1
    line = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert len(line) == 1 and "is not a plain folder name" in line[0] and "--experiment" in line[0]
    assert not (workdir / "runs").exists() and not (workdir.parent / "x").exists()


@pytest.mark.slow
def test_killed_three_times_resume_ends_with_every_artifact_and_the_history(cifar_dir, workdir, tmp_path):
    """kill -9 a fit at a random moment, three times; --resume then finishes with the same set of files as
    an uninterrupted run, and config.yaml's history shows the three interruptions."""
    rng = random.Random(13)
    extra = ["--trainer.max_epochs=20"]
    run = workdir / "runs" / "cifar-10" / "baseline"
    moments = ["config.yaml", "fold0/last.ckpt", "fold0/oof.csv", "fold1/last.ckpt"]
    for attempt in range(3):
        command = fit_command("cifar-10", cifar_dir, *extra, *(["--resume"] if attempt else []))
        process = subprocess.Popen(command, cwd=workdir, env=environment(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 120
        while not (run / "config.yaml").exists() or len(yaml.safe_load((run / "config.yaml").read_text())["history"]) <= attempt:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        wait_for(run / rng.choice(moments[attempt:]), process)  # a random moment, later each time
        time.sleep(rng.uniform(0.0, 0.3))
        assert process.poll() is None  # killed while it was still working
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert main(fit_command("cifar-10", cifar_dir, *extra, "--resume")[3:]) == 0  # in this process: finish it

    reference = tmp_path / "reference"
    reference.mkdir()
    os.chdir(reference)  # an uninterrupted run of the same command, in a folder of its own
    try:
        assert main(fit_command("cifar-10", cifar_dir, *extra)[3:]) == 0
    finally:
        os.chdir(workdir)

    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}

    assert files(run) == files(reference / "runs" / "cifar-10" / "baseline")
    history = yaml.safe_load((run / "config.yaml").read_text())["history"]
    assert [h["status"] for h in history] == ["interrupted"] * 3 + ["finished"]
    assert [h["event"] for h in history] == ["created", "resumed", "resumed", "resumed"]
    assert json.loads((run / "cv.json").read_text())["complete"] is True


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe to hold predict between two folds")
def test_ctrl_c_in_predict_leaves_the_earlier_files_and_a_torn_move_is_refused(cifar_dir, workdir, capsys):
    """A real SIGINT in `compete predict --tta hflip` after fold 0 is predicted (fold 1's checkpoint is a named
    pipe, so predict waits there): the run's files stay those of the earlier predict, which ensemble blends.
    Then files that do not match test/manifest.json (what a kill -9 between the moves leaves) are refused."""
    assert main(["fit", "cifar-10", "--config", "debug", "--data-dir", str(cifar_dir)]) == 0
    run = workdir / "runs" / "cifar-10" / "baseline"
    assert main(["predict", "cifar-10", "--run", str(run)]) == 0
    other = workdir / "runs" / "cifar-10" / "b"  # a second run to blend with
    assert main(["fit", "cifar-10", "--config", "debug", "--data-dir", str(cifar_dir), "--experiment", "b"]) == 0
    assert main(["predict", "cifar-10", "--run", str(other)]) == 0
    before = {p: p.read_bytes() for p in [*run.glob("test/*"), run / "submission.csv"]}
    checkpoint = run / "fold1" / "best.ckpt"
    weights = checkpoint.read_bytes()
    checkpoint.unlink()
    os.mkfifo(checkpoint)
    command = [*fit_command("cifar-10", cifar_dir)[:3], "predict", "cifar-10", "--run", str(run), "--tta", "hflip"]
    process = subprocess.Popen(command, cwd=workdir, env=environment(), stderr=subprocess.PIPE, text=True)
    wait_for("runs/cifar-10/baseline/test/.incoming-*/fold0.csv", process)
    time.sleep(0.5)  # fold 0 is staged; predict waits to open fold 1's checkpoint (a pipe nobody writes)
    process.send_signal(signal.SIGINT)
    err = process.stderr.read()
    assert process.wait(timeout=60) == 130, err
    assert err.strip().splitlines()[-1] == (
        "interrupted: the run's earlier predictions and submission are as they were; run compete predict again")
    assert {p: p.read_bytes() for p in [*run.glob("test/*"), run / "submission.csv"]} == before  # nothing mixed
    checkpoint.unlink()
    checkpoint.write_bytes(weights)
    capsys.readouterr()
    assert main(["ensemble", "cifar-10", str(run), str(other), "--name", "blend"]) == 0

    # A predict killed between its moves: fold 0 new, the manifest and fold 1 old. Readers refuse it.
    (run / "test" / "fold0.csv").write_text((run / "test" / "fold0.csv").read_text().replace("0.", "0.0", 1))
    capsys.readouterr()
    assert main(["ensemble", "cifar-10", str(run), str(other), "--name", "blend2"]) == 1
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"error: {run / 'test' / 'fold0.csv'}: not the file {run / 'test' / 'manifest.json'} records")
    assert main(["predict", "cifar-10", "--run", str(run)]) == 0  # predict again: whole again
    assert main(["ensemble", "cifar-10", str(run), str(other), "--name", "blend2"]) == 0
    assert not list(run.glob("test/.incoming-*"))


def test_sigterm_inside_a_trainers_prediction_stops_the_command_as_an_interrupt(cifar_dir, workdir):
    """`kill PID` while a fold predicts its out-of-fold rows: Lightning's own SIGTERM handler only takes
    note, and its prediction loop never looks, so the command went on to the end. It stops now, says so
    in one line, exits 143, and the run's history says interrupted (a --resume finishes it)."""
    command = fit_command("cifar-10", cifar_dir, "--trainer.callbacks+=tests.callbacks.SlowPrediction")
    process = subprocess.Popen(command, cwd=workdir, env=environment(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_for(workdir / "predicting", process)
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=30)
    err = process.stderr.read()
    assert code == 143, err[-3000:]
    assert err.strip().splitlines()[-1] == "terminated (SIGTERM): finished folds and files are intact; continue with --resume"
    assert "Traceback" not in err
    run = workdir / "runs" / "cifar-10" / "baseline"
    assert yaml.safe_load((run / "config.yaml").read_text())["history"][-1]["status"] == "interrupted"
    assert not (run / "fold1" / "metrics.json").exists()  # it stopped in fold 0's prediction


def test_jobs_training_other_folds_of_one_run_at_once(cifar_dir, workdir, capsys):
    """A SLURM array: one `compete fit --folds K --resume` per task, at the same time. Each holds its folds'
    locks (not the run's); config.yaml's history gets every job's entry; the last one writes the full CV."""
    from competitions.pipeline.fit_lock import fold_lock

    assert fit("cifar-10", cifar_dir, "--n-folds=3", "--folds", "0") == 0  # the first task creates the run
    run = workdir / "runs" / "cifar-10" / "baseline"
    jobs = [subprocess.Popen(fit_command("cifar-10", cifar_dir, "--n-folds=3", "--folds", str(k), "--resume"),
                             cwd=workdir, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True) for k in (1, 2)]  # fmt: skip
    for job in jobs:
        assert job.wait(timeout=300) == 0, job.stderr.read()[-3000:]
    history = yaml.safe_load((run / "config.yaml").read_text())["history"]
    assert [h["status"] for h in history] == ["finished"] * 3
    assert sorted(tuple(h["folds"]) for h in history) == [(0,), (1,), (2,)]
    assert json.loads((run / "cv.json").read_text())["complete"] is True
    # The same fold by two jobs at once: the second is refused, naming the first.
    (run / "fold2" / "metrics.json").unlink()
    capsys.readouterr()
    with fold_lock(run / "fold2", "compete fit cifar-10 (the other job)"):
        assert fit("cifar-10", cifar_dir, "--n-folds=3", "--folds", "2", "--resume") == 4
    line = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")][-1]
    assert f"runs/cifar-10/baseline/fold2 is being trained by another compete fit (pid {os.getpid()} on " in line
    assert "(the other job)" in line and "leave that fold out of --folds" in line
