"""cifar-10: 32x32 RGB PNGs, ten classes, accuracy. Layout in shared/competitions.md."""

from __future__ import annotations

from competitions.catalog.presets import CONFIG_ROOT
from competitions.core.metrics import ACCURACY
from competitions.core.spec import CompetitionSpec

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

CIFAR10 = CompetitionSpec(
    slug="cifar-10",
    title="CIFAR-10 - Object Recognition in Images",
    task="classification",
    metric=ACCURACY,
    expected_files=("train/", "test/", "trainLabels.csv", "sampleSubmission.csv"),
    train_csv="trainLabels.csv",
    id_column="id",
    target_column="label",
    sample_submission="sampleSubmission.csv",
    submission_kind="label",
    datamodule="datamodules.cifar10:Cifar10DataModule",
    model="lightning_modules.cifar10:Cifar10Classifier",
    monitor="val/acc",
    monitor_mode="max",
    classes=CIFAR10_CLASSES,
    archives={
        "cifar-10.zip": "unzip cifar-10.zip first",
        "train.7z": "extract it: py7zr x train.7z (or 7z x train.7z)",
        "test.7z": "extract it: py7zr x test.7z (or 7z x test.7z)",
    },
    url="https://www.kaggle.com/c/cifar-10",
    config_dir=CONFIG_ROOT / "cifar-10",
)
