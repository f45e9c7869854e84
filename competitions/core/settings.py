"""Settings as flat dotted keys: the one flattener of config dicts (resolving a run's overrides, the
changes a resume makes, the settings `compete runs` compares)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def flatten(values: Mapping, prefix: str = "", skip: Iterable[str] = ()) -> dict[str, Any]:
    """``{"trainer": {"max_epochs": 3}}`` -> ``{"trainer.max_epochs": 3}``; a class_path entry (a callback)
    stays whole; top-level keys in ``skip`` are left out."""
    skip = set(skip)
    out = {}
    for key, value in values.items():
        if not prefix and key in skip:
            continue
        if isinstance(value, Mapping) and not {"class_path", "init_args"} & set(value):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def nest(flat: Mapping[str, Any]) -> dict:
    """The inverse of flatten."""
    out: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out
