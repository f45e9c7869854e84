"""`compete download / submit / submissions` with the real `kaggle` client against a fake Kaggle on
127.0.0.1 (tests/fake_kaggle.py). HOME and KAGGLE_CONFIG_DIR live in a temp dir; every socket the
process opens is checked to be loopback."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from competitions.commands.cli import main
from tests.fake_kaggle import client_environment

AMES = "house-prices-advanced-regression-techniques"
KEY = "test-key"


@pytest.fixture
def ames_submission(competition_dir, workdir):
    """A valid Ames submission inside a run directory (config.yaml + cv.json), as `compete predict` leaves it."""
    data = competition_dir(AMES)
    run = workdir / "runs" / AMES / "mlp"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"data_dir: {data}\n")
    cv = {"metric": "rmse_log", "mean": 0.1234, "std": 0.0042, "oof": 0.1236}
    (run / "cv.json").write_text(json.dumps(cv))
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str)
    sample["SalePrice"] = [f"{150000 + 10 * i}.5" for i in range(len(sample))]
    sample.to_csv(run / "submission.csv", index=False)
    return run / "submission.csv"


def submit(path, *extra: str) -> int:
    return main(["submit", AMES, str(path), "-m", "mlp 5-fold", "--poll", "0.01", "--timeout", "5", *extra])


def ledger(workdir) -> list[dict]:
    return [json.loads(line) for line in (workdir / "runs" / AMES / "ledger.jsonl").read_text().splitlines()]


def test_the_client_reads_the_credentials_folder_named_now_not_at_its_import(kaggle_home, ames_submission, workdir,
                                                                            monkeypatch):  # fmt: skip
    """The client fixes its config folder when it is first imported: a notebook that imported it, then set
    KAGGLE_CONFIG_DIR (or a folder since removed), still submits with the credentials named now."""
    from kaggle.api.kaggle_api_extended import KaggleApi

    monkeypatch.setattr(KaggleApi, "config_dir", str(workdir / "gone"))
    monkeypatch.setattr(KaggleApi, "config", str(workdir / "gone" / "kaggle.json"))
    assert submit(ames_submission) == 0
    assert ledger(workdir)[0]["status"] == "COMPLETE"


def test_submit_uploads_the_exact_bytes_and_records_the_score(kaggle_home, ames_submission, workdir, capsys):
    fake, _ = kaggle_home
    assert submit(ames_submission) == 0
    out, err = capsys.readouterr()
    assert list(fake.uploads.values()) == [ames_submission.read_bytes()]
    assert "public score 0.91234" in out and "CV rmse_log 0.1234 ± 0.0042 (pooled OOF 0.1236)" in out
    [entry] = ledger(workdir)
    assert entry["status"] == "COMPLETE" and entry["public_score"] == "0.91234" and entry["ref"] == 1000
    assert entry["experiment"] == "mlp" and entry["cv"]["mean"] == 0.1234 and entry["message"] == "mlp 5-fold"
    import hashlib

    assert entry["sha256"] == hashlib.sha256(ames_submission.read_bytes()).hexdigest()
    # Everything went to the fake, through the proxy, to the local API name; the key never shows.
    assert {r.host for r in fake.requests} == {"localhost"}
    assert [r.path.rsplit("/", 1)[-1] for r in fake.requests if r.method == "POST"][:4] == [
        "ListSubmissions",  # reconcile first: is this file (its tag) already on Kaggle?
        "GetSubmissionLimits",
        "StartSubmissionUpload",
        "CreateSubmission",
    ]
    assert fake.submissions[0]["description"] == f"mlp 5-fold [compete {entry['sha256'][:12]}]"
    assert KEY not in out + err + (workdir / "runs" / AMES / "ledger.jsonl").read_text()


def test_the_same_file_is_not_uploaded_twice_by_accident(kaggle_home, ames_submission, workdir, capsys):
    fake, _ = kaggle_home
    assert submit(ames_submission) == 0
    capsys.readouterr()
    assert submit(ames_submission) == 1
    assert "already submitted" in capsys.readouterr().err and len(fake.uploads) == 1
    assert submit(ames_submission, "--again") == 0
    assert len(fake.uploads) == 2 and [e["status"] for e in ledger(workdir)] == ["COMPLETE", "COMPLETE"]


@pytest.mark.parametrize(
    ("method", "status", "expected"),
    [
        ("GetSubmissionLimits", 403, "accept the competition rules at https://www.kaggle.com/c/" + AMES + "/rules"),
        ("GetSubmissionLimits", 404, f"no competition '{AMES}' visible to you (404)"),
        ("CreateSubmission", 429, "limit was reached (429)"),
        ("StartSubmissionUpload", 500, "server failed (500)"),
        ("StartSubmissionUpload", 503, "server failed (503)"),
    ],
)
def test_kaggle_errors_end_with_one_line_and_are_recorded(
    kaggle_home, ames_submission, workdir, capsys, method, status, expected
):
    fake, _ = kaggle_home
    fake.errors[method] = (status, f"fake {status}")
    assert submit(ames_submission) == 6
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], err
    assert "Traceback" not in err and not fake.submissions
    [entry] = ledger(workdir)
    assert entry["status"] == "error" and expected in entry["error"]


def test_wrong_key_is_a_401(kaggle_home, ames_submission, workdir, capsys):
    fake, _ = kaggle_home
    fake.valid_keys = {"another-key"}
    assert submit(ames_submission) == 6
    err = capsys.readouterr().err
    assert "refused the credentials (401)" in err and KEY not in err
    assert ledger(workdir)[0]["status"] == "error"


def test_no_credentials(kaggle_home, ames_submission, workdir, capsys):
    fake, home = kaggle_home
    (home / ".kaggle" / "kaggle.json").unlink()
    assert submit(ames_submission) == 6
    assert "no Kaggle credentials" in capsys.readouterr().err
    assert fake.requests == []


def test_connection_refused(kaggle_home, ames_submission, workdir, capsys, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for key, value in client_environment(port, os.environ["HOME"]).items():
        monkeypatch.setenv(key, value)
    assert submit(ames_submission) == 6
    assert "cannot reach Kaggle" in capsys.readouterr().err
    assert ledger(workdir)[0]["status"] == "error"


def test_no_submissions_left_today(kaggle_home, ames_submission, workdir, capsys):
    fake, _ = kaggle_home
    fake.used_today = fake.allowed_per_day
    assert submit(ames_submission) == 6
    assert "no submissions left today" in capsys.readouterr().err
    assert not fake.uploads and ledger(workdir)[0]["status"] == "error"


def test_a_submission_kaggle_cannot_score(kaggle_home, ames_submission, workdir, capsys):
    fake, _ = kaggle_home
    fake.final_status, fake.error_description = "ERROR", "Submission must have 1459 rows"
    assert submit(ames_submission) == 6
    assert "Submission must have 1459 rows" in capsys.readouterr().err
    assert ledger(workdir)[0]["status"] == "ERROR"


def test_dry_run_and_invalid_files_send_nothing(kaggle_home, ames_submission, workdir, capsys):
    fake, _ = kaggle_home
    assert submit(ames_submission, "--dry-run") == 0
    assert "dry run: valid" in capsys.readouterr().out
    sample = ames_submission.parents[3] / "data" / AMES / "sample_submission.csv"
    assert main(["submit", AMES, str(sample), "-m", "oops", "--data-dir", str(sample.parent)]) == 5
    assert "identical to the sample submission" in capsys.readouterr().err
    assert fake.requests == [] and not (workdir / "runs" / AMES / "ledger.jsonl").exists()


def test_a_file_of_another_competitions_run_is_refused_before_any_request(kaggle_home, ames_submission, workdir, capsys):
    """Ames' file named for california-house-prices: refused (also --dry-run, also validate), nothing sent."""
    fake, _ = kaggle_home
    other = "california-house-prices"
    for extra in ([], ["--dry-run"]):
        assert main(["submit", other, str(ames_submission), "-m", "x", "--poll", "0.01", *extra]) == 5
        line = capsys.readouterr().err.strip()
        assert line == (f"error: {ames_submission}: made by a run of {AMES} ({ames_submission.parent}), not of {other}; "
                        f"submit it with `compete submit {AMES} ...`, or a file of a {other} run")  # fmt: skip
    assert main(["validate", other, str(ames_submission)]) == 5
    # A run copied into another competition's folder still says what it was made for (config.yaml's meta).
    copied = workdir / "runs" / other / "copied"
    copied.mkdir(parents=True)
    (copied / "config.yaml").write_text(f"{ames_submission.parent.joinpath('config.yaml').read_text()}meta:\n  competition: {AMES}\n")
    (copied / "submission.csv").write_bytes(ames_submission.read_bytes())
    assert main(["submit", other, str(copied / "submission.csv"), "-m", "x"]) == 5
    assert f"made by a run of {AMES}" in capsys.readouterr().err
    assert fake.requests == [] and not (workdir / "runs" / other / "ledger.jsonl").exists()


def test_submissions_joins_the_ledger_with_kaggles_list(kaggle_home, ames_submission, workdir, capsys):
    fake, _ = kaggle_home
    fake.polls_until_complete = 99  # still pending when submit stops waiting
    assert main(["submit", AMES, str(ames_submission), "-m", "mlp", "--poll", "0.01", "--timeout", "0.05"]) == 0
    assert ledger(workdir)[0]["status"] == "PENDING"
    fake.polls_until_complete = 0
    fake.submissions.append({**fake.submissions[0], "ref": 777, "description": "from the website"})
    fake._polls[777] = 0
    capsys.readouterr()
    assert main(["submissions", AMES]) == 0
    out = capsys.readouterr().out
    assert "1000" in out and "0.91234" in out and "(not in ledger)" in out and "777" in out
    assert ledger(workdir)[0]["status"] == "COMPLETE"  # the score learnt now is written back


def test_ledger_survives_a_crash_mid_upload(kaggle_home, ames_submission, workdir):
    """Kill -9 the submitting process while its upload hangs: the ledger is whole, the attempt is
    marked uploading, and the next submit of that file looks for it on Kaggle before uploading: the
    killed upload never arrived, so it uploads once, and the killed attempt is marked not-submitted."""
    fake, home = kaggle_home
    fake.upload_delay = 30
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-m", "competitions", "submit", AMES, str(ames_submission), "-m", "crash"]
    process = subprocess.Popen(command, env=env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(r.method == "PUT" for r in fake.requests):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    [entry] = ledger(workdir)
    assert entry["status"] == "uploading" and entry["message"] == "crash"
    fake.upload_delay = 0
    assert submit(ames_submission) == 0
    assert len(fake.submissions) == 1
    assert [e["status"] for e in ledger(workdir)] == ["not-submitted", "COMPLETE"]
    assert submit(ames_submission) == 1 and len(fake.submissions) == 1  # and never twice


def _cifar_zip() -> bytes:
    """cifar-10.zip as Kaggle ships it: train.7z, test.7z, trainLabels.csv, sampleSubmission.csv."""
    import py7zr

    from tests.fixtures import make_cifar10

    root = Path(os.environ["HOME"]) / "build"
    data = make_cifar10(root, n_train=6, n_test=3)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for folder in ("train", "test"):
            target = root / f"{folder}.7z"
            with py7zr.SevenZipFile(target, "w") as seven:
                seven.writeall(data / folder, folder)
            archive.write(target, f"{folder}.7z")
        for name in ("trainLabels.csv", "sampleSubmission.csv"):
            archive.write(data / name, name)
    return buffer.getvalue()


def test_download_unzips_extracts_7z_and_is_idempotent(kaggle_home, workdir, capsys):
    fake, _ = kaggle_home
    fake.files["cifar-10"] = _cifar_zip()
    target = workdir / "data" / "cifar-10"
    assert main(["download", "cifar-10", "--data-dir", str(target)]) == 0
    assert sorted(p.name for p in target.iterdir()) == ["sampleSubmission.csv", "test", "train", "trainLabels.csv"]
    assert sorted(p.name for p in (target / "train").iterdir()) == [f"{i}.png" for i in range(1, 7)]
    assert len(list((target / "test").iterdir())) == 3
    requests_before = len(fake.requests)
    capsys.readouterr()
    assert main(["download", "cifar-10", "--data-dir", str(target)]) == 0
    assert "already complete" in capsys.readouterr().out and len(fake.requests) == requests_before


def test_download_of_an_unknown_competition_is_a_404(kaggle_home, workdir, capsys):
    assert main(["download", AMES, "--data-dir", str(workdir / "data" / AMES)]) == 6
    assert "(404)" in capsys.readouterr().err


def test_validate_command(ames_submission, capsys):
    assert main(["validate", AMES, str(ames_submission)]) == 0
    assert "valid" in capsys.readouterr().out
    frame = pd.read_csv(ames_submission, dtype=str)
    frame.loc[3, "SalePrice"] = "-1"
    frame.to_csv(ames_submission, index=False)
    assert main(["validate", AMES, str(ames_submission)]) == 5
    assert "non-positive predictions at line 5" in capsys.readouterr().err


def test_public_score_reaches_the_experiments_wandb_runs(kaggle_home, cifar_dir, workdir, monkeypatch):
    from tests.wandb_records import read_runs

    monkeypatch.setenv("WANDB_MODE", "offline")
    args = ["fit", "cifar-10", "--config", "debug", "--data-dir", str(cifar_dir), "--logger", "wandb"]
    assert main(args) == 0
    run = workdir / "runs" / "cifar-10" / "baseline"
    assert main(["predict", "cifar-10", "--run", str(run)]) == 0
    argv = ["submit", "cifar-10", str(run / "submission.csv"), "-m", "tracked", "--poll", "0.01", "--timeout", "5"]
    assert main(argv) == 0
    state = json.loads((run / "wandb.json").read_text())
    runs = read_runs(run / "wandb")
    for run_id in [state["cv"], *state["folds"].values()]:
        assert runs[run_id]["summary"]["public_score"] == pytest.approx(0.91234)


def test_python_api_submit_submissions_and_download(kaggle_home, ames_submission, workdir):
    from competitions import download, submissions, submit

    fake, _ = kaggle_home
    entry = submit(AMES, ames_submission, "from python", poll=0.01, timeout=5)
    assert entry["status"] == "COMPLETE" and entry["public_score"] == "0.91234" and entry["ref"] == 1000
    table = submissions(AMES)
    assert isinstance(table, pd.DataFrame) and table.loc[0, "message"] == "from python"
    assert table.loc[0, "public_score"] == "0.91234" and list(fake.uploads.values()) == [ames_submission.read_bytes()]
    fake.files["cifar-10"] = _cifar_zip()
    target = download("cifar-10", data_dir=workdir / "data" / "cifar-10")
    assert target == workdir / "data" / "cifar-10" and (target / "trainLabels.csv").exists()
    from competitions import KaggleError

    with pytest.raises(KaggleError, match="404"):
        download(AMES, data_dir=workdir / "elsewhere" / AMES)  # not on the fake: a 404



@pytest.mark.parametrize("failure", [500, "drop"])
def test_a_lost_reply_is_unknown_and_the_rerun_finds_it_instead_of_uploading_again(
    kaggle_home, ames_submission, workdir, capsys, failure
):
    """Kaggle stores the submission, then answers 500 or drops the connection."""
    fake, _ = kaggle_home
    fake.fail_after["CreateSubmission"] = failure
    assert submit(ames_submission) == 6
    err = capsys.readouterr().err
    assert "Kaggle may have stored the submission anyway" in err and "run the same command again" in err
    assert len(fake.submissions) == 1  # it did arrive
    [entry] = ledger(workdir)
    assert entry["status"] == "unknown" and entry["ref"] is None
    assert submit(ames_submission) == 0  # reconciles: found by its tag, nothing uploaded
    assert len(fake.submissions) == 1 and len(fake.uploads) == 1
    out, err = capsys.readouterr()
    assert "already on Kaggle as ref 1000" in err and "public score 0.91234" in out
    [entry] = ledger(workdir)  # the lost attempt itself is settled, not a second line
    assert entry["status"] == "COMPLETE" and entry["ref"] == 1000 and entry["reconciled"] is True
    assert submit(ames_submission) == 1 and "already submitted" in capsys.readouterr().err


def test_a_server_that_never_answers_ends_in_one_line_within_the_timeout(
    kaggle_home, ames_submission, workdir, capsys, monkeypatch
):
    fake, _ = kaggle_home
    monkeypatch.setenv("COMPETE_KAGGLE_TIMEOUT", "1")
    monkeypatch.setenv("COMPETE_KAGGLE_BACKOFF", "0.05")
    fake.hang["ListSubmissions"] = 30
    started = time.monotonic()
    assert submit(ames_submission) == 6
    assert time.monotonic() - started < 15  # 3 tries of a 1 s timeout, not 30 s, not forever
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert lines == ["error: listing submissions: Kaggle did not answer in time; try again later"]
    assert not fake.uploads and ledger(workdir)[0]["status"] == "error"
    assert sum(r.path.endswith("ListSubmissions") for r in fake.requests) == 3  # bounded retries


def test_reads_are_retried_and_the_upload_is_not(kaggle_home, ames_submission, workdir, capsys, monkeypatch):
    fake, _ = kaggle_home
    monkeypatch.setenv("COMPETE_KAGGLE_BACKOFF", "0.05")
    fake.errors["GetSubmissionLimits"] = (503, "busy")  # once: the retry succeeds
    assert submit(ames_submission) == 0 and len(fake.submissions) == 1
    assert sum(r.path.endswith("GetSubmissionLimits") for r in fake.requests) == 2
    fake.errors["StartSubmissionUpload"] = (503, "busy")
    other = ames_submission.with_name("other.csv")
    frame = pd.read_csv(ames_submission)
    frame["SalePrice"] += 1
    frame.to_csv(other, index=False)
    assert submit(other) == 6  # not retried: a submission is never sent twice by the client
    assert len(fake.submissions) == 1 and ledger(workdir)[-1]["status"] == "error"


def test_a_second_submit_of_the_competition_waits_its_turn(kaggle_home, ames_submission, workdir, capsys):
    from filelock import FileLock

    lock = FileLock(str(workdir / "runs" / AMES / "ledger.jsonl.submit.lock"))
    (workdir / "runs" / AMES).mkdir(parents=True, exist_ok=True)
    with lock:
        assert submit(ames_submission) == 1
    assert "another compete submit of this competition is running" in capsys.readouterr().err
    fake, _ = kaggle_home
    assert not fake.uploads


def test_a_kaggle_key_others_can_read_is_named(kaggle_home, ames_submission, workdir, capsys):
    _, home = kaggle_home
    (home / ".kaggle" / "kaggle.json").chmod(0o644)
    assert submit(ames_submission) == 0
    err = capsys.readouterr().err
    assert "kaggle.json is readable by other users" in err and "chmod 600" in err and KEY not in err
