"""`compete fit --fold-parallel`: one fold per device in worker processes (2 CPU "devices" here)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from tests.helpers import error_line, fit


def run_files(run) -> set[str]:
    return {str(p.relative_to(run)) for p in run.rglob("*") if p.is_file() and p.name != "worker.log"
            and "logs" not in p.parts}  # fmt: skip


def test_fold_parallel_writes_what_the_sequential_fit_writes(cifar_dir, workdir, capsys):
    """The same files, folds and OOF rows; each fold trained with its seed and rows as it would be one after
    another (deterministic, one thread per process: the same predictions)."""
    same = ["--trainer.deterministic=true", "--trainer.accelerator=cpu", "--trainer.max_epochs=2"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each worker runs (its share of the 2 CPUs)
    try:
        assert fit("cifar-10", cifar_dir, *same, "--experiment", "one-by-one") == 0
    finally:
        torch.set_num_threads(threads)
    capsys.readouterr()
    assert fit("cifar-10", cifar_dir, *same, "--experiment", "parallel", "--fold-parallel", "--trainer.devices=2") == 0
    err = capsys.readouterr().err
    assert err.count("training in worker pid") == 2 and "fold 1: OOF accuracy" in err
    root = workdir / "runs" / "cifar-10"
    one, par = root / "one-by-one", root / "parallel"
    assert run_files(par) == run_files(one)
    assert (par / "folds.csv").read_bytes() == (one / "folds.csv").read_bytes()
    for k in (0, 1):
        a, b = (pd.read_csv(r / f"fold{k}" / "oof.csv", dtype={"id": str}) for r in (one, par))
        assert a["id"].tolist() == b["id"].tolist()
        numbers = a.select_dtypes("number").columns.drop("fold")
        assert np.allclose(a[numbers], b[numbers], atol=1e-5)
    cv_one, cv_par = (json.loads((r / "cv.json").read_text()) for r in (one, par))
    assert cv_par["folds"] == pytest.approx(cv_one["folds"])
    history = yaml.safe_load((par / "config.yaml").read_text())["history"]
    assert [h["status"] for h in history] == ["finished"] and history[0]["folds_done"] == [0, 1]
    assert "fold_parallel" not in yaml.safe_load((par / "config.yaml").read_text())  # per invocation


def test_a_failed_worker_is_named_and_the_run_resumes(cifar_dir, workdir, capsys):
    assert fit("cifar-10", cifar_dir, "--experiment", "p", "--folds", "0") == 0
    run = workdir / "runs" / "cifar-10" / "p"
    (run / "fold1" / "config.yaml").mkdir(parents=True)  # fold 1's worker cannot write its config.yaml
    capsys.readouterr()
    assert fit("cifar-10", cifar_dir, "--experiment", "p", "--resume", "--fold-parallel",
               "--trainer.devices=2", "--trainer.accelerator=cpu") == 1  # fmt: skip
    line = error_line(capsys)
    assert line.startswith(f"error: fold 1: its worker failed (error: {run / 'fold1'}/") and "Is a directory" in line
    assert line.endswith("; see runs/cifar-10/p/fold1/worker.log, and finish the run with --resume")
    history = yaml.safe_load((run / "config.yaml").read_text())["history"]
    assert history[-1]["status"] == "failed"
    (run / "fold1" / "config.yaml").rmdir()
    assert fit("cifar-10", cifar_dir, "--experiment", "p", "--resume") == 0
    assert "fold 0: already finished" in capsys.readouterr().err
    assert json.loads((run / "cv.json").read_text())["complete"]


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--fold-parallel", "--logger", "wandb"], "--fold-parallel with --logger wandb"),
        (["--fold-parallel", "--trainer.strategy=ddp", "--trainer.devices=2"], "--fold-parallel trains each fold on one device"),
        (["--fold-parallel=0"], "--fold-parallel 0: processes per device, at least 1"),
    ],
)
def test_what_fold_parallel_cannot_do_is_refused_before_anything_is_written(cifar_dir, workdir, capsys, options, said):
    assert fit("cifar-10", cifar_dir, *options) == 2
    assert said in error_line(capsys)
    assert not (workdir / "runs" / "cifar-10" / "baseline").exists()


def test_the_gpu_check_runs_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.sh on the CPU at tiny sizes: every part runs and the JSON has its figures."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "check.json"
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(root / "benchmarks" / "gpu_check.sh"), "--device", "cpu", "--quick",
                           "--workdir", str(tmp_path / "work"), "--out", str(out)], capture_output=True, text=True,
                          env=env, timeout=300, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    report = json.loads(out.read_text())
    assert {"fp32", "bf16", "bf16_channels_last", "bf16_channels_last_compile", "compile_seconds"} <= set(report["steps"])
    assert all(report["steps"][k] > 0 for k in ("fp32", "bf16"))
    for part in ("fit_predict", "ddp_one", "budget"):  # fold_parallel: not in --quick (tested above)
        assert report[part]["exit"] == 0 and report[part]["seconds"] > 0, part
    assert report["budget"]["planned_epochs"] >= 1 and report["budget"]["used_seconds"] > 0
