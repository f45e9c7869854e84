"""Turning a competition spec into its DataModule and LightningModule: the one place that builds them.

The catalog names the classes ("package.module:Class"); resolving the names here keeps the catalog
below the libraries. Every DataModule gets its image cache under RUNS_DIR/SLUG/cache (one rule).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from competitions.core.errors import CompeteError
from competitions.core.layout import DEFAULT_RUNS_DIR, cache_dir
from competitions.core.spec import CompetitionSpec


def import_string(path: str, where: str = "", example: str = "datamodules.generic_images:ImagesCsvDataModule") -> type:
    """The class a "package.module:Class" name names; CompeteError naming ``where`` (the spec file and field)."""
    module, _, name = path.partition(":")
    hint = f'a valid value is "package.module:Class", e.g. {example}'
    if not module or not name or not name.isidentifier():
        raise CompeteError(f"{where or 'class name'} {path!r} is not \"package.module:Class\"; {hint}")
    try:
        found = importlib.import_module(module)
    except ImportError as err:
        raise CompeteError(f"{where or 'class name'} {path!r}: cannot import {module} ({err}); {hint}") from None
    try:
        return getattr(found, name)
    except AttributeError:
        raise CompeteError(f"{where or 'class name'} {path!r}: {module} has no {name!r}; {hint}") from None


def _field(spec: CompetitionSpec, name: str) -> str:
    return f"{spec.source or spec.slug}: the field {name}"  # a spec field, not an option: no backticks


_BOUND: dict[tuple[str, str], type] = {}


def datamodule_class(spec: CompetitionSpec) -> type:
    """The spec's DataModule class, bound to the spec (once per spec and class)."""
    from datamodules.kfold import KFoldDataModule

    key = (spec.slug, spec.datamodule)
    if key not in _BOUND or _BOUND[key].spec != spec:
        cls = import_string(spec.datamodule, _field(spec, "datamodule"))
        if not (isinstance(cls, type) and issubclass(cls, KFoldDataModule)):
            raise CompeteError(f"{_field(spec, 'datamodule')} {spec.datamodule!r} is not a DataModule of compete "
                               "(a subclass of datamodules.kfold.KFoldDataModule)")  # fmt: skip
        _BOUND[key] = cls.bind(spec)
    return _BOUND[key]


def model_class(spec: CompetitionSpec, family: str | None = None) -> type:
    """The class of ``family`` (None: the competition's default model)."""
    field = "model" if not family else f"families.{family}"
    return import_string(spec.model_path(family), _field(spec, field), "lightning_modules.generic:ImageModel")


def build_datamodule(
    spec: CompetitionSpec, data_dir: str | Path, runs_dir: str | Path = DEFAULT_RUNS_DIR, **data_cfg
):
    """The competition's DataModule on ``data_dir`` with the settings ``data_cfg`` (config.yaml's ``data``)."""
    if spec.unfilled:
        from competitions.catalog.spec_files import check_filled

        check_filled(spec)
    data_cfg = {k: v for k, v in data_cfg.items() if k not in ("data_dir", "cache_dir")}
    return datamodule_class(spec)(data_dir=str(data_dir), cache_dir=str(cache_dir(runs_dir, spec.slug)), **data_cfg)


def class_names(spec: CompetitionSpec, data_dir: str | Path) -> tuple[str, ...]:
    """The competition's classes: the spec's, or (classify-leaves) those its train.csv names."""
    if spec.classes or spec.task != "classification":
        return tuple(spec.classes)
    return tuple(build_datamodule(spec, data_dir).class_names)
