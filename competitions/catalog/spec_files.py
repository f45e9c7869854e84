"""Competition specs as YAML files: what `compete init` writes and ./competitions.d/ holds.

    slug: plant-seedlings-classification
    title: Plant Seedlings Classification
    shape: images_by_folder        # images_csv (a labels CSV + image files), images_by_folder (train/<class>/...),
                                   # pixels_csv (pixel0..pixelN columns in train.csv / test.csv) or tabular
    task: classification           # or regression (tabular only)
    metric: f1_micro               # a name of the metrics registry (compete list shows them); FILL_ME until decided
    submission: label              # label (one class name per row), probabilities (one column per class),
                                   # probability (binary: the second class's probability), labels (multi-label:
                                   # space-separated class names; images_csv) or value (regression)
    sample_submission: sample_submission.csv
    id_column: file                # the sample submission's first column
    target_column: species         # the label column of the training data
    submission_column: species     # the sample submission's label column, when its name differs (e.g. Label)
    classes: from_data             # or a list (submission: probabilities names them in column order)
    train_csv: train.csv           # images_csv: the CSV of training ids and labels
    train_images: "train/{id}"     # images_csv: where an id's image is ({id}: the id as written)
    test_images: "test/{id}"       # images_csv, images_by_folder: where a test id's image is
    test_csv: test.csv             # pixels_csv: the test rows (the sample submission's ids number them from 1);
                                   # tabular: the test rows, with the id column
    log_target: true               # tabular regression: learn and average the log of the target (default: when
                                   # the metric is rmse_log or rmsle)
    max_class_share: 0.5           # classification: at most this share of the training rows may be distinct
                                   # classes (an id column taken as the label is refused); 1.0: no limit
    runtime_limit_hours: 9         # code competitions: how long Kaggle lets the inference notebook run

    mean: [0.4914, 0.4822, 0.4465]  # images: per-channel statistics (0-1 scale), used when no pretrained
    std: [0.2470, 0.2435, 0.2616]   # backbone brings its own (default: ImageNet's)

The built-in competitions (competitions/catalog/specs/*.yaml) are spec files of this format on the
generic shapes. What is truly specific to a competition can stay Python, named by the spec:

    datamodule: mypackage.data:MyDataModule       # "package.module:Class" instead of the shape's
    model: mypackage.models:MyClassifier
    families: {mlp: ..., lightgbm: ..., ridge: ...}     # a table's model families instead of the shape's
    presets: cifar-10                                    # configs/<folder> instead of the shape's presets
    expected_files: [train/, test/, trainLabels.csv]     # what must be in the folder ("/": a folder)
    archives: {cifar-10.zip: unzip cifar-10.zip first}   # archives a user may have left, with a hint

A shape's presets come with it (competitions/catalog/configs/_shapes/images|tabular/): debug, default and
fast for images; debug, default (the MLP), lightgbm, catboost, tabm, linear and stack for tables.
Every field is checked on loading; a bad one is reported with the file and the field.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml

from competitions.catalog.presets import CONFIG_ROOT
from competitions.core.console import warn
from competitions.core.errors import CompeteError
from competitions.core.metrics import METRICS, get_metric
from competitions.core.spec import MAX_CLASS_SHARE, RUNTIME_LIMIT_HOURS, CompetitionSpec

PLACEHOLDER = "FILL_ME"
USER_SPEC_DIR = "competitions.d"
SPEC_PATH_VARIABLE = "COMPETE_SPECS"  # extra spec files (os.pathsep-separated), set by --spec
SHAPES = {
    "images_csv": "datamodules.generic_images:ImagesCsvDataModule",
    "images_by_folder": "datamodules.generic_images:ImagesByFolderDataModule",
    "pixels_csv": "datamodules.generic_images:PixelsCsvDataModule",
    "tabular": "datamodules.tabular:TabularDataModule",
}
IMAGE_MODEL = "lightning_modules.generic:ImageModel"
# The model families of a table (`compete fit SLUG --family NAME`, or the preset of that name).
TABULAR_FAMILIES = {
    "regression": {
        "mlp": "lightning_modules.tabular:MLPRegressor",
        "lightgbm": "estimators.lightgbm:LightGBMRegressor",
        "catboost": "estimators.catboost:CatBoostRegressor",
        "tabm": "lightning_modules.tabm:TabMRegressor",
        "linear": "estimators.linear:LinearRegressor",
    },
    "classification": {
        "mlp": "lightning_modules.tabular:MLPClassifier",
        "lightgbm": "estimators.lightgbm:LightGBMClassifier",
        "catboost": "estimators.catboost:CatBoostClassifier",
        "tabm": "lightning_modules.tabm:TabMClassifier",
        "linear": "estimators.linear:LogisticClassifier",
    },
}
SUBMISSIONS = ("label", "probabilities", "probability", "labels", "value")
LOG_METRICS = ("rmse_log", "rmsle")


def _field(data: dict, name: str, path: Path, choices=None, default: Any = None) -> Any:
    value = data.get(name, default)
    if value is None:
        raise CompeteError(f"{path}: the field {name} is missing")
    if choices is not None and value not in choices and value != PLACEHOLDER:
        raise CompeteError(f"{path}: the field {name} is {value!r}; choose one of {', '.join(choices)}")
    return value


def load_spec_file(path: str | os.PathLike) -> CompetitionSpec:
    """A CompetitionSpec from a spec file; CompeteError naming the file and field when one is wrong."""
    path = Path(path)
    data = _read_mapping(path)
    slug, shape = str(_field(data, "slug", path)), _shape(data, path)
    tabular = shape == "tabular"
    task, submission, undecided_task = _task_and_submission(data, path, shape)
    unfilled = tuple(k for k in ("metric", "target_column") if data.get(k) in (None, PLACEHOLDER))
    unfilled += ("task",) if undecided_task else ()
    metric = _metric(data, path, task)
    classes = _classes(data, path)
    sample = str(_field(data, "sample_submission", path))
    train = str(data.get("train_csv") or ("train.csv" if tabular else "train/"))
    options, expected = _options(data, path, shape, sample, train)
    log_target = _log_target(data, path, metric.name)
    families = dict(data.get("families") or (TABULAR_FAMILIES[task] if tabular else {}))
    monitor = _monitor(tabular, task, log_target, metric.name, submission)
    return CompetitionSpec(
        slug=slug,
        title=str(data.get("title") or slug),
        task=task,
        metric=metric,
        expected_files=tuple(str(f) for f in data.get("expected_files") or expected),
        train_csv=train.rstrip("/"),
        id_column=str(_field(data, "id_column", path)),
        target_column=str(data.get("submission_column") or data.get("target_column") or PLACEHOLDER),
        sample_submission=sample,
        submission_kind=submission if submission != PLACEHOLDER else "label",
        datamodule=str(data.get("datamodule") or SHAPES[shape]),
        model=str(data.get("model") or (families["mlp"] if tabular else IMAGE_MODEL)),
        monitor=monitor,
        monitor_mode="min" if monitor.endswith(("loss", "rmse", "rmse_log")) else "max",
        classes=() if classes == "from_data" else tuple(str(c) for c in classes),
        url=f"https://www.kaggle.com/c/{slug}",
        archives={str(k): str(v) for k, v in (data.get("archives") or {}).items()},
        config_dir=CONFIG_ROOT / (str(data["presets"]) if data.get("presets")
                                  else f"_shapes/{'tabular' if tabular else 'images'}"),  # fmt: skip
        families=families,
        source=str(path),
        options={"shape": shape, **options},
        unfilled=unfilled,
        log_target=log_target,
        max_class_share=_share(data, path),
        runtime_limit_hours=_runtime_limit(data, path),
    )


def _runtime_limit(data: dict, path: Path) -> float:
    hours = data.get("runtime_limit_hours", RUNTIME_LIMIT_HOURS)
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or hours <= 0:
        raise CompeteError(f"{path}: the field runtime_limit_hours is {hours!r}; a number of hours above 0")
    return float(hours)


def _share(data: dict, path: Path) -> float:
    share = data.get("max_class_share", MAX_CLASS_SHARE)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        raise CompeteError(f"{path}: the field max_class_share is {share!r}; a number above 0 and at most 1 (1: no limit)")
    return float(share)


def _shape(data: dict, path: Path) -> str:
    shape = _field(data, "shape", path, SHAPES)
    if shape == PLACEHOLDER:
        raise CompeteError(f"{path}: the field shape is {PLACEHOLDER}; set it to one of {', '.join(SHAPES)}")
    return shape


def _classes(data: dict, path: Path):
    classes = data.get("classes", "from_data")
    if classes != "from_data" and not (isinstance(classes, list) and classes):
        raise CompeteError(f"{path}: the field classes is from_data or a list of class names")
    return classes


def _log_target(data: dict, path: Path, metric: str) -> bool:
    log_target = data.get("log_target", metric in LOG_METRICS)
    if not isinstance(log_target, bool):
        raise CompeteError(f"{path}: the field log_target is true or false")
    return log_target


KNOWN_KEYS = ("slug", "title", "shape", "task", "metric", "submission", "sample_submission", "id_column",
              "target_column", "submission_column", "classes", "train_csv", "train_images", "test_images",
              "test_csv", "log_target", "datamodule", "model", "families", "presets", "expected_files", "archives",
              "mean", "std", "max_class_share", "runtime_limit_hours")  # fmt: skip


def _read_mapping(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise CompeteError(f"{path}: cannot read the spec ({err.strerror})") from None
    except (UnicodeDecodeError, ValueError):
        raise CompeteError(f"{path}: not a text file (a spec is UTF-8 YAML); remove it or write it again") from None
    except yaml.YAMLError as err:
        raise CompeteError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise CompeteError(f"{path}: a spec is a YAML mapping (slug, shape, metric, ...)")
    unknown = [str(key) for key in data if key not in KNOWN_KEYS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], KNOWN_KEYS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(KNOWN_KEYS)}"
        raise CompeteError(f"{path}: unknown key {unknown[0]!r}; {hint}")
    return data


def _task_and_submission(data: dict, path: Path, shape: str) -> tuple[str, str, bool]:
    """(task, submission kind, whether the task is still FILL_ME), checked against each other and the shape."""
    tabular = shape == "tabular"
    task = _field(data, "task", path, ("classification", "regression") if tabular else ("classification",),
                  "classification")  # fmt: skip
    undecided_task = task == PLACEHOLDER
    task = "classification" if undecided_task else task  # a stand-in: fit refuses first (unfilled)
    submission = _field(data, "submission", path, SUBMISSIONS, "value" if task == "regression" else "label")
    if (submission == "value") != (task == "regression") and submission != PLACEHOLDER:
        raise CompeteError(f"{path}: the field submission {submission} does not fit the field task {task} (regression: value; "
                           "classification: label, probabilities or probability)")  # fmt: skip
    if submission == "labels" and shape != "images_csv":
        raise CompeteError(f"{path}: the field submission labels (several classes per row, space-separated) needs shape "
                           "images_csv (a labels CSV of label sets)")  # fmt: skip
    return task, submission, undecided_task


def _metric(data: dict, path: Path, task: str):
    metric_name = data.get("metric") or PLACEHOLDER
    if metric_name == PLACEHOLDER:  # a stand-in for `compete list`; fit, predict and validate refuse first
        return METRICS["rmse" if task == "regression" else "accuracy"]
    try:
        return get_metric(str(metric_name))
    except ValueError as err:
        raise CompeteError(f"{path}: the field metric: {err}") from None


def _options(data: dict, path: Path, shape: str, sample: str, train: str) -> tuple[dict, tuple[str, ...]]:
    """(the shape's settings the generic DataModules read, the files the folder must hold)."""
    options = {k: data[k] for k in ("train_images", "test_images", "train_csv", "test_csv") if data.get(k)}
    options["label_column"] = str(data.get("target_column") or PLACEHOLDER)
    test_csv = str(options.get("test_csv", "test.csv"))
    expected = {"images_csv": (sample, train), "images_by_folder": (sample, "train/"),
                "pixels_csv": (sample, train, test_csv), "tabular": (sample, train, test_csv)}[shape]  # fmt: skip
    if shape == "images_csv" and "train_images" not in options:
        raise CompeteError(f"{path}: the field train_images is missing (where an id's image is, e.g. \"train/{{id}}.png\")")
    if shape != "tabular":
        options.setdefault("test_images", "test/{id}")
        options.update(_image_statistics(data, path))
    return options, expected


def _monitor(tabular: bool, task: str, log_target: bool, metric: str, submission: str) -> str:
    """The logged validation metric that picks best.ckpt."""
    if tabular:
        return ("val/rmse_log" if log_target else "val/rmse") if task == "regression" else "val/loss"
    return "val/loss" if metric == "log_loss" or submission == "labels" else "val/acc"


def _image_statistics(data: dict, path: Path) -> dict:
    """``mean``/``std``: the images' per-channel statistics (0-1 scale), the normalisation used when no
    pretrained backbone brings its own."""
    found = {}
    for key in ("mean", "std"):
        value = data.get(key)
        if value is None:
            continue
        if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, (int, float)) for v in value)):
            raise CompeteError(f"{path}: the field {key} is a list of three numbers (one per channel, 0-1 scale)")
        found[key] = tuple(float(v) for v in value)
    return found


BUILTIN_DIR = Path(__file__).resolve().parent / "specs"


def builtin_spec(slug: str) -> CompetitionSpec:
    """A built-in competition: its spec file in competitions/catalog/specs/."""
    return load_spec_file(BUILTIN_DIR / f"{slug}.yaml")


def spec_file_paths(extra: list[str] | None = None) -> list[Path]:
    """./competitions.d/*.yaml, then the files named by --spec (COMPETE_SPECS)."""
    paths = sorted(Path(USER_SPEC_DIR).glob("*.yaml")) if Path(USER_SPEC_DIR).is_dir() else []
    named = [p for p in os.environ.get(SPEC_PATH_VARIABLE, "").split(os.pathsep) if p]
    return [*paths, *(Path(p) for p in [*named, *(extra or [])])]


def add_spec_files(paths) -> None:
    """Add spec files to this process's (COMPETE_SPECS, which DDP's processes inherit)."""
    if not paths:
        return
    known = [p for p in os.environ.get(SPEC_PATH_VARIABLE, "").split(os.pathsep) if p]
    os.environ[SPEC_PATH_VARIABLE] = os.pathsep.join([*known, *(str(Path(p).resolve()) for p in paths)])


_WARNED: set[str] = set()


def user_specs() -> dict[str, CompetitionSpec]:
    """The spec files of ./competitions.d/ and --spec, by slug. A broken file in competitions.d/ is
    named once (a warning) and left out, so it does not stop commands about other competitions; a
    broken file named with --spec is an error."""
    specs = {}
    named = {Path(p) for p in os.environ.get(SPEC_PATH_VARIABLE, "").split(os.pathsep) if p}
    for path in spec_file_paths():
        try:
            spec = load_spec_file(path)
        except CompeteError as err:
            if path in named:
                raise
            broken_spec(path, str(err))
            continue
        specs[spec.slug] = spec
    return specs


def broken_spec(path: Path, message: str) -> None:
    key = f"{Path(path).resolve()}: {message}"  # once per file and problem in a process (a notebook asks often)
    if key not in _WARNED:
        _WARNED.add(key)
        warn(f"{message} (skipped: the other competitions work as they are)")
    BROKEN[str(path)] = message


BROKEN: dict[str, str] = {}  # spec files of competitions.d/ that could not be read: path -> why


def check_filled(spec: CompetitionSpec) -> None:
    """Refuse a spec that still has a placeholder: the run would be scored or written by a guess."""
    if spec.unfilled:
        field = spec.unfilled[0]
        hint = {"metric": f"one of {', '.join(METRICS)}; or run compete init again with --metric NAME",
                "task": "classification or regression; or compete init again with --task NAME"}.get(
            field, "the training CSV's target column; or compete init again with --target NAME")  # fmt: skip
        raise CompeteError(f"{spec.source}: the field {field} is {PLACEHOLDER}; set it first ({hint})")  # a spec field, not a flag


def write_spec_file(path: Path, data: dict) -> Path:
    from competitions.core.artifacts import write_text

    header = ("# A compete competition spec (compete init wrote it; check it, then compete fit SLUG --config debug).\n"
              "# Format: competitions/catalog/spec_files.py. Fields marked FILL_ME must be set before compete fit.\n")  # fmt: skip
    return write_text(path, header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
