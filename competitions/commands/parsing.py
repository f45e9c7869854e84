"""What every verb's parser shares, and the one place a run's command line becomes objects.

A run's command line (`compete fit|tune|show|demo`) is read in two steps: the options that choose the
parser (``--config`` files and presets, in order; ``--family``; ``--experiment``, ``--runs-dir`` and
``--resume``, which find a run to resume) are looked at first; then the family's parser (from the API)
reads every option given into a nested dict of overrides. The API resolves both into one RunConfig,
exactly as it does for a notebook's keyword arguments.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jsonargparse import ArgumentParser

from competitions import api
from competitions.core.layout import DEFAULT_RUNS_DIR
from competitions.core.spec import CompetitionSpec


def verb_parser(verb: str, spec: CompetitionSpec, description: str) -> ArgumentParser:
    """The parser of `compete VERB SLUG`: errors raise (and become one line and exit 2), never exit()."""
    return ArgumentParser(prog=f"compete {verb} {spec.slug}", description=description, exit_on_error=False)


def add_data_dir(parser: ArgumentParser, spec: CompetitionSpec) -> None:
    parser.add_argument(
        "--data-dir",
        type=str | None,
        default=None,
        help=f"the competition folder (default: the run's, else data/{spec.slug})",
    )


def add_runs_dir(parser: ArgumentParser, help: str = "root of all runs") -> None:
    parser.add_argument("--runs-dir", type=str, default=DEFAULT_RUNS_DIR, help=help)


@dataclass
class RunArguments:
    """A run's command line, read: the configs and family that choose its parser, and every other option
    given, as the nested dict the API takes as ``overrides``."""

    configs: list[str]
    family: str | None
    overrides: dict[str, Any] = field(default_factory=dict)
    command: str = ""

    def pop(self, *names: str) -> dict[str, Any]:
        """Take a verb's own options (tune's trials, show's n, ...) out of the overrides."""
        return {name: self.overrides.pop(name, None) for name in names}


def _first_look(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """(the options that choose the parser, argv without --config/--family/--help)."""
    peek = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    peek.add_argument("--config", action="append", default=[])
    peek.add_argument("--family", default=None)
    peek.add_argument("-h", "--help", action="store_true")
    peek.add_argument("--help-all", action="store_true")
    known, rest = peek.parse_known_args(argv)
    finder = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    finder.add_argument("--experiment", default=None)
    finder.add_argument("--runs-dir", dest="runs_dir", default=None)
    finder.add_argument("--resume", action="store_true")
    found, _ = finder.parse_known_args(rest)
    known.settings = {k: v for k, v in vars(found).items() if v not in (None, False)}
    return known, rest


def read_run_arguments(spec: CompetitionSpec, argv: list[str], verb: str, *, extra: Callable | None = None,
                       description: str | None = None, help_run_options: bool | None = None,
                       choose_family: Callable | None = None) -> RunArguments:  # fmt: skip
    """Read a run's command line (``extra``: the verb's own options; ``choose_family(configs, family)``: the
    verb's default family); --help prints the family's options and exits."""
    argv = [*argv]
    for i, word in enumerate(argv):  # a bare --fold-parallel: one process per device
        if word == "--fold-parallel" and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            argv[i] = "--fold-parallel=1"
    known, rest = _first_look(argv)
    if choose_family is not None:
        known.family = choose_family(known.config, known.family)
    prog = f"compete {verb} {spec.slug}"
    if known.help or known.help_all:  # print the help and stop, as argparse does
        run_options = extra is None if help_run_options is None else help_run_options
        api.options_parser(spec.slug, config=known.config, family=known.family, settings=known.settings, prog=prog,
                           all_trainer_options=known.help_all, extra=extra, run_options=run_options,
                           description=description, check=False).print_help()  # fmt: skip
        raise SystemExit(0)
    parser = api.options_parser(spec.slug, config=known.config, family=known.family, settings=known.settings,
                                prog=prog, extra=extra)  # fmt: skip
    overrides = parser.parse_args(rest, defaults=False).as_dict()  # only the options given
    return RunArguments(known.config, known.family, overrides, shlex.join(["compete", verb, spec.slug, *argv]))
