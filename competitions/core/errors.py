"""The project's exceptions. Library code raises them in its own terms; the command layer turns each
into one line on stderr and the exit code below, the Python API lets them propagate."""

from __future__ import annotations


class CompeteError(Exception):
    """A problem the user can fix: bad input, a missing file, a conflicting run.

    The message must name the file, column, row or path at fault.
    """

    exit_code = 1


class OptionError(CompeteError):
    """An option with a value the command cannot take (as argparse's own errors: exit code 2)."""

    exit_code = 2


class BudgetError(OptionError):
    """A `budget` too short for the smallest plan (said before anything trains)."""


class DataError(CompeteError):
    """The competition files are missing, malformed or inconsistent."""

    exit_code = 3


class RunExistsError(CompeteError):
    """The run directory already holds a run that would be overwritten."""

    exit_code = 4


class SubmissionError(CompeteError):
    """A submission CSV that Kaggle would reject (or score as garbage)."""

    exit_code = 5


class KaggleError(CompeteError):
    """Kaggle refused, failed or could not be reached."""

    exit_code = 6
