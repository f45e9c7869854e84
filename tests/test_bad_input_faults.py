"""The rest of the hostile-user list: archives, empty and odd CSVs, folders that cannot be written,
missing and stale fold files, ensembles of the wrong runs, suspicious labels and paths, Ctrl-C."""

from __future__ import annotations

import shutil
import signal
import threading
import zipfile

import pandas as pd
import pytest

from competitions.commands.cli import main
from competitions.core.errors import DataError, SubmissionError
from submissions.archives import Limits, extract_7z, extract_zip
from tests.helpers import error_line, fit

AMES = "house-prices-advanced-regression-techniques"
LEAVES = "classify-leaves"




# ---- archives ------------------------------------------------------------------------------
def _zip(tmp_path, members: dict[str, bytes]):
    path = tmp_path / "download.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path):
    bomb = _zip(tmp_path, {"train.csv": b"0" * (8 << 20)})  # 8 MB of zeros pack to a few KB
    target = tmp_path / "out"
    with pytest.raises(DataError, match=r"download.zip: .* unpack to .*a zip bomb\? refusing"):
        extract_zip(bomb, target)
    assert not target.exists()
    names = extract_zip(bomb, target, Limits(max_ratio=1e9))  # a user who expects it raises the limit
    assert names == ["train.csv"] and (target / "train.csv").stat().st_size == 8 << 20


def test_member_count_and_size_limits(tmp_path):
    archive = _zip(tmp_path, {f"{i}.csv": b"x" for i in range(5)})
    with pytest.raises(DataError, match="5 members, more than the limit of 3"):
        extract_zip(archive, tmp_path / "a", Limits(max_members=3))
    with pytest.raises(DataError, match="more than the limit of 0.0 GiB"):
        extract_zip(archive, tmp_path / "b", Limits(max_bytes=1))


def test_not_a_zip_and_a_broken_7z_are_one_line(tmp_path):
    fake = tmp_path / "cifar-10.zip"
    fake.write_text("<html>Please log in</html>")
    with pytest.raises(DataError, match="cifar-10.zip: not a readable zip archive"):
        extract_zip(fake, tmp_path / "x")
    import py7zr

    good = tmp_path / "train.7z"
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "1.png").write_bytes(b"\x89PNG" + bytes(range(256)) * 64)
    with py7zr.SevenZipFile(good, "w") as seven:
        seven.writeall(tmp_path / "train", "train")
    broken = tmp_path / "broken.7z"
    broken.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(DataError, match="broken.7z: not a readable 7z archive"):
        extract_7z(broken, tmp_path / "y")


# ---- CSVs and folders ------------------------------------------------------------------------
def test_an_empty_and_a_header_only_label_file(cifar_dir, workdir, capsys):
    (cifar_dir / "trainLabels.csv").write_text("")
    assert fit("cifar-10", cifar_dir) == 3
    assert "trainLabels.csv: the file is empty (no header, no rows)" in error_line(capsys)
    (cifar_dir / "trainLabels.csv").write_text("id,label\n")
    assert fit("cifar-10", cifar_dir) == 3
    line = error_line(capsys)
    assert "trainLabels.csv: cannot split 0 training rows into 2 folds" in line


def test_infinity_in_a_numeric_column_is_a_missing_value(competition_dir, workdir, capsys):
    data = competition_dir(AMES)
    frame = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    frame.loc[3, "LotArea"] = "inf"
    frame.loc[5, "LotArea"] = "-inf"
    frame.to_csv(data / "train.csv", index=False)
    assert fit(AMES, data) == 0
    assert "train.csv: column 'LotArea' has 2 infinite values; read as missing" in capsys.readouterr().err


def test_a_numeric_code_column_reads_alike_with_and_without_blanks(competition_dir, workdir, capsys):
    """MSSubClass (categorical codes) with one blank in train.csv: pandas reads it as 60.0 there and 60 in
    test.csv; both must be the same category, or every test row would lose the feature."""
    from competitions.catalog import get_competition
    from competitions.pipeline.factory import build_datamodule
    from datamodules.features import MISSING

    data = competition_dir(AMES)
    frame = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    frame.loc[2, "MSSubClass"] = ""
    frame.to_csv(data / "train.csv", index=False)
    datamodule = build_datamodule(get_competition(AMES), data, categorical=["MSSubClass"])
    train, test = datamodule.typed
    assert train.loc[2, "MSSubClass"] == MISSING and "60" in set(train["MSSubClass"])
    assert set(test["MSSubClass"]) <= set(train["MSSubClass"])
    test_csv = pd.read_csv(data / "test.csv", dtype=str, keep_default_na=False)
    test_csv["Alley"] = ""
    test_csv.to_csv(data / "test.csv", index=False)
    assert fit(AMES, data) == 0
    assert "test.csv: column 'Alley' is empty in every row" in capsys.readouterr().err


def test_an_empty_test_folder_is_found_before_training(cifar_dir, workdir, capsys):
    for image in (cifar_dir / "test").iterdir():
        image.unlink()
    assert fit("cifar-10", cifar_dir) == 3
    line = error_line(capsys)
    assert "sampleSubmission.csv line 2: id '1' has no image file" in line and "more absent" in line
    assert not (workdir / "runs" / "cifar-10" / "baseline").exists()


def test_a_runs_folder_that_cannot_be_written_is_one_line_before_training(cifar_dir, workdir, capsys):
    (workdir / "blocked").write_text("a file where the runs folder should be")
    assert fit("cifar-10", cifar_dir, "--runs-dir", str(workdir / "blocked")) == 1
    assert "cannot write there" in error_line(capsys)


def test_a_file_that_cannot_be_read_or_written_is_named_in_one_line(workdir, capsys, competition_dir):
    data = competition_dir(AMES)
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str)
    sample["SalePrice"] = "123456.5"
    sample.to_csv(workdir / "submission.csv", index=False)
    (workdir / "runs" / AMES / "ledger.jsonl").mkdir(parents=True)  # where a file should be
    assert main(["submit", AMES, str(workdir / "submission.csv"), "-m", "x", "--data-dir", str(data), "--dry-run"]) == 1
    assert error_line(capsys).endswith("runs/house-prices-advanced-regression-techniques/ledger.jsonl: Is a directory")


def test_predict_refuses_a_run_it_cannot_write_and_a_missing_fold(cifar_dir, workdir, capsys):
    assert fit("cifar-10", cifar_dir) == 0
    run = workdir / "runs" / "cifar-10" / "baseline"
    (run / "fold1" / "best.ckpt").unlink()
    capsys.readouterr()
    assert main(["predict", "cifar-10", "--run", str(run)]) == 1
    line = error_line(capsys)
    assert "fold1/best.ckpt: not found" in line and "set --folds to 0" in line
    assert not (run / "submission.csv").exists()
    assert main(["predict", "cifar-10", "--run", str(run), "--folds", "0"]) == 0  # named: a subset is fine
    shutil.rmtree(run / "test")
    (run / "test").write_text("not a folder")
    capsys.readouterr()
    assert main(["predict", "cifar-10", "--run", str(run), "--folds", "0"]) == 1
    assert "test: cannot write the predictions there" in error_line(capsys)


def test_ensemble_reads_only_the_folds_that_made_the_submission(cifar_dir, workdir, capsys):
    from competitions.catalog import COMPETITIONS, get_competition
    CIFAR10_CLASSES = COMPETITIONS["cifar-10"].classes
    from competitions.pipeline.ensemble import member_predictions

    assert fit("cifar-10", cifar_dir) == 0
    run = workdir / "runs" / "cifar-10" / "baseline"
    assert main(["predict", "cifar-10", "--run", str(run)]) == 0
    assert main(["predict", "cifar-10", "--run", str(run), "--folds", "0"]) == 0  # test/fold1.csv is now stale
    _, test = member_predictions(get_competition("cifar-10"), run, CIFAR10_CLASSES)
    fold0 = pd.read_csv(run / "test" / "fold0.csv", dtype={"id": str})
    pd.testing.assert_frame_equal(test.reset_index(drop=True), fold0, check_exact=False, rtol=1e-6)


def test_ensemble_of_the_same_run_twice_or_of_another_competition(cifar_dir, competition_dir, workdir, capsys):
    assert fit("cifar-10", cifar_dir) == 0
    run = workdir / "runs" / "cifar-10" / "baseline"
    capsys.readouterr()
    assert main(["ensemble", "cifar-10", str(run), f"{run}/"]) == 1
    assert "named twice" in error_line(capsys)
    leaves = competition_dir(LEAVES)
    assert fit(LEAVES, leaves) == 0
    capsys.readouterr()
    assert main(["ensemble", "cifar-10", str(run), str(workdir / "runs" / LEAVES / "baseline")]) == 1
    assert "a run of 'classify-leaves', not of cifar-10" in error_line(capsys)


def test_labels_with_spaces_are_named_and_paths_must_stay_inside(competition_dir, workdir, capsys):
    data = competition_dir(LEAVES)
    frame = pd.read_csv(data / "train.csv", dtype=str)
    frame.loc[4, "label"] = frame.loc[4, "label"] + " "
    frame.to_csv(data / "train.csv", index=False)
    assert fit(LEAVES, data) == 0
    err = capsys.readouterr().err
    assert "train.csv line 6: label" in err and "has leading or trailing spaces" in err
    frame.loc[2, "image"] = "../../outside.jpg"
    frame.to_csv(data / "train.csv", index=False)
    assert fit(LEAVES, data, "--experiment", "outside") == 3
    line = error_line(capsys)
    assert "train.csv line 4: image '../../outside.jpg' points outside the competition folder" in line


def test_a_prediction_identical_to_the_sample_is_not_written(tmp_path):
    from competitions.catalog import COMPETITIONS
    CIFAR10 = COMPETITIONS["cifar-10"]
    CIFAR10_CLASSES = COMPETITIONS["cifar-10"].classes
    from submissions.submission_file import write_submission

    sample = pd.DataFrame({"id": ["1", "2"], "label": ["cat", "cat"]})
    probs = pd.DataFrame([[1.0 if c == "cat" else 0.0 for c in CIFAR10_CLASSES]] * 2, columns=list(CIFAR10_CLASSES))
    probs.insert(0, "id", ["1", "2"])
    target = tmp_path / "submission.csv"
    with pytest.raises(SubmissionError, match="the predictions: identical to the sample submission .*submission.csv was not written"):
        write_submission(CIFAR10, probs, sample, target, CIFAR10_CLASSES)
    assert not target.exists()


# ---- Ctrl-C ----------------------------------------------------------------------------------
def test_ctrl_c_in_fit_says_resume_continues(cifar_dir, workdir, capsys):
    code = fit("cifar-10", cifar_dir, "--trainer.max_epochs=3", "--trainer.callbacks+=tests.fixtures.CtrlCAfterFirstEpoch")
    assert code == 130
    err = capsys.readouterr().err
    assert "interrupted: finished folds and files are intact; continue with --resume" in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Lightning's SIG_IGN undone
    import yaml

    config = yaml.safe_load((workdir / "runs" / "cifar-10" / "baseline" / "config.yaml").read_text())
    assert config["history"][-1]["status"] == "interrupted"


def test_ctrl_c_in_submit_says_the_rerun_reconciles(workdir, capsys, monkeypatch, tmp_path):
    from tests.fake_kaggle import FakeKaggle, client_environment, serve
    from tests.fixtures_tabular import make_ames

    data = make_ames(tmp_path / "data", n_train=60, n_test=20)
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str)
    sample["SalePrice"] = "123456.5"
    path = workdir / "submission.csv"
    sample.to_csv(path, index=False)
    home = tmp_path / "home"
    (home / ".kaggle").mkdir(parents=True)
    (home / ".kaggle" / "kaggle.json").write_text('{"username": "tester", "key": "test-key"}')
    (home / ".kaggle" / "kaggle.json").chmod(0o600)
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with serve(FakeKaggle(hang={"ListSubmissions": 5})) as fake:
        for key, value in client_environment(fake.port, str(home)).items():
            monkeypatch.setenv(key, value)
        # The client imported (and authenticated) first: on a slow machine its first import can outlast the
        # timer, and a Ctrl-C inside an import leaves half-imported modules for every later test.
        import kaggle.api.kaggle_api_extended  # noqa: F401

        timer = threading.Timer(1.5, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
        timer.start()
        code = main(["submit", AMES, str(path), "-m", "x", "--data-dir", str(data)])
        timer.join()
    assert code == 130
    assert "it looks for the file in Kaggle's list first" in capsys.readouterr().err
