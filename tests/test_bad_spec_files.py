"""Bad spec files and odd tables get one line, not a traceback: class names that do not exist, files
that are not text, misspelt keys, a target with one class."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from competitions.catalog.spec_files import BUILTIN_DIR
from competitions.commands.cli import main
from tests.helpers import error_line


def user_spec(workdir, name: str = "my-cifar", **changes) -> dict:
    """competitions.d/NAME.yaml: a copy of cifar-10's spec under another slug, with ``changes``."""
    spec = yaml.safe_load((BUILTIN_DIR / "cifar-10.yaml").read_text())
    spec.update(slug=name, title=name, **changes)
    (workdir / "competitions.d").mkdir(exist_ok=True)
    (workdir / "competitions.d" / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    return spec


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("datamodule", "datamodules.nope:X", "cannot import datamodules.nope"),
        ("datamodule", "datamodules.generic_images:NoSuchClass", "has no 'NoSuchClass'"),
        ("datamodule", "datamodules.generic_images:", 'is not "package.module:Class"'),
        ("datamodule", "lightning_modules.generic:ImageModel", "is not a DataModule of compete"),
        ("model", "lightning_modules.nope:Model", "cannot import lightning_modules.nope"),
        ("model", "lightning_modules.generic:", 'is not "package.module:Class"'),
    ],
)
def test_a_spec_naming_a_class_that_does_not_exist(cifar_dir, workdir, capsys, field, value, said):
    user_spec(workdir, **{field: value})
    assert main(["fit", "my-cifar", "--data-dir", str(cifar_dir), "--config", "debug"]) == 1
    line = error_line(capsys)
    assert "competitions.d/my-cifar.yaml" in line and f"the field {field} {value!r}" in line and said in line
    assert 'a valid value is "package.module:Class"' in line or "KFoldDataModule" in line
    assert not (workdir / "runs" / "my-cifar").exists()


def test_a_family_naming_a_class_that_does_not_exist(competition_dir, workdir, capsys):
    spec = yaml.safe_load((BUILTIN_DIR / "house-prices-advanced-regression-techniques.yaml").read_text())
    spec.update(slug="my-ames", presets=None)
    spec["families"]["lightgbm"] = "estimators.lightgbm:NoBooster"
    (workdir / "competitions.d").mkdir()
    (workdir / "competitions.d" / "my-ames.yaml").write_text(yaml.safe_dump({k: v for k, v in spec.items() if v}))
    data = competition_dir("house-prices-advanced-regression-techniques")
    assert main(["fit", "my-ames", "--data-dir", str(data), "--family", "lightgbm"]) == 1
    line = error_line(capsys)
    assert "my-ames.yaml: the field families.lightgbm 'estimators.lightgbm:NoBooster'" in line and "has no 'NoBooster'" in line


@pytest.mark.parametrize("content", [b"\x00\x01\xff\xfebinary\x00", "slug: x\n".encode("utf-16")])
def test_a_spec_file_that_is_not_text_is_named_and_does_not_stop_the_others(cifar_dir, workdir, capsys, content):
    (workdir / "competitions.d").mkdir()
    (workdir / "competitions.d" / "stray.yaml").write_bytes(content)
    assert main(["list"]) == 0
    out, err = capsys.readouterr()
    assert "broken spec file competitions.d/stray.yaml: not a text file" in out and "cifar-10" in out
    assert [line for line in err.splitlines() if line.startswith("warning:")] == [
        "warning: competitions.d/stray.yaml: not a text file (a spec is UTF-8 YAML); remove it or write it again "
        "(skipped: the other competitions work as they are)"]  # fmt: skip
    assert main(["fit", "cifar-10", "--data-dir", str(cifar_dir), "--config", "debug", "--n-folds=2",
                 "--trainer.max_epochs=1"]) == 0  # fmt: skip
    # Named with --spec, the same file is what was asked for: an error.
    assert main(["list", "--spec", str(workdir / "competitions.d" / "stray.yaml")]) == 1
    assert "not a text file" in error_line(capsys)


@pytest.mark.parametrize(("typo", "meant"), [("metirc", "metric"), ("log_targt", "log_target"), ("clases", "classes")])
def test_a_misspelt_key_is_refused_with_the_nearest_known_one(workdir, capsys, typo, meant):
    spec = user_spec(workdir)
    spec[typo] = spec.pop(meant, "accuracy")
    (workdir / "competitions.d" / "my-cifar.yaml").write_text(yaml.safe_dump(spec))
    assert main(["fit", "my-cifar", "--config", "debug", "--spec", str(workdir / "competitions.d" / "my-cifar.yaml")]) == 1
    assert error_line(capsys).endswith(f"my-cifar.yaml: unknown key {typo!r}; did you mean {meant!r}?")


def table_spec(slug: str, target: str) -> dict:
    """A classification table's spec written by hand (train.csv, test.csv, sample_submission.csv)."""
    return {"slug": slug, "shape": "tabular", "task": "classification", "metric": "accuracy",
            "sample_submission": "sample_submission.csv", "id_column": "id", "target_column": target,
            "submission": "label", "train_csv": "train.csv", "test_csv": "test.csv"}  # fmt: skip


def one_class_table(root):
    data = root / "one-class"
    data.mkdir()
    train = pd.DataFrame({"id": range(1, 41), "x": range(40), "label": ["yes"] * 40})
    train.to_csv(data / "train.csv", index=False)
    pd.DataFrame({"id": range(41, 51), "x": range(10)}).to_csv(data / "test.csv", index=False)
    pd.DataFrame({"id": range(41, 51), "label": ["yes"] * 10}).to_csv(data / "sample_submission.csv", index=False)
    return data


def test_a_table_whose_target_has_one_class(tmp_path, workdir, capsys):
    data = one_class_table(tmp_path)
    assert main(["init", "one-class", "--data-dir", str(data), "--metric", "accuracy", "--task", "classification"]) == 3
    line = error_line(capsys)
    assert "train.csv: label has one value ('yes') in every row; a classification needs at least two classes" in line
    assert not (workdir / "competitions.d" / "one-class.yaml").exists()
    # A spec written by hand: fit says the same in one line, for every family, before anything is written.
    spec = table_spec("one-class", "label")
    (workdir / "competitions.d").mkdir()
    (workdir / "competitions.d" / "one-class.yaml").write_text(yaml.safe_dump(spec))
    for family in ("mlp", "lightgbm", "linear"):
        assert main(["fit", "one-class", "--data-dir", str(data), "--family", family]) == 3
        assert "label has one value ('yes') in every row" in error_line(capsys)
    assert not (workdir / "runs" / "one-class" / "baseline").exists()


def test_a_target_with_a_class_per_row_is_refused_by_init_and_fit(tmp_path, workdir, capsys):
    """An id-like column taken as the label (LightGBM crashed on 10,000 classes): one line naming it."""
    data = tmp_path / "ids"
    data.mkdir()
    n = 400
    pd.DataFrame({"id": range(1, n + 1), "x": range(n), "code": [f"c{i:05d}" for i in range(n)]}).to_csv(
        data / "train.csv", index=False)  # fmt: skip
    pd.DataFrame({"id": range(n + 1, n + 11), "x": range(10)}).to_csv(data / "test.csv", index=False)
    pd.DataFrame({"id": range(n + 1, n + 11), "code": ["c00001"] * 10}).to_csv(data / "sample_submission.csv", index=False)
    assert main(["init", "ids", "--data-dir", str(data), "--metric", "accuracy", "--task", "classification"]) == 3
    line = error_line(capsys)
    assert line.endswith("train.csv: code has 400 distinct values in 400 rows (100%); a classification target repeats "
                         "(at most 50% distinct: max_class_share in the spec); an id or free-text column? name the "
                         "target with compete init --target NAME, or --task regression for a number")  # fmt: skip
    assert not (workdir / "competitions.d" / "ids.yaml").exists()
    spec = table_spec("ids", "code")
    (workdir / "competitions.d").mkdir()
    (workdir / "competitions.d" / "ids.yaml").write_text(yaml.safe_dump(spec))
    for family in ("mlp", "lightgbm"):
        assert main(["fit", "ids", "--data-dir", str(data), "--family", family]) == 3
        assert "code has 400 distinct values in 400 rows (100%)" in error_line(capsys)
    assert not (workdir / "runs" / "ids" / "baseline").exists()
    (workdir / "competitions.d" / "ids.yaml").write_text(yaml.safe_dump({**spec, "max_class_share": 7}))
    assert main(["fit", "ids", "--data-dir", str(data)]) == 1
    assert "the field max_class_share is 7; a number above 0 and at most 1 (1: no limit)" in error_line(capsys)
    (workdir / "competitions.d" / "ids.yaml").write_text(yaml.safe_dump({**spec, "runtime_limit_hours": "nine"}))
    assert main(["fit", "ids", "--data-dir", str(data)]) == 1
    assert "the field runtime_limit_hours is 'nine'; a number of hours above 0" in error_line(capsys)


def test_a_preset_of_another_family_is_named_in_its_error(competition_dir, workdir, capsys):
    data = competition_dir("house-prices-advanced-regression-techniques")
    code = main(["fit", "house-prices-advanced-regression-techniques", "--data-dir", str(data), "--config", "debug",
                 "--family", "lightgbm"])  # fmt: skip
    line = error_line(capsys)
    assert code == 2 and "debug.yaml:" in line and "'hidden'" in line
