"""Turning a competition spec into its DataModule and LightningModule: the one place that builds them.

The catalog names the classes ("package.module:Class"); resolving the names here keeps the catalog
below the libraries. Every DataModule gets its image cache under RUNS_DIR/SLUG/cache (one rule).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from competitions.core.layout import DEFAULT_RUNS_DIR, cache_dir
from competitions.core.spec import CompetitionSpec


def import_string(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


_BOUND: dict[tuple[str, str], type] = {}


def datamodule_class(spec: CompetitionSpec) -> type:
    """The spec's DataModule class, bound to the spec (once per spec and class)."""
    key = (spec.slug, spec.datamodule)
    if key not in _BOUND or _BOUND[key].spec != spec:
        _BOUND[key] = import_string(spec.datamodule).bind(spec)
    return _BOUND[key]


def model_class(spec: CompetitionSpec, family: str | None = None) -> type:
    """The class of ``family`` (None: the competition's default model)."""
    return import_string(spec.model_path(family))


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
