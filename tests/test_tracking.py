"""W&B in offline mode (the real wandb, its run files read back), `compete runs` and `compete show`."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading

import numpy as np
import pytest
from PIL import Image

from competitions import plot_runs
from competitions.commands.cli import main
from competitions.pipeline.tracking import wandb_mode
from tests.wandb_records import raw_bytes, read_runs

AMES = "house-prices-advanced-regression-techniques"
SECRETS = {"KAGGLE_KEY": "kaggle-sekrit-1234", "WANDB_API_KEY": "wandb-sekrit-" + "5" * 28}


def test_offline_without_a_login(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert wandb_mode() == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode() == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode() == "disabled"


def test_wandb_runs_per_fold_grouped_by_experiment(cifar_dir, workdir, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    args = ["fit", "cifar-10", "--config", "debug", "--data-dir", str(cifar_dir), "--logger", "wandb"]
    assert main([*args, "--trainer.max_epochs=2"]) == 0
    run = workdir / "runs" / "cifar-10" / "baseline"
    assert main(["predict", "cifar-10", "--run", str(run)]) == 0
    state = json.loads((run / "wandb.json").read_text())
    runs = read_runs(run / "wandb")
    cv = json.loads((run / "cv.json").read_text())

    folds = [runs[state["folds"][k]] for k in ("0", "1")]
    for k, fold in enumerate(folds):
        assert fold["run"] == ("baseline", f"fold{k}", f"fold{k}", "cifar-10")
        assert fold["config"]["model"]["backbone"] == "test_resnet"  # the resolved config
        assert fold["config"]["n_folds"] == 2 and "meta" in fold["config"]
        epochs = [h for h in fold["history"] if "val/acc" in h]
        assert len(epochs) == 2  # per-epoch metrics
        assert fold["summary"]["fold/score"] == pytest.approx(cv["folds"][str(k)])
        # The CV summary reached every fold's run, after the last fold.
        assert fold["summary"]["cv/mean"] == pytest.approx(cv["mean"]) and fold["summary"]["cv/oof"] == cv["oof"]
        assert any(t == "run_table" and "confusion" in n for n, t in fold["artifacts"])
    assert any("data/augmented_training_images/path" in h for h in folds[0]["history"])
    summary_run = runs[state["cv"]]
    assert summary_run["run"] == ("baseline", "cv", "cv", "cifar-10")
    assert summary_run["summary"]["cv/fold1"] == pytest.approx(cv["folds"]["1"])
    assert ("baseline-submission", "submission") in summary_run["artifacts"]  # logged by predict
    assert set(runs) == {*state["folds"].values(), state["cv"]}  # nothing else was started

    files = raw_bytes(run / "wandb") + (run / "wandb.json").read_bytes()
    for value in SECRETS.values():
        assert value.encode() not in files


def _fit(data, name, *extra):
    argv = ["fit", AMES, "--config", "debug", "--data-dir", str(data), "--experiment", name, *extra]
    assert main(argv) == 0


def test_runs_table_orders_experiments_and_shows_what_differs(competition_dir, workdir, capsys):
    data = competition_dir(AMES)
    _fit(data, "small", "--model.hidden=8")
    _fit(data, "wide", "--model.hidden=128", "--trainer.max_epochs=8")
    root = workdir / "runs" / AMES
    scores = {name: json.loads((root / name / "cv.json").read_text())["oof"] for name in ("small", "wide")}
    best, worst = sorted(scores, key=scores.get)  # rmse: lower is better
    (root / "ledger.jsonl").write_text(
        json.dumps({"attempt": "1", "time": "t", "experiment": best, "public_score": "0.1432", "status": "COMPLETE"})
        + "\n"
    )
    capsys.readouterr()
    assert main(["runs", AMES, "--plot", str(workdir / "runs.png")]) == 0
    out = capsys.readouterr().out
    assert out.index(best) < out.index(worst)
    assert "model.hidden" in out and "trainer.max_epochs" in out and "model.depth" not in out
    assert "history" not in out and "meta" not in out  # when and how a run was made is not a setting
    assert f"{scores[best]:.4f}" in out and "0.14320" in out
    with Image.open(workdir / "runs.png") as image:
        assert image.size == (1600, 450)  # CV vs public, per-fold scores, validation curves
    figure = plot_runs(AMES)
    scatter, _, curves = figure.axes
    assert len(scatter.collections) == 1  # the one scored submission
    assert len(curves.lines) == 2 * 2  # a validation curve per fold of each experiment
    for line in curves.lines:
        epochs, values = line.get_data()
        assert len(epochs) >= 1 and np.all(np.asarray(values) > 0)


def _show(data, out, *extra):
    argv = ["show", "cifar-10", "--config", "debug", "--data-dir", str(data), "--n", "8", "--out", str(out), *extra]
    assert main(argv) == 0
    with Image.open(out) as image:
        return np.asarray(image.convert("RGB"))


def test_show_draws_what_the_augmentation_does(cifar_dir, workdir):
    plain = _show(cifar_dir, workdir / "plain.png", "--data.hflip=false", "--data.crop_padding=0")
    again = _show(cifar_dir, workdir / "again.png", "--data.hflip=false", "--data.crop_padding=0")
    cut = _show(cifar_dir, workdir / "cutmix.png", "--data.hflip=false", "--data.crop_padding=0",
                "--model.cutmix_alpha=1.0", "--model.mix_prob=1.0")  # fmt: skip
    assert plain.shape == (230, 1280, 3)  # 8 tiles of 1.6 in (+0.3 in of caption) at 100 dpi, plus the title
    assert np.array_equal(plain, again)  # seeded: the same picture twice
    assert not np.array_equal(plain, cut)  # CutMix shows in the picture


def test_show_refuses_tabular_competitions(capsys):
    assert main(["show", AMES]) == 1
    assert "image competitions" in capsys.readouterr().err


def test_runs_without_experiments(workdir, capsys):
    assert main(["runs", "cifar-10"]) == 1
    assert "no experiment" in capsys.readouterr().err


class Unauthorized(http.server.BaseHTTPRequestHandler):
    """A W&B server that refuses the key: wandb.init fails with CommError."""

    def answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"errors": ["unauthorized"]}')

    do_GET = do_POST = do_HEAD = answer

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def wandb_server(kind: str):
    """The URL of a W&B server that is not there (a closed port) or that refuses the key."""
    if kind == "no network":
        with socket.socket() as probe:  # a port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        yield f"http://127.0.0.1:{port}"
        return
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unauthorized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("no network", "W&B: cannot reach {url} (no network?); this run logs offline to runs/cifar-10/baseline/wandb"),
        ("key refused", "W&B: could not start an online run (AuthenticationError); this run logs offline to runs/cifar-10/baseline/wandb"),
    ],
)
def test_online_that_fails_logs_offline_after_one_line(cifar_dir, workdir, monkeypatch, capsys, kind, said,
                                                       loopback_only):
    """A W&B key but no network (a Kaggle notebook with the internet off; the server is a closed port on
    127.0.0.1), or a server that refuses the key: the fit does not wait for wandb's 90 s timeout or fail;
    one warning, then the run logs offline. Nothing connects anywhere but 127.0.0.1."""
    monkeypatch.setenv("HOME", str(workdir))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", SECRETS["WANDB_API_KEY"])
    with wandb_server(kind) as url:
        monkeypatch.setenv("WANDB_BASE_URL", url)
        assert main(["fit", "cifar-10", "--config", "debug", "--data-dir", str(cifar_dir), "--logger", "wandb"]) == 0
    err = capsys.readouterr().err
    run = workdir / "runs" / "cifar-10" / "baseline"
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {said.format(url=url)} (upload it later with `wandb sync`)"]
    assert json.loads((run / "wandb.json").read_text())["mode"] == "offline"
    assert len(read_runs(run / "wandb")) == 3  # fold0, fold1, cv: offline run files
    assert SECRETS["WANDB_API_KEY"] not in err
