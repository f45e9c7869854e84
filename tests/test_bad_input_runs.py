"""Bad values and odd places for a run: tune's storage and budget, --budget, long and unusual names,
a data folder that must stay untouched, W&B without a login, a Ctrl-C in tune and in init, runs on other folds."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from competitions.commands.cli import main
from tests.helpers import error_line, fit

AMES = "house-prices-advanced-regression-techniques"
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("storage", "code", "said"),
    [
        ("notaurl", 2, "--storage 'notaurl' is not a database URL"),
        ("postgresql://user@127.0.0.1:1/db", 2, "its database driver is not installed"),
        ("sqlite:///{file}/study.db", 1, "cannot open the database"),  # a folder that is a file
    ],
)
def test_tune_storage_that_cannot_be_used(competition_dir, workdir, capsys, storage, code, said):
    data = competition_dir(AMES)
    (workdir / "a-file").write_text("not a folder")
    storage = storage.format(file=workdir / "a-file")
    assert main(["tune", AMES, "--data-dir", str(data), "--trials", "1", "--storage", storage]) == code
    assert said in error_line(capsys)


@pytest.mark.parametrize("option", ["--trials=-3", "--trials=0"])
def test_tune_refuses_a_budget_of_no_trials(competition_dir, workdir, capsys, option):
    assert main(["tune", AMES, "--data-dir", str(competition_dir(AMES)), option]) == 2
    assert "--trials must be positive" in error_line(capsys)
    assert not (workdir / "runs" / AMES / "tune-lightgbm" / "study.db").exists()


@pytest.mark.parametrize(("budget", "said"), [("0s", "a positive duration"), ("-5m", "write a duration"),
                                              ("abc", "write a duration")])  # fmt: skip
def test_a_bad_budget_is_refused_before_anything_is_written(cifar_dir, workdir, capsys, budget, said):
    assert fit("cifar-10", cifar_dir, "--experiment", "b", f"--budget={budget}") == 2
    assert said in error_line(capsys)
    assert not (workdir / "runs" / "cifar-10" / "b").exists()  # the corrected command is not refused as "exists"


def test_an_experiment_name_too_long_for_a_folder(cifar_dir, workdir, capsys):
    assert fit("cifar-10", cifar_dir, "--experiment", "x" * 255) == 2
    assert error_line(capsys) == ("error: --experiment is 255 bytes long; at most 200 (a folder name, with room for "
                                  "the run's lock files beside it)")  # fmt: skip
    assert not list((workdir / "runs" / "cifar-10").glob("x*")) if (workdir / "runs" / "cifar-10").exists() else True
    assert fit("cifar-10", cifar_dir, "--experiment", "é" * 100, "--trainer.max_epochs=1") == 0  # 200 bytes: fits


def test_paths_with_spaces_and_letters_beyond_ascii(cifar_dir, workdir, capsys):
    data = workdir / "mes données" / "cifar 10 ü"
    shutil.copytree(cifar_dir, data)
    runs = workdir / "runs ü"
    assert fit("cifar-10", data, "--runs-dir", str(runs), "--experiment", "ß run", "--trainer.max_epochs=1") == 0
    run = runs / "cifar-10" / "ß run"
    assert main(["predict", "cifar-10", "--run", str(run)]) == 0
    assert main(["validate", "cifar-10", str(run / "submission.csv")]) == 0
    assert len(pd.read_csv(run / "submission.csv")) == len(pd.read_csv(data / "sampleSubmission.csv"))


def test_the_data_folder_is_only_read(cifar_dir, workdir):
    """Nothing is written into the competition folder (it may be read-only, a Kaggle input, a shared drive)."""
    before = {p: p.stat().st_mtime_ns for p in cifar_dir.rglob("*")}
    assert fit("cifar-10", cifar_dir, "--trainer.max_epochs=1") == 0
    assert main(["predict", "cifar-10", "--run", str(workdir / "runs" / "cifar-10" / "baseline")]) == 0
    assert {p: p.stat().st_mtime_ns for p in cifar_dir.rglob("*")} == before


def test_wandb_without_a_login_is_offline_for_its_service_process_too(workdir, monkeypatch):
    from competitions.core.layout import RunLayout
    from competitions.pipeline.tracking import Tracker

    for variable in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(workdir))  # no ~/.netrc: no login
    monkeypatch.setenv("NETRC", str(workdir / ".netrc"))
    tracker = Tracker("cifar-10", "w", RunLayout.of(workdir / "runs", "cifar-10", "w"), {})
    assert tracker.mode == "offline" and os.environ["WANDB_MODE"] == "offline"


def test_ctrl_c_during_tune_is_one_line_and_the_study_goes_on(competition_dir, workdir):
    data = competition_dir(AMES)
    command = [sys.executable, "-m", "competitions", "tune", AMES, "--data-dir", str(data), "--trials", "500",
               "--model.learning_rate=0.001", "--model.early_stopping_rounds=5000"]  # slow trials: Ctrl-C lands in one
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, cwd=workdir)
    for line in process.stderr:
        if line.startswith("features:"):  # the first trial has started
            break
    process.send_signal(signal.SIGINT)
    err = process.stderr.read()
    assert process.wait(timeout=60) == 130
    assert "Traceback" not in err and err.strip().splitlines()[-1] == (
        "interrupted: finished trials are in the study; run the same command again to continue it")
    assert (workdir / "runs" / AMES / "tune-lightgbm" / "study.db").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe to hold init in the middle of a read")
def test_ctrl_c_during_init_writes_nothing_and_init_runs_again(tmp_path, workdir):
    """init is held in a read of train.csv (a named pipe the test holds open), then gets a real SIGINT."""
    from tests.test_init_tabular import make_titanic

    data = make_titanic(tmp_path / "data")
    rows = (data / "train.csv").read_bytes()
    (data / "train.csv").unlink()
    os.mkfifo(data / "train.csv")
    command = [sys.executable, "-m", "competitions", "init", "titanic", "--data-dir", str(data)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               cwd=workdir)  # fmt: skip
    pipe = None
    while pipe is None and process.poll() is None:  # until init opens the pipe for reading
        try:
            pipe = os.open(data / "train.csv", os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            time.sleep(0.05)
    assert pipe is not None, process.stderr.read()
    time.sleep(0.5)  # init waits in a read of train.csv
    process.send_signal(signal.SIGINT)
    err = process.stderr.read()
    os.close(pipe)
    assert process.wait(timeout=60) == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == (
        "interrupted: no spec file was written; run compete init again")
    assert not (workdir / "competitions.d").exists() or not any((workdir / "competitions.d").iterdir())
    (data / "train.csv").unlink()
    (data / "train.csv").write_bytes(rows)
    assert main(["init", "titanic", "--data-dir", str(data), "--metric", "accuracy"]) == 0
    assert (workdir / "competitions.d" / "titanic.yaml").is_file()


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("--trainer.limit_val_batches=0", "stack family mlp: --trainer.limit_val_batches 0: compete validates every fold"),
        ("--model.hidden=64", "stack family lightgbm: Group 'model' does not accept option 'hidden'"),
    ],
)
def test_a_stack_checks_every_familys_options_before_the_first_trains(competition_dir, workdir, capsys, option, said):
    data = competition_dir(AMES)
    assert fit(AMES, data, option, config="stack") == 2
    assert error_line(capsys).startswith(f"error: {said}")
    assert not (workdir / "runs").exists()  # lightgbm and ridge, first in the stack, did not train
    if "limit_val" in option:  # one family: the same line without the family
        assert fit(AMES, data, option, "--family", "mlp", config=None) == 2
        assert error_line(capsys).startswith("error: --trainer.limit_val_batches 0: compete validates every fold")


def test_spawned_and_forked_processes_are_refused_naming_ddp(cifar_dir, workdir, capsys, monkeypatch):
    """Lightning returns no predictions from ddp_spawn / ddp_notebook / ddp_fork processes (fit died with
    "argmax of an empty sequence", predict with "predicted 0 of N"); a notebook runs several devices so."""
    said = "Lightning returns no predictions from spawned or forked processes"
    for strategy in ("ddp_spawn", "ddp_notebook", "ddp_fork"):
        assert fit("cifar-10", cifar_dir, f"--trainer.strategy={strategy}", "--trainer.devices=2") == 2
        line = error_line(capsys)
        assert line.startswith(f"error: --trainer.strategy {strategy} with --trainer.devices 2: {said}")
        assert "use strategy ddp from a terminal (in a notebook, a shell cell: !compete fit ...)" in line
    import lightning.fabric.utilities.imports as imports

    monkeypatch.setattr(imports, "_IS_INTERACTIVE", True)  # Jupyter: strategy auto forks for devices > 1
    assert fit("cifar-10", cifar_dir, "--trainer.devices=2") == 2
    assert f"--trainer.strategy auto with --trainer.devices 2: {said}" in error_line(capsys)
    assert not (workdir / "runs" / "cifar-10" / "baseline").exists()
    assert fit("cifar-10", cifar_dir, "--trainer.devices=1", "--trainer.max_epochs=1") == 0  # one device: fine
    run = workdir / "runs" / "cifar-10" / "baseline"
    assert main(["predict", "cifar-10", "--run", str(run), "--trainer.devices=2", "--trainer.strategy=ddp_spawn"]) == 2
    assert error_line(capsys).startswith(f"error: --trainer.strategy ddp_spawn with --trainer.devices 2: {said}")


def test_a_later_seed_is_named_when_the_competitions_folds_are_reused(competition_dir, workdir, capsys):
    data = competition_dir(AMES)
    assert fit(AMES, data, "--experiment", "a", "--seed", "1", "--family", "ridge", config=None) == 0
    shared = workdir / "runs" / AMES / "folds.csv"
    assert set(pd.read_csv(shared)["seed"]) == {1}
    capsys.readouterr()
    assert fit(AMES, data, "--experiment", "b", "--seed", "2", "--family", "ridge", config=None) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    shown = f"runs/{AMES}/folds.csv"
    assert warnings == [f"warning: {shown}: reused as it is (split with seed 1), so the OOF scores stay comparable "
                        f"with the earlier runs; seed 2 seeds the models only (delete {shown} to re-split)"]  # fmt: skip
    assert (workdir / "runs" / AMES / "b" / "folds.csv").read_bytes() == shared.read_bytes()


def test_ensemble_of_runs_on_other_folds_says_so(competition_dir, workdir, capsys):
    data = competition_dir(AMES)
    root = workdir / "runs" / AMES
    for name, seed in (("a", "1"), ("b", "2")):
        assert fit(AMES, data, "--experiment", name, "--seed", seed, "--family", "ridge", config=None) == 0
        assert main(["predict", AMES, "--run", str(root / name)]) == 0
        (root / "folds.csv").unlink()  # the next experiment makes its own split
    capsys.readouterr()
    assert main(["ensemble", AMES, str(root / "a"), str(root / "b"), "--weights", "equal"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "used other folds than" in warnings[0] and "mixes splits" in warnings[0]
