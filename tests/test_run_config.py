"""One run config: the command line and the Python API resolve to the same settings, through one
parser, from objects; a stack's members are the run with another family."""

from __future__ import annotations

import pytest
import yaml

from competitions import api
from competitions.catalog import get_competition
from competitions.commands.parsing import read_run_arguments
from competitions.core.errors import CompeteError
from competitions.pipeline.run_config import resolve_run
from competitions.pipeline.stack import stack_members

AMES = "house-prices-advanced-regression-techniques"


def from_command_line(slug: str, argv: list[str]):
    args = read_run_arguments(get_competition(slug), argv, "fit")
    return api.resolve(slug, config=args.configs, family=args.family, overrides=args.overrides, command=args.command)


def test_the_command_line_and_the_api_resolve_to_the_same_settings():
    argv = ["--config", "debug", "--trainer.max_epochs=3", "--model.lr", "0.05", "--data.hflip=false",
            "--experiment", "same", "--n-folds=3"]  # fmt: skip
    cli = from_command_line("cifar-10", argv)
    python = api.resolve("cifar-10", config="debug", experiment="same", n_folds=3,
                         overrides={"trainer": {"max_epochs": 3}, "model.lr": 0.05, "data.hflip": False})  # fmt: skip
    assert cli.cfg == python.cfg
    assert (cli.cfg.trainer.max_epochs, cli.cfg.model.lr, cli.cfg.data.hflip, cli.cfg.n_folds) == (3, 0.05, False, 3)
    assert cli.cfg.model.backbone == "test_resnet"  # from the debug preset, under the overrides
    assert cli.command.startswith("compete fit cifar-10 --config debug") and "competitions.fit(" in python.command


def test_layers_base_preset_then_configs_in_order_then_overrides(tmp_path):
    spec = get_competition("cifar-10")
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(yaml.safe_dump({"model": {"lr": 0.2, "weight_decay": 0.01}}))
    second.write_text(yaml.safe_dump({"model": {"lr": 0.3}}))
    run = resolve_run(spec, ["debug", first, second], overrides={"model.weight_decay": 0.02})
    assert run.cfg.model.lr == 0.3 and run.cfg.model.weight_decay == 0.02
    assert run.configs == (spec.preset_path("debug"), first, second)
    with pytest.raises(CompeteError, match="no such file, and not a cifar-10 preset"):
        resolve_run(spec, ["nope"])


def test_the_family_comes_from_the_argument_then_the_configs_then_the_default():
    spec = get_competition(AMES)
    assert resolve_run(spec).family == "mlp"  # the default preset's
    assert resolve_run(spec, ["lightgbm"]).family == "lightgbm"  # a preset named after the family
    run = resolve_run(spec, family="ridge")
    assert run.family == "ridge" and run.cfg.family == "ridge" and "l1_ratio" in run.cfg.model
    lightgbm = run.replace(family="lightgbm", experiment="x")
    assert lightgbm.family == "lightgbm" and "num_leaves" in lightgbm.cfg.model and lightgbm.cfg.experiment == "x"
    assert run.cfg.experiment == "baseline"  # replace made a new run config; the old one is as it was


def test_a_stack_preset_makes_every_family_a_run_of_its_own(tmp_path):
    spec = get_competition(AMES)
    run = resolve_run(spec, ["stack"], overrides={"n_folds": 2, "data_dir": str(tmp_path)})
    assert run.stack["families"] == ["lightgbm", "ridge", "mlp"] and run.cfg.experiment == "stack"
    members = stack_members(run)
    assert [m.family for m in members] == ["lightgbm", "ridge", "mlp"]
    assert [m.cfg.experiment for m in members] == ["stack-lightgbm", "stack-ridge", "stack-mlp"]
    assert all(m.cfg.n_folds == 2 and m.cfg.data_dir == str(tmp_path) and m.stack is None for m in members)


def test_resume_starts_from_the_runs_own_config(tmp_path):
    spec = get_competition("cifar-10")
    with pytest.raises(CompeteError, match="nothing to resume"):
        resolve_run(spec, ["debug"], overrides={"resume": True, "runs_dir": str(tmp_path)})
    stored = tmp_path / "cifar-10" / "baseline" / "config.yaml"
    stored.parent.mkdir(parents=True)
    stored.write_text(yaml.safe_dump({"model": {"lr": 0.7}, "n_folds": 3}))
    run = resolve_run(spec, [], overrides={"resume": True, "runs_dir": str(tmp_path), "trainer.max_epochs": 9})
    assert (run.cfg.model.lr, run.cfg.n_folds, run.cfg.trainer.max_epochs) == (0.7, 3, 9)


def test_a_fast_preset_takes_its_gpu_settings_on_a_gpu_and_the_users_options_win():
    """`on_gpu` applies when the Trainer will run on a GPU (resolving builds no Trainer, so "gpu" can be
    named on a CPU machine here); a dotted option given stays as given, from the command line too."""
    cpu = api.resolve("cifar-10", config="fast", overrides={"trainer.accelerator": "cpu"})
    gpu = api.resolve("cifar-10", config="fast", overrides={"trainer.accelerator": "gpu"})
    assert (cpu.cfg.model.backbone, cpu.cfg.data.batch_size, cpu.cfg.model.lr) == ("resnet9_narrow", 128, 0.2)
    assert (gpu.cfg.model.backbone, gpu.cfg.data.batch_size, gpu.cfg.model.lr) == ("resnet9", 512, 0.4)
    mine = from_command_line("cifar-10", ["--config", "fast", "--trainer.accelerator=gpu", "--data.batch_size=256"])
    assert (mine.cfg.model.backbone, mine.cfg.data.batch_size) == ("resnet9", 256)
    leaves = api.resolve("classify-leaves", config="lite0", overrides={"trainer.accelerator": "gpu"})
    assert (leaves.cfg.data.image_size, leaves.cfg.data.batch_size) == (224, 128)
    # A budget's smaller images follow the device's size: 112 -> 80 px on a CPU, 224 -> 160 on a GPU.
    assert leaves.cfg.budget_ladder == [{"data.image_size": 160}]
    assert api.resolve("classify-leaves", config="lite0", overrides={"trainer.accelerator": "cpu"}).cfg.budget_ladder == [
        {"data.image_size": 80}]
    with pytest.raises(CompeteError, match=r"`on_gpu`: .*no_such_setting"):
        api.resolve("cifar-10", config="fast", overrides={"trainer.accelerator": "gpu",
                                                          "on_gpu": {"model.no_such_setting": 1}})  # fmt: skip
