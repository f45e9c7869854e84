"""When a `--budget` starts counting: a shell's `compete fit` from its process's start (the imports and
data checks before the fit are part of what the user waits for); a fit called from Python from the call."""

from __future__ import annotations

import time

_COMMAND_STARTED: list[float] = []  # set once by the command line, taken by the first fit that asks


def count_from_process_start() -> None:
    """This process runs one `compete` command: its budget counts from the process's start."""
    import psutil

    _COMMAND_STARTED[:] = [psutil.Process().create_time()]


def budget_start() -> float:
    """When a budget starts: the command's process start the first time it is asked for (the outer fit or
    stack), else now (a stack's members; a fit called from Python)."""
    return _COMMAND_STARTED.pop() if _COMMAND_STARTED else time.time()
