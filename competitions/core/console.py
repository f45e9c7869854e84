"""The one console every message goes through: rich, on stderr, and silent on ranks other than 0.

Under DDP every process runs the same code; only global rank 0 speaks, so a 4-GPU run prints each
line once. Results a command prints for the user (tables) go to stdout through ``out``; progress
and notes go to stderr, so ``compete runs SLUG > table.txt`` captures the table alone.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from competitions.core.ranks import is_global_zero

# Width of a console that is not a terminal (a log file, CI, a notebook cell's captured output).
PIPE_WIDTH = 200


def _console(stderr: bool):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=None if stream.isatty() else PIPE_WIDTH, highlight=False, soft_wrap=True)


def info(message: str) -> None:
    """A progress line or a note (stderr, rank 0 only)."""
    if is_global_zero():
        print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """A problem the run works around: one line on stderr, from rank 0 only."""
    info(f"warning: {message}")


_WARNED: set[str] = set()


def warn_once(message: str) -> None:
    """``warn``, once per process for the same message (a setting every fold's Trainer reads again)."""
    if message not in _WARNED:
        _WARNED.add(message)
        warn(message)


def out(message: str) -> None:
    """A result for the user (stdout, rank 0 only)."""
    if is_global_zero():
        print(message, flush=True)


def show(renderable, stderr: bool = False) -> None:
    """A rich table or text, on stdout (results) or stderr (reports inside a long command); rank 0 only."""
    if is_global_zero():
        _console(stderr).print(renderable)


@contextlib.contextmanager
def progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)`` for long one-off work: a bar on a terminal, a start and an end line otherwise."""
    if not is_global_zero():
        yield lambda n: None
        return
    if not sys.stderr.isatty():
        info(f"{description}: {total} ...")
        yield lambda n: None
        info(f"{description}: done")
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=_console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def cv_text(spec, cv: dict | None) -> str:
    """A run's CV score in words (a ledger entry's ``cv``)."""
    if not cv:
        return "no CV score (not a compete run)"
    return f"CV {spec.metric.name} {cv['mean']:.4f} ± {cv['std']:.4f} (pooled OOF {cv['oof']:.4f})"


def describe(spec, entry: dict) -> str:
    """A submission ledger entry in one line: the file, its hash, its CV and message."""
    size = f"{entry['bytes']} bytes, " if entry.get("bytes") is not None else ""
    return (f"{entry['file']} ({size}sha256 {entry['sha256'][:12]}), {cv_text(spec, entry['cv'])}, "
            f"message {entry['message']!r}")  # fmt: skip
