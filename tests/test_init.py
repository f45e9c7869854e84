"""`compete init` on competitions the catalog does not know, in their Kaggle layouts, then fit, predict, validate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from competitions.commands.cli import main
from tests.fixtures import digit_images
from tests.helpers import error_line

SPECIES = ["Black-grass", "Charlock", "Cleavers"]


def make_plant_seedlings(root: Path) -> Path:
    """plant-seedlings-classification: train/<species>/<hex>.png, test/<hex>.png, sample_submission.csv (file,species)."""
    data = root / "plant-seedlings-classification"
    images, digits = digit_images(42, seed=3)
    rng = np.random.default_rng(0)
    for i, (image, digit) in enumerate(zip(images[:30], digits[:30], strict=True)):
        folder = data / "train" / SPECIES[digit % 3]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{rng.integers(16**8):08x}{i}.png")
    (data / "test").mkdir(parents=True)
    names = [f"{rng.integers(16**8):08x}t{i}.png" for i in range(12)]
    for name, image in zip(names, images[30:], strict=True):
        Image.fromarray(image).save(data / "test" / name)
    placeholder = [SPECIES[i % 3] for i in range(12)]  # not what any model predicts for every image
    pd.DataFrame({"file": names, "species": placeholder}).to_csv(data / "sample_submission.csv", index=False)
    return data


def make_images_csv(root: Path) -> Path:
    """A labels CSV (image_id,label) with train_images/<id>.jpg, test ids in sample_submission.csv."""
    data = root / "shapes-of-digits"
    images, digits = digit_images(40, seed=5)
    for folder in ("train_images", "test_images"):
        (data / folder).mkdir(parents=True)
    for i, image in enumerate(images):
        folder = "train_images" if i < 28 else "test_images"
        Image.fromarray(image).save(data / folder / f"img_{i:03d}.jpg")
    labels = np.where(digits[:28] % 2 == 0, "even", "odd")
    pd.DataFrame({"image_id": [f"img_{i:03d}" for i in range(28)], "label": labels}).to_csv(data / "train.csv", index=False)
    pd.DataFrame({"image_id": [f"img_{i:03d}" for i in range(28, 40)], "label": ["even", "odd"] * 6}).to_csv(
        data / "sample_submission.csv", index=False)  # fmt: skip
    return data


def test_init_folder_per_class_then_fit_predict_validate(tmp_path, workdir, capsys):
    data = make_plant_seedlings(tmp_path)
    slug = "plant-seedlings-classification"
    assert main(["init", slug, "--data-dir", str(data)]) == 0
    spec = yaml.safe_load((workdir / "competitions.d" / f"{slug}.yaml").read_text())
    assert spec["shape"] == "images_by_folder" and spec["id_column"] == "file" and spec["metric"] == "FILL_ME"
    assert spec["test_images"] == "test/{id}" and spec["submission"] == "label"
    assert "FILL_ME" in capsys.readouterr().err
    # The metric is still to be chosen: fit refuses, naming the file and the field.
    assert main(["fit", slug, "--data-dir", str(data), "--config", "debug"]) == 1
    line = error_line(capsys)
    assert f"competitions.d/{slug}.yaml" in line and "metric" in line and "FILL_ME" in line
    assert not (workdir / "runs").exists()
    # Settled on the command line, written again.
    assert main(["init", slug, "--data-dir", str(data), "--metric", "f1_micro"]) == 4  # exists
    assert main(["init", slug, "--data-dir", str(data), "--metric", "f1_micro", "--force"]) == 0
    capsys.readouterr()
    assert main(["list"]) == 0
    assert slug in capsys.readouterr().out
    assert main(["fit", slug, "--data-dir", str(data), "--config", "debug"]) == 0
    run = workdir / "runs" / slug / "baseline"
    oof = pd.concat(pd.read_csv(p) for p in run.glob("fold*/oof.csv"))
    assert set(oof["species"]) == set(SPECIES) and len(oof) == 30
    assert main(["predict", slug, "--run", str(run)]) == 0
    submission = pd.read_csv(run / "submission.csv")
    assert list(submission.columns) == ["file", "species"] and set(submission["species"]) <= set(SPECIES)
    assert main(["validate", slug, str(run / "submission.csv"), "--data-dir", str(data)]) == 0


def test_init_labels_csv_and_a_spec_named_with_spec(tmp_path, workdir, capsys):
    data = make_images_csv(tmp_path)
    out = tmp_path / "specs" / "digits.yaml"
    assert main(["init", "shapes-of-digits", "--data-dir", str(data), "--metric", "accuracy", "--out", str(out)]) == 0
    spec = yaml.safe_load(out.read_text())
    assert spec["shape"] == "images_csv" and spec["train_csv"] == "train.csv" and spec["target_column"] == "label"
    assert spec["train_images"] == "train_images/{id}.jpg" and spec["test_images"] == "test_images/{id}.jpg"
    # Outside ./competitions.d the spec is named with --spec.
    assert main(["fit", "shapes-of-digits", "--data-dir", str(data), "--config", "debug"]) == 1
    assert "unknown competition 'shapes-of-digits'" in error_line(capsys)
    assert main(["fit", "shapes-of-digits", "--spec", str(out), "--data-dir", str(data), "--config", "fast",
                 "--n-folds=2", "--trainer.max_epochs=1", "--data.batch_size=8"]) == 0  # fmt: skip
    run = workdir / "runs" / "shapes-of-digits" / "baseline"
    assert main(["predict", "shapes-of-digits", "--spec", str(out), "--run", str(run)]) == 0
    submission = pd.read_csv(run / "submission.csv")
    assert list(submission["image_id"]) == [f"img_{i:03d}" for i in range(28, 40)]
    assert set(submission["label"]) <= {"even", "odd"}


def test_init_says_which_labels_csv_it_took_and_takes_another_with_labels(tmp_path, workdir, capsys):
    data = make_images_csv(tmp_path)
    train = pd.read_csv(data / "train.csv")
    train.assign(label=np.where(np.arange(len(train)) < 14, "low", "high")).to_csv(data / "labels.csv", index=False)
    capsys.readouterr()
    assert main(["init", "two-csvs", "--data-dir", str(data), "--metric", "accuracy"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {data}: labels.csv, train.csv all have the id column 'image_id'; took labels.csv (its "
                        "name starts with train or label); another one: compete init --labels NAME"]  # fmt: skip
    assert yaml.safe_load((workdir / "competitions.d" / "two-csvs.yaml").read_text())["train_csv"] == "labels.csv"
    assert main(["init", "two-csvs", "--data-dir", str(data), "--metric", "accuracy", "--labels", "train.csv",
                 "--force"]) == 0  # fmt: skip
    assert yaml.safe_load((workdir / "competitions.d" / "two-csvs.yaml").read_text())["train_csv"] == "train.csv"
    capsys.readouterr()
    assert main(["init", "two-csvs", "--data-dir", str(data), "--labels", "nope.csv", "--force"]) == 3
    assert error_line(capsys).endswith("nope.csv: not found; --labels names the CSV of training ids (image_id) and "
                                       f"labels in {data}")  # fmt: skip


def test_init_and_spec_file_errors_are_one_line(tmp_path, workdir, capsys):
    assert main(["init", "x", "--data-dir", str(tmp_path / "nowhere")]) == 3
    assert "no such folder" in error_line(capsys)
    (tmp_path / "tab").mkdir()
    pd.DataFrame({"PassengerId": [1, 2], "Survived": [0, 1]}).to_csv(tmp_path / "tab" / "gender_submission.csv", index=False)
    assert main(["init", "titanic", "--data-dir", str(tmp_path / "tab")]) == 3
    line = error_line(capsys)  # a sample submission alone: no images, no pixels, no train/test CSVs
    assert "gender_submission" not in line and "no train/test CSVs with its id column 'PassengerId'" in line
    assert main(["init", "cifar-10", "--data-dir", str(tmp_path)]) == 1
    assert "built in" in error_line(capsys)
    bad = workdir / "competitions.d" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text("slug: bad\nshape: spreadsheet\nid_column: id\nsample_submission: s.csv\n")
    # A broken spec file in competitions.d/ is named in one line and does not stop the other competitions.
    assert main(["list"]) == 0
    out, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "competitions.d/bad.yaml" in warnings[0] and "images_csv" in warnings[0]
    assert "broken spec file competitions.d/bad.yaml" in out and "shape" in out and "cifar-10" in out
    assert main(["fit", "bad", "--data-dir", str(tmp_path)]) == 1  # what that file would have been: its problem
    assert error_line(capsys).startswith("error: competitions.d/bad.yaml: the field shape is 'spreadsheet'; choose one")


def make_digit_recognizer(root: Path) -> Path:
    """digit-recognizer: train.csv (label,pixel0..pixel783), test.csv (pixel0..), sample_submission.csv (ImageId,Label)."""
    data = root / "digit-recognizer"
    data.mkdir(parents=True)
    images, digits = digit_images(52, seed=7)
    grey = np.stack([np.asarray(Image.fromarray(image).convert("L").resize((28, 28))) for image in images])
    pixels = grey.reshape(len(grey), -1)
    columns = [f"pixel{i}" for i in range(784)]
    train = pd.DataFrame(pixels[:40], columns=columns)
    train.insert(0, "label", digits[:40] % 3)
    train.to_csv(data / "train.csv", index=False)
    pd.DataFrame(pixels[40:], columns=columns).to_csv(data / "test.csv", index=False)
    pd.DataFrame({"ImageId": range(1, 13), "Label": [0, 1, 2] * 4}).to_csv(data / "sample_submission.csv", index=False)
    return data


def test_init_pixel_columns_then_fit_predict_validate(tmp_path, workdir, capsys):
    data = make_digit_recognizer(tmp_path)
    assert main(["init", "digit-recognizer", "--data-dir", str(data), "--metric", "accuracy"]) == 0
    spec = yaml.safe_load((workdir / "competitions.d" / "digit-recognizer.yaml").read_text())
    assert spec["shape"] == "pixels_csv" and spec["target_column"] == "label" and spec["test_csv"] == "test.csv"
    assert main(["fit", "digit-recognizer", "--data-dir", str(data), "--config", "debug"]) == 0
    run = workdir / "runs" / "digit-recognizer" / "baseline"
    assert main(["predict", "digit-recognizer", "--run", str(run)]) == 0
    submission = pd.read_csv(run / "submission.csv")
    assert list(submission.columns) == ["ImageId", "Label"] and list(submission["ImageId"]) == list(range(1, 13))
    assert set(submission["Label"]) <= {0, 1, 2}
    assert main(["validate", "digit-recognizer", str(run / "submission.csv"), "--data-dir", str(data)]) == 0
    # The cache holds the CSV's pixels as RGB images at the cache size.
    cache = np.load(next((workdir / "runs" / "digit-recognizer" / "cache").glob("*-train-*.npy")))
    assert cache.shape == (40, 40, 40, 3) and (cache[..., 0] == cache[..., 2]).all()
    capsys.readouterr()
    # A pixel value outside 0..255 is one line naming the file and line.
    text = (data / "test.csv").read_text().splitlines()
    text[3] = "300" + text[3][text[3].index(","):]
    (data / "test.csv").write_text("\n".join(text) + "\n")
    assert main(["predict", "digit-recognizer", "--run", str(run)]) == 3
    line = error_line(capsys)
    assert "test.csv line 4" in line and "0 to 255" in line


def make_multi_label(root: Path) -> Path:
    """A multi-label images_csv set (planet-amazon style): train_classes.csv (image_name,tags) with
    space-separated tag sets, train-jpg/<id>.jpg, test-jpg/<id>.jpg, sample_submission.csv (image_name,tags)."""
    data = root / "digit-tags"
    images, digits = digit_images(64, seed=11)
    for folder in ("train-jpg", "test-jpg"):
        (data / folder).mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(data / ("train-jpg" if i < 48 else "test-jpg") / f"d_{i}.jpg")

    def tags(digit: int) -> str:
        return " ".join(["even" if digit % 2 == 0 else "odd", *(["big"] if digit >= 5 else []),
                         *(["round"] if digit in (0, 6, 8, 9) else [])])  # fmt: skip

    pd.DataFrame({"image_name": [f"d_{i}" for i in range(48)], "tags": [tags(d) for d in digits[:48]]}).to_csv(
        data / "train_classes.csv", index=False)  # fmt: skip
    placeholder = ["odd", "even big round"] * 8  # not what an untrained model predicts for every image
    pd.DataFrame({"image_name": [f"d_{i}" for i in range(48, 64)], "tags": placeholder}).to_csv(
        data / "sample_submission.csv", index=False)  # fmt: skip
    return data


def test_init_multi_label_then_fit_predict_validate(tmp_path, workdir, capsys):
    data = make_multi_label(tmp_path)
    assert main(["init", "digit-tags", "--data-dir", str(data), "--metric", "mean_f1"]) == 0
    spec = yaml.safe_load((workdir / "competitions.d" / "digit-tags.yaml").read_text())
    assert spec["shape"] == "images_csv" and spec["submission"] == "labels" and spec["metric"] == "f1_samples"
    assert spec["train_csv"] == "train_classes.csv" and spec["train_images"] == "train-jpg/{id}.jpg"
    assert main(["fit", "digit-tags", "--data-dir", str(data), "--config", "debug", "--model.cutmix_alpha=1.0"]) == 0
    run = workdir / "runs" / "digit-tags" / "baseline"
    oof = pd.concat(pd.read_csv(p) for p in run.glob("fold*/oof.csv"))
    assert set(oof.columns) >= {"big", "even", "odd", "round", "prediction"} and len(oof) == 48
    # Sigmoid outputs: each class on its own (rows need not sum to one), every row names a label or more.
    assert not np.allclose(oof[["big", "even", "odd", "round"]].sum(axis=1), 1)
    assert oof["prediction"].str.split().str.len().min() >= 1
    cv = yaml.safe_load((run / "cv.json").read_text())
    assert cv["metric"] == "f1_samples" and 0 < cv["oof"] <= 1
    model = __import__("torch").load(run / "fold0" / "best.ckpt", weights_only=False)
    assert model["hyper_parameters"]["multi_label"] is True
    assert main(["predict", "digit-tags", "--run", str(run)]) == 0
    submission = pd.read_csv(run / "submission.csv")
    assert list(submission.columns) == ["image_name", "tags"]
    names = {n for text in submission["tags"] for n in text.split()}
    assert names <= {"big", "even", "odd", "round"}
    assert main(["validate", "digit-tags", str(run / "submission.csv"), "--data-dir", str(data)]) == 0
    bad = submission.assign(tags=["even purple"] + list(submission["tags"][1:]))
    bad.to_csv(tmp_path / "bad.csv", index=False)
    capsys.readouterr()
    assert main(["validate", "digit-tags", str(tmp_path / "bad.csv"), "--data-dir", str(data)]) != 0
    line = error_line(capsys)
    assert "'purple'" in line and "line 2" in line


def test_built_in_competitions_are_spec_files_and_a_user_spec_may_name_their_classes(cifar_dir, workdir, capsys):
    from competitions.catalog import COMPETITIONS
    from competitions.catalog.spec_files import BUILTIN_DIR

    # The five built-in competitions are read from spec files of the format compete init writes.
    assert sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml")) == sorted(COMPETITIONS)
    for slug, spec in COMPETITIONS.items():
        assert spec.source == str(BUILTIN_DIR / f"{slug}.yaml") and spec.config_dir.name == slug
    ames = COMPETITIONS["house-prices-advanced-regression-techniques"]
    assert set(ames.families) == {"mlp", "lightgbm", "catboost", "tabm", "ridge"} and ames.log_scale
    # A user's copy of a built-in spec runs as its own competition: the generic DataModule serves this
    # spec, not cifar-10's.
    text = yaml.safe_load((BUILTIN_DIR / "cifar-10.yaml").read_text())
    text.update(slug="my-cifar", title="My CIFAR")
    (workdir / "competitions.d").mkdir()
    (workdir / "competitions.d" / "my-cifar.yaml").write_text(yaml.safe_dump(text))
    assert main(["fit", "my-cifar", "--data-dir", str(cifar_dir), "--config", "debug"]) == 0
    run = workdir / "runs" / "my-cifar" / "baseline"
    assert (run / "cv.json").exists() and not (workdir / "runs" / "cifar-10").exists()
    assert main(["predict", "my-cifar", "--run", str(run)]) == 0
    assert main(["validate", "my-cifar", str(run / "submission.csv"), "--data-dir", str(cifar_dir)]) == 0


def test_show_draws_a_multi_label_grid_and_refuses_a_table(tmp_path, workdir, capsys):
    data = make_multi_label(tmp_path)
    assert main(["init", "digit-tags", "--data-dir", str(data), "--metric", "f1_samples"]) == 0
    out = tmp_path / "grid.png"
    assert main(["show", "digit-tags", "--data-dir", str(data), "--config", "debug", "--n", "8", "--out", str(out)]) == 0
    assert out.stat().st_size > 1000 and Image.open(out).size[0] > 100
    from tests.test_init_tabular import make_titanic

    titanic = make_titanic(tmp_path, n_train=40, n_test=10)
    assert main(["init", "titanic", "--data-dir", str(titanic), "--metric", "accuracy"]) == 0
    capsys.readouterr()
    assert main(["show", "titanic", "--data-dir", str(titanic)]) == 1
    assert "titanic is tabular" in error_line(capsys)
