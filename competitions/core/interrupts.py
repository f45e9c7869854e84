"""Ctrl-C and `kill` (SIGTERM), as the command line reports them.

pandas' C reader turns a KeyboardInterrupt raised inside one of its reads into a ParserError
("Calling read(nbytes) on source failed"), so a Ctrl-C while a large CSV is being read would be
reported as a broken file (exit 3) instead of an interrupt (exit 130). The command line counts the
SIGINTs it receives; an error that ends a command after one is reported as the interrupt it was.

SIGTERM (`kill PID`, a scheduler's or a notebook's shutdown) goes the same way, exit 143: Lightning
replaces its default action with a handler that only notes it (``trainer.received_sigterm``), which its
prediction loop never reads, so a `compete predict` went on to the end of 300,000 images after a
`kill`. Raised as an interrupt, it stops at once and cleans up as Ctrl-C does.
"""

from __future__ import annotations

import contextlib
import signal
import threading

_received = 0
_terminated = False
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _count_and_interrupt(signum, frame) -> None:
    global _received, _terminated
    _received += 1
    _terminated = _terminated or signum == signal.SIGTERM
    raise KeyboardInterrupt


@contextlib.contextmanager
def counting_interrupts():
    """Count SIGINTs and SIGTERMs during the block (each raises KeyboardInterrupt, as Python's own SIGINT
    handler does); the handlers before it are back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _count_and_interrupt) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if signal.getsignal(signum) is _count_and_interrupt:
                signal.signal(signum, handler)


def interrupts_received() -> int:
    return _received


def terminated() -> bool:
    """Whether one of the interrupts counted was a SIGTERM."""
    return _terminated


@contextlib.contextmanager
def deferred_interrupts():
    """Hold Ctrl-C and SIGTERM until the block is done (a few renames that belong together), then raise."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, frame: received.append(signum)) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        global _received, _terminated
        _received += 1
        _terminated = _terminated or signal.SIGTERM in received
        raise KeyboardInterrupt
