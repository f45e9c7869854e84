"""Every bad input ends with one line naming the file/row/path, a non-zero exit, and nothing overwritten."""

from __future__ import annotations

import re
import subprocess
import sys

import pandas as pd
import pytest

from competitions.commands.cli import main
from tests.helpers import error_line, fit


def assert_nothing_written(workdir):
    assert not (workdir / "runs" / "cifar-10" / "baseline").exists()


def test_missing_train_labels(cifar_dir, workdir, capsys):
    (cifar_dir / "trainLabels.csv").unlink()
    assert fit("cifar-10", cifar_dir) == 3
    line = error_line(capsys)
    assert "trainLabels.csv" in line and "is not a cifar-10 folder" in line
    assert_nothing_written(workdir)


def test_missing_image(cifar_dir, workdir, capsys):
    (cifar_dir / "train" / "5.png").unlink()
    assert fit("cifar-10", cifar_dir) == 3
    line = error_line(capsys)
    assert f"{cifar_dir / 'train' / '5.png'}" in line and "missing" in line
    assert_nothing_written(workdir)


def test_unreadable_image(cifar_dir, workdir, capsys):
    (cifar_dir / "train" / "7.png").write_bytes(b"not a png at all")
    assert fit("cifar-10", cifar_dir) == 3
    line = error_line(capsys)
    assert "7.png" in line and "cannot read image" in line
    assert_nothing_written(workdir)


def test_label_outside_the_ten_classes(cifar_dir, workdir, capsys):
    labels = pd.read_csv(cifar_dir / "trainLabels.csv", dtype=str)
    labels.loc[2, "label"] = "cow"
    labels.to_csv(cifar_dir / "trainLabels.csv", index=False)
    assert fit("cifar-10", cifar_dir) == 3
    line = error_line(capsys)
    assert "trainLabels.csv line 4" in line and "'cow'" in line
    assert_nothing_written(workdir)


def test_wrong_column_names(cifar_dir, workdir, capsys):
    labels = pd.read_csv(cifar_dir / "trainLabels.csv", dtype=str).rename(columns={"label": "class"})
    labels.to_csv(cifar_dir / "trainLabels.csv", index=False)
    assert fit("cifar-10", cifar_dir) == 3
    assert "missing column 'label'" in error_line(capsys)


def test_folder_that_is_not_cifar10(tmp_path, workdir, capsys):
    other = tmp_path / "leaves"
    (other / "images").mkdir(parents=True)
    (other / "train.csv").write_text("image,label\n")
    assert fit("cifar-10", other) == 3
    line = error_line(capsys)
    assert str(other) in line and "train/" in line and "sampleSubmission.csv" in line


def test_unextracted_download_gets_a_hint(tmp_path, workdir, capsys):
    raw = tmp_path / "cifar-10"
    raw.mkdir()
    (raw / "train.7z").write_bytes(b"7z")
    (raw / "trainLabels.csv").write_text("id,label\n")
    assert fit("cifar-10", raw) == 3
    assert "found train.7z: extract it" in error_line(capsys)


def test_data_dir_that_does_not_exist(tmp_path, workdir, capsys):
    assert fit("cifar-10", tmp_path / "nowhere") == 3
    assert "nowhere: no such folder" in error_line(capsys)


def test_existing_run_is_not_overwritten(cifar_dir, workdir, capsys):
    assert fit("cifar-10", cifar_dir, "--folds", "0") == 0
    run = workdir / "runs" / "cifar-10" / "baseline"
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert fit("cifar-10", cifar_dir, "--folds", "0") == 4
    line = error_line(capsys)
    assert "runs/cifar-10/baseline already exists" in line and "--resume" in line and "--experiment" in line
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_folds_file_with_other_k_is_refused(cifar_dir, workdir, capsys):
    assert fit("cifar-10", cifar_dir, "--folds", "0") == 0
    capsys.readouterr()
    assert fit("cifar-10", cifar_dir, "--experiment", "k3", "--n-folds", "3") == 3
    line = error_line(capsys)
    assert "folds.csv splits the data into 2 folds but 3 were asked for" in line


@pytest.mark.parametrize("folds", ["7", "zero"])
def test_bad_fold_selection(cifar_dir, workdir, capsys, folds):
    assert fit("cifar-10", cifar_dir, "--folds", folds) == 3
    assert "--folds" in error_line(capsys)


def test_unknown_competition_and_option(workdir, capsys):
    assert main(["fit", "no-such-comp"]) == 1
    assert "unknown competition 'no-such-comp'" in error_line(capsys)
    assert main(["fit", "cifar-10", "--model.no_such_option=1"]) == 2
    assert "no_such_option" in error_line(capsys)
    assert main(["fit", "cifar-10", "--config", "nonexistent-preset"]) == 1
    assert "not a cifar-10 preset (debug, default, demo, fast)" in error_line(capsys)


def test_predict_needs_a_run(workdir, capsys):
    assert main(["predict", "cifar-10", "--run", "runs/cifar-10/nothing"]) == 1
    assert "config.yaml: not found" in error_line(capsys)


def test_console_script_help_and_exit_codes(workdir):
    """The installed `compete` command itself: help for every verb, non-zero exit on a bad verb."""
    out = subprocess.run([sys.executable, "-m", "competitions", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "fit SLUG" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "competitions", "fit", "cifar-10", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    for option in (
        "--trainer.devices",
        "--trainer.strategy",
        "--model.lr",
        "--model.backbone",
        "--data.batch_size",
        "--folds",
        "--experiment",
        "--resume",
        "--model.scale_lr",
    ):
        assert option in out.stdout, option
    out = subprocess.run(
        [sys.executable, "-m", "competitions", "predict", "cifar-10", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "--run" in out.stdout
    out = subprocess.run([sys.executable, "-m", "competitions", "frobnicate"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown verb" in out.stderr


def test_fit_help_lists_the_common_options_and_help_all_lists_every_one(workdir, capsys):
    def help_text(*argv):  # in this process: the help as the command line prints it (argparse exits after it)
        try:
            code = main(list(argv))
        except SystemExit as done:
            code = done.code
        out = capsys.readouterr()
        assert code in (0, None), out.err
        return out.out

    short = help_text("fit", "cifar-10", "--help")
    for option in ("--trainer.devices", "--trainer.precision", "--trainer.accumulate_grad_batches",
                   "--trainer.gradient_clip_val", "--trainer.limit_train_batches", "--trainer.fast_dev_run",
                   "--trainer.deterministic", "--trainer.callbacks", "--help-all"):  # fmt: skip
        assert option in short, option
    assert "--trainer.barebones" not in short and "--trainer.detect_anomaly" not in short
    assert "--trainer.barebones" in help_text("fit", "cifar-10", "--help-all")
    assert "<function" not in short and "--logger {csv,wandb}" in short
    for slug in ("cifar-10", "classify-leaves", "house-prices-advanced-regression-techniques"):
        text = short if slug == "cifar-10" else help_text("fit", slug, "--help")
        lines = text.splitlines()
        options = [i for i, line in enumerate(lines) if line.startswith("  --data.")]
        assert len(options) >= 3, slug
        for i in options:
            same_line = re.split(r"\s{2,}", lines[i].strip(), maxsplit=1)
            description = same_line[1] if len(same_line) > 1 else lines[i + 1].strip()
            assert not description.startswith("(type:"), f"{slug}: {lines[i].strip()} has no description"
    show_help = help_text("show", "cifar-10", "--help")  # each verb lists its own options
    assert "--n N" in show_help and "--model.cutmix_alpha" in show_help and "--data.hflip" in show_help
    for option in ("--resume", "--experiment", "--trainer.devices", "--logger"):
        assert option not in show_help, option
    predict_help = help_text("predict", "cifar-10", "--help")
    assert "--checkpoint {best,last}" in predict_help and "<function" not in predict_help


def test_a_bad_config_value_says_what_is_allowed(cifar_dir, workdir, capsys):
    assert main(["fit", "cifar-10", "--data-dir", str(cifar_dir), "--trainer.precision=bf17"]) == 2
    line = error_line(capsys)
    assert line.startswith("error: --trainer.precision=bf17 is not a valid value; allowed:") and "bf16-mixed" in line
    assert main(["fit", "cifar-10", "--data-dir", str(cifar_dir), "--model.optimizer=adam"]) == 2
    assert error_line(capsys) == "error: --model.optimizer=adam is not a valid value; allowed: sgd, adamw"
