"""One process at a time per run: creating or resuming an experiment holds RUNS_DIR/SLUG/.EXPERIMENT.lock;
resuming named folds (`--folds 1 --resume`, one job of a SLURM array) holds only those folds' locks
(RUN/.fold<k>.lock), so jobs training other folds of the run go on at the same time.

The lock is an OS file lock (filelock): it is released when its process ends, however it ends (a
``kill -9`` included), so it never goes stale. Beside it, a small JSON file names the holder (pid,
host, start time, command) so a second `compete fit` of the same experiment can say who has it.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from competitions.core.artifacts import read_json, write_json
from competitions.core.errors import CompeteError, RunExistsError


def lock_paths(run_root: Path) -> tuple[Path, Path]:
    return run_root.parent / f".{run_root.name}.lock", run_root.parent / f".{run_root.name}.holder.json"


@contextlib.contextmanager
def run_lock(run_root: Path, command: str, busy: str = "is in use by another compete fit",
             then: str = "wait for it to end, or choose another `experiment` name", wait: float = 0) -> Iterator[None]:  # fmt: skip
    """Hold the run's lock (or a fold's: ``run_root`` its folder) for the block; a RunExistsError naming the
    holder when another process has it (after ``wait`` seconds)."""
    from filelock import FileLock, Timeout

    lock_file, holder_file = lock_paths(run_root)
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_file))
        lock.acquire(timeout=wait)
    except Timeout:
        raise RunExistsError(f"{run_root} {busy} ({holder(holder_file)}); {then}") from None
    except OSError as err:
        raise CompeteError(f"{lock_file.parent}: cannot write there ({err.strerror}); choose a writable `runs_dir`") from None
    try:
        write_json(holder_file, {"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": datetime.now(UTC).isoformat(timespec="seconds"),
                                 "command": command})  # fmt: skip
        yield
    finally:
        lock.release()


def holder(holder_file: Path) -> str:
    try:
        info = read_json(holder_file)
    except (OSError, ValueError):
        return "holder unknown"
    return f"pid {info['pid']} on {info['host']} since {info['since']}: {info['command']}"


def fold_lock(fold_dir: Path, command: str):
    """Held while a fold trains (by a fit, a fold-parallel worker, or one job of several training a run's
    folds at once): RUN/.fold<k>.lock beside the fold's folder."""
    return run_lock(fold_dir, command, busy="is being trained by another compete fit",
                    then="wait for it to end, or leave that fold out of `folds`")  # fmt: skip
