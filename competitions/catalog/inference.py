"""`compete init`: read a downloaded competition folder and propose its spec file.

From the sample submission: the id column and what is predicted (one label column, or one column per
class: probabilities). From the folders: training images in one folder per class (plant-seedlings
style), or a labels CSV whose ids name image files (cifar-10 / leaves style), and the file pattern of
an id's image; or pixel columns (digit-recognizer style); or a table: a training CSV and a test CSV
holding the sample's id column, the target being the column the test CSV lacks (its values tell a
classification from a regression). What the files cannot tell (the metric; the label column when the
sample has several candidates) is left as FILL_ME, and `compete fit` refuses the spec until it is set.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from competitions.catalog.spec_files import PLACEHOLDER
from competitions.core.console import warn
from competitions.core.errors import CompeteError, DataError
from competitions.core.metrics import get_metric
from competitions.core.spec import check_class_count
from datamodules.generic_images import IMAGE_SUFFIXES, pixel_columns


def read_header(path: Path, rows: int = 50) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, nrows=rows)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV ({err.__class__.__name__})") from None


def find_sample_submission(data_dir: Path) -> Path:
    candidates = sorted(p for p in data_dir.glob("*.csv") if "sample" in p.name.lower() or "submission" in p.name.lower())
    if not candidates:
        raise DataError(f"{data_dir}: no sample submission CSV (a file named like sample_submission.csv); "
                        "is this the unzipped competition folder?")  # fmt: skip
    return candidates[0]


def image_pattern(data_dir: Path, image_id: str) -> str | None:
    """Where the image of ``image_id`` is, as a pattern ("train/{id}.png"); None when no folder has it."""
    folders = [Path(".")] + sorted(p.relative_to(data_dir) for p in data_dir.iterdir() if p.is_dir())
    for folder in folders:
        for suffix in ("", *IMAGE_SUFFIXES):
            if (data_dir / folder / f"{image_id}{suffix}").is_file():
                prefix = "" if folder == Path(".") else f"{folder.as_posix()}/"
                return f"{prefix}{{id}}{suffix}"
    return None


def class_folders(data_dir: Path) -> list[str]:
    train = data_dir / "train"
    if not train.is_dir():
        return []
    return sorted(p.name for p in train.iterdir()
                  if p.is_dir() and any(f.suffix.lower() in IMAGE_SUFFIXES for f in p.iterdir()))  # fmt: skip


def find_labels_csv(data_dir: Path, sample: Path, id_column: str, labels: str | None = None) -> tuple[Path, pd.DataFrame]:
    """The CSV of training ids and labels: ``labels`` when given, else the CSV with the sample submission's id
    column (a name starting with train or label first; when several have it, a warning says which was taken)."""
    if labels:
        path = data_dir / labels
        frame = read_header(path) if path.is_file() else None
        if frame is None or id_column not in frame.columns:
            raise DataError(f"{path}: {'not found' if frame is None else f'no column {id_column!r}'}; `labels` names "
                            f"the CSV of training ids ({id_column}) and labels in {data_dir}")  # fmt: skip
        return path, frame
    csvs = [p for p in sorted(data_dir.glob("*.csv")) if p != sample and "test" not in p.name.lower()]
    csvs.sort(key=lambda p: (not p.name.lower().startswith(("train", "label")), p.name))
    found = [(path, frame) for path, frame in ((p, read_header(p)) for p in csvs)
             if id_column in frame.columns and len(frame.columns) >= 2]  # fmt: skip
    if not found:
        raise DataError(f"{data_dir}: no training CSV with the sample submission's id column {id_column!r} "
                        f"(found: {', '.join(p.name for p in csvs) or 'no other CSV'})")  # fmt: skip
    if len(found) > 1:
        why = "its name starts with train or label" if found[0][0].name.lower().startswith(("train", "label")) else "first by name"
        warn(f"{data_dir}: {', '.join(p.name for p, _ in found)} all have the id column {id_column!r}; took "
             f"{found[0][0].name} ({why}); another one: compete init --labels NAME")  # fmt: skip
    return found[0]


MULTI_LABEL_SHARE = 0.05  # a labels column with spaces in at least this share of rows holds label sets


def is_multi_label(path: Path, column: str) -> bool:
    """Whether ``column`` of the labels CSV holds space-separated label sets ("haze primary"): spaces in a
    share of the rows, and more distinct sets than distinct names (class names that merely contain a
    space, "Common wheat", give as many distinct values as names or fewer)."""
    labels = pd.read_csv(path, usecols=[column], dtype=str, keep_default_na=False)[column].str.strip()
    if not len(labels) or float(labels.str.contains(" ").mean()) < MULTI_LABEL_SHARE:
        return False
    names = {name for text in labels for name in text.split()}
    return labels.nunique() > len(names)


def pixel_spec(data_dir: Path, sample: Path, predicted: list[str], target: str | None) -> dict | None:
    """digit-recognizer style: a train CSV and a test CSV of pixel columns; None when there are none."""
    if len(predicted) != 1:
        return None
    found = {}
    for path in sorted(data_dir.glob("*.csv")):
        if path == sample:
            continue
        columns = list(read_header(path, 1).columns)
        if len(pixel_columns(columns)) >= 4:
            found["test_csv" if "test" in path.name.lower() else "train_csv"] = (path, columns)
    if set(found) != {"train_csv", "test_csv"}:
        return None
    train_path, columns = found["train_csv"]
    others = [c for c in columns if c not in pixel_columns(columns)]
    label = target or next((c for c in others if c.lower() == predicted[0].lower()), None)
    label = label or (others[0] if len(others) == 1 else PLACEHOLDER)
    if label != PLACEHOLDER and label not in columns:
        raise DataError(f"{train_path}: no column {label!r} (found: {', '.join(others)} and the pixel columns)")
    out = {"target_column": label, "train_csv": train_path.name, "test_csv": found["test_csv"][0].name}
    return {**out, "submission_column": predicted[0]} if predicted[0] != label else out


CLASSIFICATION_MAX_CLASSES = 20  # integer targets with at most this many values are classes (or --task)


def guess_task(values: pd.Series) -> str:
    """classification for words and for a few whole numbers (0/1, ratings 1..10); else regression."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any():
        return "classification"
    whole = bool((numbers == numbers.round()).all())
    return "classification" if whole and numbers.nunique() <= CLASSIFICATION_MAX_CLASSES else "regression"


def tabular_spec(data_dir: Path, sample: Path, id_column: str, predicted: list[str], metric: str | None,
                 target: str | None, task: str | None) -> dict | None:  # fmt: skip
    """A table: train and test CSVs holding the sample's id column; None when there are none."""
    csvs = [p for p in sorted(data_dir.glob("*.csv")) if p != sample]
    train = next((p for p in csvs if "train" in p.name.lower()), None)
    test = next((p for p in csvs if "test" in p.name.lower()), None)
    if train is None or test is None:
        return None
    train_columns, test_columns = list(read_header(train, 1).columns), list(read_header(test, 1).columns)
    if id_column not in test_columns:
        return None
    if id_column not in train_columns:
        raise DataError(f"{train}: no column {id_column!r} (the sample submission's id column; test.csv has it); "
                        "compete needs an id per training row")  # fmt: skip
    missing_in_test = [c for c in train_columns if c not in test_columns]
    label = target or (predicted[0] if len(predicted) == 1 and predicted[0] in train_columns else None)
    label = label or (missing_in_test[0] if len(missing_in_test) == 1 else PLACEHOLDER)
    if label != PLACEHOLDER and label not in train_columns:
        raise DataError(f"{train}: no column {label!r} (found: {', '.join(train_columns[:12])})")
    spec = {"task": task or PLACEHOLDER, "metric": metric or PLACEHOLDER, "sample_submission": sample.name,
            "id_column": id_column, "shape": "tabular", "target_column": label, "train_csv": train.name,
            "test_csv": test.name}  # fmt: skip
    if label == PLACEHOLDER:
        return spec
    values = pd.read_csv(train, usecols=[label], dtype=str, keep_default_na=False)[label].str.strip()
    values = values[values != ""]
    task = task or guess_task(values)
    spec["task"] = task
    if len(predicted) == 1 and predicted[0] != label:
        spec["submission_column"] = predicted[0]
    if task == "regression":
        return {**spec, "submission": "value"}
    classes = sorted(values.unique())
    if len(classes) < 2:
        raise DataError(f"{train}: {label} has one value ({classes[0] if classes else ''!r}) in every row; a "
                        "classification needs at least two classes (a number to predict: --task regression)")  # fmt: skip
    check_class_count(len(classes), len(values), str(train), label, tabular=True)
    return {**spec, **table_submission(sample, train, label, predicted, classes, metric)}


def table_submission(sample: Path, train: Path, label: str, predicted: list[str], classes: list[str],
                     metric: str | None) -> dict:  # fmt: skip
    """A classification table's submission: one column per class, a binary task's probability, or a label."""
    if len(predicted) > 1:
        if set(predicted) != set(classes):
            raise DataError(f"{sample}: its columns {', '.join(predicted[:6])} are not the classes of {train.name}'s "
                            f"{label} ({', '.join(classes[:6])}); name the classes in the spec by hand")  # fmt: skip
        return {"submission": "probabilities", "classes": predicted}
    shown = read_header(sample)[predicted[0]]
    fractions = pd.to_numeric(shown, errors="coerce")
    wants_probability = metric and get_metric(metric).kind == "probabilities"
    fractional = fractions.notna().all() and bool((fractions != fractions.round()).any())
    probability = len(classes) == 2 and (wants_probability or fractional)
    return {"submission": "probability" if probability else "label", "classes": "from_data"}


def propose_spec(slug: str, data_dir: str | Path, metric: str | None = None, target: str | None = None,
                 task: str | None = None, labels: str | None = None) -> dict:  # fmt: skip
    """The spec file's content for the competition folder ``data_dir``."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: no such folder; download and unzip the competition first")
    if metric and metric != PLACEHOLDER:
        try:
            metric = get_metric(metric).name
        except ValueError as err:
            raise CompeteError(f"`metric`: {err}") from None
    sample = find_sample_submission(data_dir)
    columns = list(read_header(sample).columns)
    if len(columns) < 2:
        raise DataError(f"{sample}: needs an id column and at least one prediction column; found {columns}")
    id_column, predicted = columns[0], columns[1:]
    first_test_id = read_header(sample, 1)[id_column].iloc[0]
    test_images = image_pattern(data_dir, first_test_id)
    pixels = pixel_spec(data_dir, sample, predicted, target) if test_images is None else None
    table = tabular_spec(data_dir, sample, id_column, predicted, metric, target, task) if test_images is None and pixels is None else None
    if table is not None:
        return {"slug": slug, "title": slug.replace("-", " ").title(), **table}
    if pixels is not None:
        spec = {"slug": slug, "title": slug.replace("-", " ").title(), "task": "classification",
                "metric": metric or PLACEHOLDER, "sample_submission": sample.name, "id_column": id_column,
                "submission": "label", "classes": "from_data", "shape": "pixels_csv", **pixels}  # fmt: skip
        return spec
    if test_images is None:
        raise DataError(f"{data_dir}: no image file for the sample submission's id {first_test_id!r} in any folder, "
                        f"no pixel0, pixel1, ... columns, and no train/test CSVs with its id column {id_column!r}; "
                        "compete init knows images + labels, a folder per class, pixel CSVs and tables")  # fmt: skip
    spec = {"slug": slug, "title": slug.replace("-", " ").title(), "task": "classification",
            "metric": metric or PLACEHOLDER, "sample_submission": sample.name, "id_column": id_column}  # fmt: skip
    return images_spec(data_dir, sample, spec, predicted, test_images, target, labels)


def images_spec(data_dir: Path, sample: Path, spec: dict, predicted: list[str], test_images: str,
                target: str | None, labels: str | None = None) -> dict:  # fmt: skip
    """Images: one folder per class under train/, or a labels CSV of ids whose images are files."""
    id_column = spec["id_column"]
    if len(predicted) > 1:
        spec.update(submission="probabilities", classes=predicted)
    else:
        spec.update(submission="label", classes="from_data")
    folders = class_folders(data_dir)
    if folders:
        spec = {**spec, "shape": "images_by_folder", "target_column": target or (predicted[0] if len(predicted) == 1 else "label")}
        spec["test_images"] = test_images
        if spec["submission"] == "probabilities" and set(folders) != set(predicted):
            raise DataError(f"{sample}: class columns differ from the folders in {data_dir / 'train'}")
        return spec
    labels_csv, frame = find_labels_csv(data_dir, sample, id_column, labels)
    label = target or (predicted[0] if len(predicted) == 1 and predicted[0] in frame.columns else None)
    if label is None:
        others = [c for c in frame.columns if c != id_column]
        label = others[0] if len(others) == 1 else PLACEHOLDER
    elif label not in frame.columns:
        raise DataError(f"{labels_csv}: no column {label!r} (found: {', '.join(frame.columns)})")
    train_images = image_pattern(data_dir, frame[id_column].iloc[0])
    if train_images is None:
        raise DataError(f"{labels_csv}: no image file for its first id {frame[id_column].iloc[0]!r} in any folder")
    spec = {**spec, "shape": "images_csv", "target_column": label, "train_csv": labels_csv.name,
            "train_images": train_images, "test_images": test_images}  # fmt: skip
    if spec["submission"] == "label" and label != PLACEHOLDER and is_multi_label(data_dir / labels_csv.name, label):
        spec["submission"] = "labels"
    elif label != PLACEHOLDER:
        values = pd.read_csv(labels_csv, usecols=[label], dtype=str, keep_default_na=False)[label]
        check_class_count(values.nunique(), len(values), str(labels_csv), label)
    if spec["submission"] == "label" and predicted[0] != label:
        spec["submission_column"] = predicted[0]
    return spec
