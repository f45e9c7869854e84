"""classify-leaves: 176 leaf species, 224x224 JPEGs of train and test in one folder, accuracy.

Layout in shared/competitions.md: images/<n>.jpg, train.csv (image,label; image is a path relative
to the competition folder), test.csv (image), sample_submission.csv (image,label). The class list
is not published: it is read from train.csv (sorted), and saved with every checkpoint.
"""

from __future__ import annotations

from competitions.catalog.presets import CONFIG_ROOT
from competitions.core.metrics import ACCURACY
from competitions.core.spec import CompetitionSpec

CLASSIFY_LEAVES = CompetitionSpec(
    slug="classify-leaves",
    title="Classify Leaves",
    task="classification",
    metric=ACCURACY,
    expected_files=("images/", "train.csv", "test.csv", "sample_submission.csv"),
    train_csv="train.csv",
    id_column="image",
    target_column="label",
    sample_submission="sample_submission.csv",
    submission_kind="label",
    datamodule="datamodules.leaves:LeavesDataModule",
    model="lightning_modules.leaves:LeafClassifier",
    monitor="val/acc",
    monitor_mode="max",
    archives={"classify-leaves.zip": "unzip classify-leaves.zip first"},
    url="https://www.kaggle.com/c/classify-leaves",
    config_dir=CONFIG_ROOT / "classify-leaves",
)
