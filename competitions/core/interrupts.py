"""Ctrl-C that a library swallowed.

pandas' C reader turns a KeyboardInterrupt raised inside one of its reads into a ParserError
("Calling read(nbytes) on source failed"), so a Ctrl-C while a large CSV is being read would be
reported as a broken file (exit 3) instead of an interrupt (exit 130). The command line counts the
SIGINTs it receives; an error that ends a command after one is reported as the interrupt it was.
"""

from __future__ import annotations

import contextlib
import signal
import threading

_received = 0


def _count_and_interrupt(signum, frame) -> None:
    global _received
    _received += 1
    raise KeyboardInterrupt


@contextlib.contextmanager
def counting_interrupts():
    """Count SIGINTs during the block (each still raises KeyboardInterrupt, as Python's own handler does);
    the handler before it is back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _count_and_interrupt)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is _count_and_interrupt:
            signal.signal(signal.SIGINT, previous)


def interrupts_received() -> int:
    return _received


@contextlib.contextmanager
def deferred_interrupts():
    """Hold Ctrl-C until the block is done (a few renames that belong together), then raise it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        global _received
        _received += 1
        raise KeyboardInterrupt
