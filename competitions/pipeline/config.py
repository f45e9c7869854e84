"""The configuration of a fit: YAML presets, then --config files, then dotted overrides.

One jsonargparse parser per competition holds the run's own options, every ``lightning.Trainer``
argument (``trainer.*``), the model's (``model.*``) and the DataModule's (``data.*``). `compete fit`,
`compete show` and the Python API's ``fit`` all parse through it, so a preset, a config.yaml of an
earlier run (``--resume``) and a notebook's ``overrides={...}`` mean the same thing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from competitions.core.errors import CompeteError, OptionError
from competitions.core.layout import RunLayout
from competitions.core.spec import CompetitionSpec
from competitions.pipeline.factory import datamodule_class, model_class

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
RUN_ONLY_KEYS = ("config", "folds", "resume", "force", "history", "help_all", "n", "out")  # per invocation: kept in meta.command, not in config.yaml


def resolve_presets(spec: CompetitionSpec, argv: list[str]) -> list[str]:
    """Let ``--config NAME`` name one of the competition's bundled presets (debug, default, ...)."""
    out = list(argv)
    for i, arg in enumerate(out):
        value = None
        if arg == "--config" and i + 1 < len(out):
            value, slot = out[i + 1], i + 1
        elif arg.startswith("--config="):
            value, slot = arg.split("=", 1)[1], i
        if value is None:
            continue
        # A bare name (no .yaml) is a preset even when a folder of that name exists (e.g. ./demo).
        is_preset = spec.preset_path(value).exists() and not value.endswith((".yaml", ".yml"))
        if not is_preset and Path(value).is_file():
            continue
        if is_preset:
            path = str(spec.preset_path(value))
            out[slot] = path if slot != i else f"--config={path}"
        else:
            raise CompeteError(
                f"`config` {value}: no such file, and not a {spec.slug} preset ({', '.join(spec.presets())})"
            )
    return out


def resolve_family(spec: CompetitionSpec, argv: list[str], stored: dict | None = None) -> str | None:
    """The model family a fit's argv (presets resolved) asks for: the last ``--family``, else the last
    config file naming one, else the run's own (``stored``, on resume), else the default preset's."""
    if not spec.families:
        return None
    family = (stored or {}).get("family")
    for path in spec.base_presets(None) if family is None else []:
        family = (read_yaml_quietly(path) or {}).get("family", family)
    for i, arg in enumerate(argv):
        if arg == "--family" and i + 1 < len(argv):
            family = argv[i + 1]
        elif arg.startswith("--family="):
            family = arg.split("=", 1)[1]
        elif arg == "--config" and i + 1 < len(argv) or arg.startswith("--config="):
            path = Path(argv[i + 1] if arg == "--config" else arg.split("=", 1)[1])
            family = (read_yaml_quietly(path) or {}).get("family", family)
    family = family or next(iter(spec.families))
    if family not in spec.families:
        raise OptionError(f"`family` {family!r} is not a {spec.slug} model family (choices: {', '.join(spec.families)})")
    return family


def read_yaml_quietly(path: Path) -> dict | None:
    """A config file's mapping, or None when it is not one (the parser then says what is wrong)."""
    try:
        loaded = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return None
    return loaded if isinstance(loaded, dict) else None


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
    add("--data-dir", type=str, default=f"data/{spec.slug}", help="the competition folder as Kaggle ships it")
    add("--runs-dir", type=str, default="runs", help="root of all runs")
    add("--seed", type=int, default=42, help="seed of the fold split and of training (fold k uses seed+k)")
    if extra is not None:  # a verb's own options (compete show: --n, --out)
        extra(parser)
    if run_options:
        add_run_options(parser, spec, all_trainer_options)
    parser.add_class_arguments(model_class(spec, family), "model", skip=MODEL_SKIP, instantiate=False, sub_configs=True)
    parser.add_class_arguments(datamodule_class(spec), "data", skip=DATA_SKIP, instantiate=False, sub_configs=True)
    return parser


def add_run_options(parser: ArgumentParser, spec: CompetitionSpec, all_trainer_options: bool = True) -> None:
    """The options of a training run: its name, folds, resuming, early stopping, logging, the Trainer."""
    import lightning as L

    add = parser.add_argument
    add("--experiment", type=str, default="baseline", help="run name: artifacts go to RUNS_DIR/SLUG/EXPERIMENT")
    add("--folds", type=str, default="all", help="folds to train: all, or e.g. 0,2")
    add("--n-folds", type=int, default=5, help="k of k-fold (must match an existing folds.csv)")
    add("--resume", action="store_true", help="continue an existing run: skip finished folds, resume others from last.ckpt")
    add("--force", action="store_true",
        help="with --resume: allow changes to model.*, data.*, n_folds or seed (the folds would not be comparable)")  # fmt: skip
    add("--budget", type=str | None, default=None,
        help="a wall-clock budget for the whole run, predict included (e.g. 10m, 1h30m): a short probe times the "
        "steps, then the epochs (and so the LR schedule) are set to fit; overrides trainer.max_epochs")  # fmt: skip
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


def wants_help(argv: list[str]) -> str | None:
    """"help" for -h/--help, "all" for --help-all, else None."""
    if "--help-all" in argv:
        return "all"
    return "help" if any(a in ("-h", "--help") for a in argv) else None


def parse_fit_args(
    spec: CompetitionSpec,
    argv: list[str],
    prog: str | None = None,
    extra: Callable | None = None,
    description: str | None = None,
    help_run_options: bool | None = None,
) -> tuple[ArgumentParser, Namespace]:
    """Parse a fit's argv (presets resolved; with --resume, the run's own config.yaml first). A verb that
    only reads the configuration (``extra``: its own options) lists no training-run options in --help."""
    mode = wants_help(argv)
    if spec.unfilled and mode is None:  # a spec file with FILL_ME: nothing is created before it is settled
        from competitions.catalog.spec_files import check_filled

        check_filled(spec)
    argv = resolve_presets(spec, argv)
    family = resolve_family(spec, argv)
    if mode is not None:  # print the help and stop, as argparse does
        run_options = extra is None if help_run_options is None else help_run_options
        fit_parser(spec, prog, mode == "all", extra, run_options=run_options, description=description,
                   family=family).print_help()  # fmt: skip
        raise SystemExit(0)
    parser = fit_parser(spec, prog, extra=extra, family=family)
    cfg = parser.parse_args(argv)
    if cfg.resume:
        layout = RunLayout.of(cfg.runs_dir, spec.slug, cfg.experiment)
        if not layout.config.exists():
            raise CompeteError(f"`resume`: {layout.config} does not exist; nothing to resume")
        stored_family = resolve_family(spec, argv, read_yaml_quietly(layout.config))
        if stored_family != family:
            parser = fit_parser(spec, prog, extra=extra, family=stored_family)
        # The run's own config first, then whatever the command line overrides.
        cfg = parser.parse_args(["--config", str(layout.config), *argv])
    resolve_input_defaults(spec, cfg)
    return parser, cfg


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


def overrides_to_argv(overrides: dict[str, Any] | None) -> list[str]:
    """``{"trainer.max_epochs": 3, "model": {"lr": 0.1}}`` -> ``["--trainer.max_epochs=3", "--model.lr=0.1"]``."""
    argv = []
    for key, value in _flatten(overrides or {}).items():
        text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
        argv.append(f"--{key}={text}")
    return argv


def _flatten(values: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict) and not {"class_path", "init_args"} & set(value):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


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
    Ampere) becomes 16-mixed; either on a CPU becomes 32-true (CPU autocast is slower than float32 on
    most CPUs, and 16-mixed is not supported there). Anything else is kept as written."""
    text = str(precision) if precision is not None else None
    if text not in ("bf16-mixed", "16-mixed"):
        return precision
    import torch

    on_gpu = accelerator in ("gpu", "cuda") or (accelerator in (None, "auto") and torch.cuda.is_available())
    if not on_gpu:
        return "32-true"
    if text == "bf16-mixed" and not torch.cuda.is_bf16_supported():
        return "16-mixed"
    return text


def trainer_kwargs(cfg: Namespace) -> tuple[dict[str, Any], list, list]:
    """(Trainer arguments, the user's callbacks, the user's loggers): the lists are instantiated
    fresh for every fold, and added next to the ones `compete` adds."""
    kwargs = cfg.trainer.as_dict()
    kwargs["precision"] = supported_precision(kwargs.get("precision"), kwargs.get("accelerator"))
    callbacks = kwargs.pop("callbacks", None) or []
    loggers = kwargs.pop("logger", None)
    loggers = [] if loggers in (None, True, False) else loggers
    as_list = lambda x: x if isinstance(x, list) else [x]  # noqa: E731
    return kwargs, [_instantiate(c) for c in as_list(callbacks)], [_instantiate(x) for x in as_list(loggers)]
