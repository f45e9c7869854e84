"""What every verb's parser shares."""

from __future__ import annotations

from jsonargparse import ArgumentParser

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
    parser.add_argument("--runs-dir", type=str, default="runs", help=help)
