"""Errors the CLI turns into one clear line on stderr and a non-zero exit code."""

from __future__ import annotations

import sys


class CompeteError(Exception):
    """A problem the user can fix: bad input, a missing file, a conflicting run.

    The message must name the file, column, row or path at fault.
    """

    exit_code = 1


class DataError(CompeteError):
    """The competition files are missing, malformed or inconsistent."""

    exit_code = 3


class RunExistsError(CompeteError):
    """The run directory already holds a run that would be overwritten."""

    exit_code = 4


class SubmissionError(CompeteError):
    """A submission CSV that Kaggle would reject (or score as garbage)."""

    exit_code = 5


def warn(message: str) -> None:
    """A problem the run works around: one line on stderr, from the main process only."""
    from competitions.artifacts import process_rank

    if process_rank() == 0:
        print(f"warning: {message}", file=sys.stderr, flush=True)
