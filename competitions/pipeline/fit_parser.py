"""The parser of a fit's settings, and what the Trainer is built from.

One jsonargparse parser per competition and family holds the run's own options, every
``lightning.Trainer`` argument (``trainer.*``), the model's (``model.*``) and the DataModule's
(``data.*``). pipeline/run_config.py resolves presets, config files and overrides with it into one
RunConfig, so a preset, a config.yaml of an earlier run (``resume``), a command line and a notebook's
``overrides={...}`` mean the same thing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Literal

import yaml
from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from competitions.core.errors import OptionError
from competitions.core.layout import DEFAULT_DATA_DIR, DEFAULT_RUNS_DIR
from competitions.core.spec import CompetitionSpec
from competitions.pipeline.cpu_precision import cpu_bf16_faster
from competitions.pipeline.factory import datamodule_class, model_class
from competitions.pipeline.fit_budget import device_ids

# Trainer arguments the runner owns (one fresh Trainer per fold, its own checkpoints).
TRAINER_SKIP = {"default_root_dir", "enable_checkpointing", "plugins"}
MODEL_SKIP = {"num_classes", "class_names", "num_features", "target_mean", "target_std", "log_target", "multi_label"}
DATA_SKIP = {"data_dir", "cache_dir"}
# The trainer options `compete fit SLUG --help` lists; --help-all lists every one.
COMMON_TRAINER_OPTIONS = (
    "accelerator", "devices", "strategy", "precision", "max_epochs", "accumulate_grad_batches",
    "gradient_clip_val", "limit_train_batches", "limit_val_batches", "limit_predict_batches",
    "fast_dev_run", "deterministic", "callbacks", "logger", "sync_batchnorm",
)  # fmt: skip
RUN_ONLY_KEYS = ("config", "folds", "resume", "force", "history", "help_all", "n", "out", "fold_parallel")  # per invocation: kept in meta.command, not in config.yaml


def fit_parser(
    spec: CompetitionSpec,
    prog: str | None = None,
    all_trainer_options: bool = True,
    extra: Callable | None = None,
    run_options: bool = True,
    description: str | None = None,
    family: str | None = None,
) -> ArgumentParser:
    """The parser of a fit's configuration. For a readable --help: ``all_trainer_options=False`` lists
    only the common trainer options, ``run_options=False`` (compete show) leaves out the options of a
    training run (experiment, folds, resume, trainer, ...). Parsing always takes every one, so any
    preset or config.yaml parses."""
    parser = ArgumentParser(
        prog=prog or f"compete fit {spec.slug}",
        description=description or (
            f"Train k-fold models for {spec.slug}. Settings come from the preset "
            f"{spec.preset_path('default').name} ({spec.config_dir}), then --config files, then "
            "dotted overrides, e.g. --trainer.devices=4 --trainer.strategy=ddp --model.lr=0.05. "
            "Lightning callbacks and loggers are added with --trainer.callbacks+=NAME "
            "(e.g. LearningRateMonitor, StochasticWeightAveraging) and --trainer.logger+=NAME."
        ),
        default_config_files=[str(p) for p in spec.base_presets(family)],
        exit_on_error=False,
    )
    add = parser.add_argument
    add("--config", action=ActionConfigFile, help=f"a YAML file, or a preset name: {', '.join(spec.presets())}")
    if spec.families:
        add("--family", type=Literal[tuple(spec.families)], default=family or next(iter(spec.families)),
            help="the model family (its preset NAME.yaml is the starting point; --config NAME does the same)")  # fmt: skip
    add("--help-all", action="store_true", help="show every option, including all of lightning.Trainer's, and exit")
    add("--data-dir", type=str, default=f"{DEFAULT_DATA_DIR}/{spec.slug}", help="the competition folder as Kaggle ships it")
    add("--runs-dir", type=str, default=DEFAULT_RUNS_DIR, help="root of all runs")
    add("--seed", type=int, default=42, help="seed of the fold split and of training (fold k uses seed+k)")
    if extra is not None:  # a verb's own options (compete show: --n, --out)
        extra(parser)
    if run_options:
        add_run_options(parser, spec, all_trainer_options)
    parser.add_class_arguments(model_class(spec, family), "model", skip=MODEL_SKIP, instantiate=False, sub_configs=True)
    parser.add_class_arguments(datamodule_class(spec), "data", skip=DATA_SKIP, instantiate=False, sub_configs=True)
    return parser


def add_budget_options(add) -> None:
    """--budget and how its plan steps down; --on-gpu (a preset's settings for a GPU)."""
    add("--budget", type=str | None, default=None,
        help="a wall-clock budget for the whole run, predict included (e.g. 10m, 1h30m): a short probe times the "
        "steps, then the epochs (and so the LR schedule) are set to fit; overrides trainer.max_epochs")  # fmt: skip
    add("--budget-min-epochs", type=int | None, default=None,
        help="with --budget: the fewest epochs per fold worth training; below it the plan trains 3 of the folds, "
        "then a single hold-out fold (default: the preset's trainer.max_epochs), then the budget ladder's smaller "
        "models (default: below four fifths of them)")  # fmt: skip
    add("--budget-ladder", type=list[dict] | None, default=None,
        help="with --budget: smaller recipes to step down to, in order, when even one fold gets fewer than "
        "budget_min_epochs, each a dict of model.* settings or (images) a smaller data.image_size, on top of the "
        "rung before, e.g. '[{model.backbone: resnet9_tiny}, {data.image_size: 48}]'")  # fmt: skip
    add("--on-gpu", type=dict | None, default=None,
        help="dotted settings that replace the preset's when the fit runs on a GPU (the `fast` presets: a wider "
        "net, bigger batches); options given on the command line still win")  # fmt: skip


def add_run_options(parser: ArgumentParser, spec: CompetitionSpec, all_trainer_options: bool = True) -> None:
    """The options of a training run: its name, folds, resuming, early stopping, logging, the Trainer."""
    import lightning as L

    add = parser.add_argument
    add("--experiment", type=str, default="baseline", help="run name: artifacts go to RUNS_DIR/SLUG/EXPERIMENT")
    add("--folds", type=str, default="all", help="folds to train: all, or e.g. 0,2")
    add("--n-folds", type=int, default=5, help="k of k-fold (must match an existing folds.csv)")
    add("--n-repeats", type=int, default=1,
        help="repeated k-fold: R splits of k folds (folds.csv columns fold, fold_r1, ...; run fold j is fold j%%k "
        "of repeat j//k); OOF predictions averaged over the repeats, test predictions over all k*R models")  # fmt: skip
    add("--resume", action="store_true", help="continue an existing run: skip finished folds, resume others from last.ckpt")
    add("--force", action="store_true",
        help="with --resume: allow changes to model.*, data.*, n_folds, n_repeats or seed (the folds would not be comparable)")  # fmt: skip
    add_budget_options(add)
    add("--fold-parallel", type=int | None, default=None,
        help="train the folds at once, one per device of trainer.devices (N: N processes per device, for small "
        "networks); each worker's output goes to fold<k>/worker.log")  # fmt: skip
    add("--patience", type=int | None, default=None,
        help=f"early stopping: end a fold after this many validation rounds without a better {spec.monitor}")  # fmt: skip
    add(
        "--logger",
        type=Literal["csv", "wandb"],
        default="csv",
        help="csv: fold<k>/logs/metrics.csv only; wandb: also Weights & Biases (project = competition, group = "
        "experiment, one run per fold + a cv run; offline under RUN_DIR/wandb without a W&B login)",
    )
    add("--meta", type=dict | None, default=None, help="(written by compete: git commit, versions)")
    add("--history", type=list | None, default=None, help="(written by compete: every fit of the run)")
    skip = set(TRAINER_SKIP)
    if not all_trainer_options:
        import inspect

        skip |= set(inspect.signature(L.Trainer.__init__).parameters) - set(COMMON_TRAINER_OPTIONS)
    parser.add_class_arguments(L.Trainer, "trainer", skip=skip, instantiate=False, sub_configs=True)


def resolve_input_defaults(spec: CompetitionSpec, cfg: Namespace) -> None:
    """data.image_size, data.mean and data.std left unset come from a pretrained backbone's timm
    ``pretrained_cfg`` (a switch of backbone brings its own statistics), else from the dataset; the
    resolved numbers are what config.yaml records and predict uses."""
    data, model = cfg.get("data"), cfg.get("model")
    if data is None or model is None or "mean" not in data or "backbone" not in model:
        return
    source = datamodule_class(spec)
    image_size, mean, std = source.default_image_size, source.default_mean, source.default_std
    if model.get("pretrained") or model.get("pretrained_path"):
        import timm

        pretrained = timm.get_pretrained_cfg(model.backbone)
        if pretrained is not None:
            image_size, mean, std = pretrained.input_size[-1], pretrained.mean, pretrained.std
    for key, value in (("image_size", image_size), ("mean", list(mean)), ("std", list(std))):
        if data.get(key) is None:
            data[key] = value


def config_dict(parser: ArgumentParser, cfg: Namespace) -> dict:
    """The resolved config as plain YAML data; it parses back with --config (used by --resume)."""
    out = yaml.safe_load(parser.dump(cfg, skip_check=True))
    for key in RUN_ONLY_KEYS:
        out.pop(key, None)
    return out


def _instantiate(spec: Any) -> Any:
    """A ``class_path``/``init_args`` entry (as jsonargparse parses ``--trainer.callbacks+=NAME``) -> the object."""
    if not isinstance(spec, (dict, Namespace)):
        return spec
    spec = spec.as_dict() if isinstance(spec, Namespace) else spec
    module, _, name = spec["class_path"].rpartition(".")
    return getattr(importlib.import_module(module), name)(**(spec.get("init_args") or {}))


def supported_precision(precision, accelerator) -> str | None:
    """A preset's mixed precision where the device has it: bf16-mixed on a GPU without bfloat16 (before
    Ampere) becomes 16-mixed; on a CPU, 16-mixed becomes 32-true (not supported there) and so does
    bf16-mixed unless the CPU computes bfloat16 natively and a probe measured it faster
    (pipeline/cpu_precision.py: CPU autocast is slower than float32 on most CPUs). Anything else is kept
    as written."""
    text = str(precision) if precision is not None else None
    if text not in ("bf16-mixed", "16-mixed"):
        return precision
    if not on_gpu(accelerator):
        return "bf16-mixed" if text == "bf16-mixed" and cpu_bf16_faster() else "32-true"
    if text == "bf16-mixed" and not native_bf16():
        return "16-mixed"
    return text


def on_gpu(accelerator) -> bool:
    import torch

    return accelerator in ("gpu", "cuda") or (accelerator in (None, "auto") and torch.cuda.is_available())


def deterministic_setting(value, accelerator):
    """``trainer.deterministic``: true on a GPU becomes "warn" (adaptive pooling's backward and others have no
    deterministic CUDA kernel, and torch would raise in the middle of training), said once per fit."""
    if value is True and on_gpu(accelerator):
        from competitions.core.console import warn_once

        warn_once("trainer.deterministic true on a GPU: some CUDA kernels (adaptive pooling's backward, ...) have no "
             "deterministic form; running with deterministic 'warn' (torch names each one it cannot repeat exactly)")  # fmt: skip
        return "warn"
    return value


def native_bf16() -> bool:
    """Whether the GPU computes in bfloat16 (Ampere, compute capability 8.0, and later). torch's
    is_bf16_supported() also counts emulation, which V100s, T4s and P100s run many times slower."""
    import torch

    return torch.cuda.get_device_capability() >= (8, 0)


def trainer_kwargs(cfg: Namespace) -> tuple[dict[str, Any], list, list]:
    """(Trainer arguments, the user's callbacks, the user's loggers): the lists are instantiated
    fresh for every fold, and added next to the ones `compete` adds."""
    kwargs = cfg.trainer.as_dict()
    kwargs["precision"] = supported_precision(kwargs.get("precision"), kwargs.get("accelerator"))
    if "deterministic" in kwargs:
        kwargs["deterministic"] = deterministic_setting(kwargs["deterministic"], kwargs.get("accelerator"))
    callbacks = kwargs.pop("callbacks", None) or []
    loggers = kwargs.pop("logger", None)
    loggers = [] if loggers in (None, True, False) else loggers
    as_list = lambda x: x if isinstance(x, list) else [x]  # noqa: E731
    return kwargs, [_instantiate(c) for c in as_list(callbacks)], [_instantiate(x) for x in as_list(loggers)]


FORKING_STRATEGIES = ("ddp_spawn", "ddp_notebook", "ddp_fork", "spawn", "fork")


def check_strategy(strategy, devices, accelerator="auto") -> None:
    """Refuse what cannot work: Lightning returns no predictions from spawned or forked processes (the OOF and
    test predictions would be empty), and in a notebook several devices always run that way."""
    name = str(strategy or "auto").lower()
    forking = name.startswith(FORKING_STRATEGIES)
    if not forking and name == "auto" and len(device_ids(devices, accelerator)) > 1:
        from lightning.fabric.utilities.imports import _IS_INTERACTIVE

        forking = _IS_INTERACTIVE
    if forking:
        raise OptionError(
            f"`trainer.strategy` {name} with `trainer.devices` {devices}: Lightning returns no predictions from "
            "spawned or forked processes (and a notebook runs several devices that way); use strategy ddp from a "
            "terminal (in a notebook, a shell cell: !compete fit ...), or one device"
        )
