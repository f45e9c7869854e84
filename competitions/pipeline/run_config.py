"""One run's settings, resolved once, from objects: the RunConfig every verb's engine takes.

The layers of a fit's settings, later ones winning: the family's base presets (``_common.yaml``,
``FAMILY.yaml`` or ``default.yaml``), the run's own config.yaml when resuming, the ``config`` files or
preset names in order, then the dotted ``overrides``. The command line (competitions/commands) and the
Python API (competitions/api.py) both end here with the same values; nothing below reads the command line.
A config naming ``stack:`` makes the run a stack of families (pipeline/stack.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonargparse import ArgumentError, ArgumentParser, Namespace

from competitions.core.errors import CompeteError, OptionError
from competitions.core.layout import DEFAULT_RUNS_DIR, RunLayout
from competitions.core.settings import flatten, nest
from competitions.core.spec import CompetitionSpec
from competitions.pipeline.fit_parser import fit_parser, resolve_input_defaults

DEFAULT_EXPERIMENT = "baseline"


@dataclass(frozen=True)
class RunConfig:
    """The settings of one run: its family, the parser of that family's options and the parsed values
    (``cfg``), what they were resolved from (``configs``, ``overrides``) and how it was asked for."""

    spec: CompetitionSpec
    family: str | None
    configs: tuple[Path, ...]
    overrides: dict[str, Any]  # flat, dotted keys
    parser: ArgumentParser
    cfg: Namespace
    command: str
    stack: dict | None = None

    def replace(self, *, family: str | None = None, configs: Iterable[str | Path] | None = None,
                **overrides: Any) -> RunConfig:  # fmt: skip
        """The same run with another family, other config files or more overrides (a stack's member)."""
        return resolve_run(self.spec, self.configs if configs is None else configs, family or self.family,
                           {**self.overrides, **overrides}, self.command)  # fmt: skip


def read_yaml_quietly(path: Path) -> dict | None:
    """A config file's mapping, or None when it is not one (parsing it then says what is wrong)."""
    try:
        loaded = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return None
    return loaded if isinstance(loaded, dict) else None


def config_path(spec: CompetitionSpec, value: str | Path) -> Path:
    """A preset name (debug, default, ...; even when a folder of that name exists) or a YAML file."""
    text = str(value)
    if not text.endswith((".yaml", ".yml")) and spec.config_dir is not None and spec.preset_path(text).exists():
        return spec.preset_path(text)
    if Path(text).is_file():
        return Path(text)
    raise CompeteError(f"`config` {text}: no such file, and not a {spec.slug} preset ({', '.join(spec.presets())})")


def split_stack(spec: CompetitionSpec, paths: list[Path]) -> tuple[dict | None, list[Path]]:
    """(the stack settings of a config naming ``stack:``, the other configs)."""
    settings, rest = None, []
    for path in paths:
        loaded = read_yaml_quietly(path) or {}
        if "stack" not in loaded or not spec.families:
            rest.append(path)
            continue
        settings = loaded["stack"] or {}
        families = settings.get("families") or []
        unknown = [f for f in [*families, *(settings.get("configs") or {})] if f not in spec.families]
        if not families or unknown:
            raise CompeteError(f"{path}: stack.families must name {spec.slug} model families "
                               f"({', '.join(spec.families) or 'none'}); got {families!r}")  # fmt: skip
    return settings, rest


def stored_config(spec: CompetitionSpec, flat: Mapping[str, Any]) -> Path | None:
    """With ``resume``: the run's own config.yaml (it must exist)."""
    if not flat.get("resume"):
        return None
    layout = RunLayout.of(flat.get("runs_dir") or DEFAULT_RUNS_DIR, spec.slug, flat.get("experiment") or DEFAULT_EXPERIMENT)
    if not layout.config.exists():
        raise CompeteError(f"`resume`: {layout.config} does not exist; nothing to resume")
    return layout.config


def named_family(spec: CompetitionSpec, configs: Iterable[str | Path]) -> str | None:
    """The family the last of these configs that names one names."""
    for path in reversed([config_path(spec, c) for c in configs]):
        family = (read_yaml_quietly(path) or {}).get("family")
        if family:
            return family
    return None


def choose_family(spec: CompetitionSpec, family: str | None, configs: Iterable[Path], stored: Path | None) -> str | None:
    """The model family: the one asked for, else the last config naming one, else the resumed run's,
    else the default preset's, else the first of the spec's."""
    if not spec.families:
        return None
    family = family or named_family(spec, configs)
    if family is None and stored is not None:
        family = (read_yaml_quietly(stored) or {}).get("family")
    for path in spec.base_presets(None) if family is None else []:
        family = (read_yaml_quietly(path) or {}).get("family", family)
    family = family or next(iter(spec.families))
    if family not in spec.families:
        raise OptionError(f"`family` {family!r} is not a {spec.slug} model family (choices: {', '.join(spec.families)})")
    return family


def options_parser(spec: CompetitionSpec, configs: Iterable[str | Path] = (), family: str | None = None,
                   settings: Mapping[str, Any] | None = None, check: bool = True, **parser_options: Any) -> ArgumentParser:  # fmt: skip
    """The parser of a run's options for the family these configs and settings choose (for --help and
    for reading a command line's overrides); ``check``: refuse a spec with FILL_ME fields first."""
    if check and spec.unfilled:
        from competitions.catalog.spec_files import check_filled

        check_filled(spec)
    stack, paths = split_stack(spec, [config_path(spec, c) for c in configs])
    stored = stored_config(spec, settings or {}) if stack is None else None
    family = choose_family(spec, family, paths, stored)
    return fit_parser(spec, family=family, **parser_options)


def resolve_run(spec: CompetitionSpec, configs: Iterable[str | Path] = (), family: str | None = None,
                overrides: Mapping[str, Any] | None = None, command: str | None = None) -> RunConfig:  # fmt: skip
    """The RunConfig of ``spec`` from presets or files and dotted overrides (see the module's docstring)."""
    if spec.unfilled:  # a spec file with FILL_ME: nothing is resolved (or created) before it is settled
        from competitions.catalog.spec_files import check_filled

        check_filled(spec)
    flat = {key: str(value) if isinstance(value, os.PathLike) else value for key, value in flatten(overrides or {}).items()}
    family = flat.pop("family", None) or family
    stack, paths = split_stack(spec, [config_path(spec, c) for c in configs])
    if stack is not None:  # the blend is named EXPERIMENT (default: stack); resuming is its members' business
        flat.setdefault("experiment", "stack")
    stored = stored_config(spec, flat) if stack is None else None
    family = choose_family(spec, family, paths, stored)
    parser = fit_parser(spec, family=family)
    cfg = parser.get_defaults()
    layers = [*([(stored, read_yaml_quietly(stored) or {})] if stored else []),
              *((p, _config_values(p)) for p in paths), (None, nest(flat))]  # fmt: skip
    for source, values in layers:
        try:
            cfg = parser.parse_object(values, namespace=cfg)
        except ArgumentError as err:
            if source is None:  # the overrides: the command line's parser words these itself
                raise
            raise OptionError(f"{source}: {' '.join(str(err).split())}") from None
    cfg = apply_on_gpu(parser, cfg, flat)
    if family is not None:
        cfg.family = family
    resolve_input_defaults(spec, cfg)
    command = command or f"compete fit {spec.slug} (Python API)"
    return RunConfig(spec, family, tuple(paths), flat, parser, cfg, command, stack)


def apply_on_gpu(parser, cfg, flat: Mapping[str, Any]):
    """A preset's ``on_gpu`` settings, when the Trainer will run on a GPU (trainer.accelerator gpu, or auto with
    one there), over the preset's; the dotted options given (``flat``) still win."""
    from competitions.pipeline.fit_parser import on_gpu

    settings = cfg.get("on_gpu") or {}
    trainer = cfg.get("trainer")
    if not settings or trainer is None or not on_gpu(trainer.get("accelerator", "auto")):
        return cfg
    try:
        cfg = parser.parse_object(nest({k: v for k, v in settings.items() if k not in flat}), namespace=cfg)
    except ArgumentError as err:
        raise OptionError(f"`on_gpu`: {' '.join(str(err).split())}") from None
    return cfg


def _config_values(path: Path) -> dict:
    loaded = read_yaml_quietly(path)
    if loaded is None:
        raise CompeteError(f"{path}: not a YAML mapping of settings")
    return {k: v for k, v in loaded.items() if k != "config"}
