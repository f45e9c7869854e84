"""The shape of the house: argv only in the commands, one fold-trainer interface, built-ins on the
generic shapes, no per-competition modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from competitions.catalog import COMPETITIONS
from competitions.core.errors import CompeteError
from competitions.pipeline.factory import datamodule_class, model_class
from competitions.pipeline.folds import fold_trainer_for

ROOT = Path(__file__).resolve().parents[1]


def sources(*folders: str) -> dict[Path, str]:
    return {p: p.read_text() for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))}


def test_only_the_commands_read_or_build_argv():
    below = {**sources("competitions/pipeline", "competitions/catalog", "competitions/core"),
             ROOT / "competitions/api.py": (ROOT / "competitions/api.py").read_text()}  # fmt: skip
    offenders = [f"{path.relative_to(ROOT)}: {pattern}" for path, text in below.items()
                 for pattern in ('startswith("--', "argv") if pattern in text]  # fmt: skip
    assert offenders == []


def test_the_pipeline_never_asks_what_kind_of_model_or_data_it_holds():
    for path, text in sources("competitions/pipeline").items():
        assert "is_estimator" not in text and "hasattr(" not in text, path
        for node in ast.walk(ast.parse(text)):  # no attribute set on a DataModule from outside it
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                        assert target.value.id != "datamodule", f"{path}:{node.lineno}"


def test_no_function_is_longer_than_45_lines_but_argument_lists():
    long = []
    for path, text in sources("competitions", "datamodules", "lightning_modules", "estimators", "submissions").items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef) and node.name != "__init__":
                if node.end_lineno - node.lineno + 1 > 45:
                    long.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert long == []


@pytest.mark.parametrize("slug", sorted(COMPETITIONS))
def test_the_built_ins_run_on_the_generic_shapes(slug):
    spec = COMPETITIONS[slug]
    module = datamodule_class(spec).__mro__[1].__module__
    assert module in ("datamodules.generic_images", "datamodules.tabular")
    assert datamodule_class(spec).spec is spec
    for family in [None, *spec.families]:
        assert not re.search(r"cifar|leaves|dog|house", model_class(spec, family).__module__)


def test_cifar10s_statistics_are_a_spec_value():
    cls = datamodule_class(COMPETITIONS["cifar-10"])
    assert cls.default_mean == (0.4914, 0.4822, 0.4465) and cls.default_std == (0.2470, 0.2435, 0.2616)
    assert datamodule_class(COMPETITIONS["classify-leaves"]).default_mean == (0.485, 0.456, 0.406)


def test_every_family_names_its_fold_trainer():
    kinds = {}
    for spec in COMPETITIONS.values():
        for family in [None, *spec.families]:
            trainer = fold_trainer_for(model_class(spec, family))
            kinds[model_class(spec, family).__name__] = trainer.name
    assert kinds["LightGBMRegressor"] == kinds["LinearRegressor"] == "estimator"
    assert kinds["MLPRegressor"] == kinds["ImageModel"] == "lightning"
    with pytest.raises(CompeteError, match="not a compete model family"):
        fold_trainer_for(dict)


def test_no_per_competition_python_modules_are_left():
    for folder in ("datamodules", "lightning_modules", "competitions/catalog"):
        names = {p.stem for p in (ROOT / folder).glob("*.py")}
        assert not names & {"cifar10", "leaves", "classify_leaves", "dog_breed", "house_prices"}, folder
