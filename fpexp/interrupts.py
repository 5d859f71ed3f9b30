"""SIGINT and SIGTERM during a run: the first one stops it, no later one cuts its cleanup short.

While a run is under way (``during_run``), SIGINT raises ``KeyboardInterrupt`` and SIGTERM
``Interrupted``, once. From then on, and inside any ``shielded()`` block (the cleanup after a
failure), further signals are held: a second Ctrl-C cannot leave a half-cleaned directory. A
signal held by a shield that was not already stopping the run is raised when the outermost
shield ends, so the run still stops. Outside the main thread signals cannot be handled in
Python, and both are no-ops.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fpexp.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _exception(signum: int) -> BaseException:
    if signum == signal.SIGINT:
        return KeyboardInterrupt()
    return Interrupted(signal.Signals(signum).name)


class RunSignals:
    """The handler of SIGINT and SIGTERM while a run is under way."""

    def __init__(self) -> None:
        self.holding = False  # stopping already, or inside a shield
        self.held: list[int] = []

    def handle(self, signum: int, frame: Any) -> None:
        if self.holding:
            self.held.append(signum)
            return
        self.holding = True  # the run is stopping: what follows is cleanup
        raise _exception(signum)


@contextmanager
def during_run() -> Iterator[None]:
    """Handle SIGINT and SIGTERM as above until the block ends; then restore the handlers."""
    handler = RunSignals()
    try:
        previous = {s: signal.signal(s, handler.handle) for s in SIGNALS}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _current() -> RunSignals | None:
    try:
        owner = getattr(signal.getsignal(signal.SIGINT), "__self__", None)
    except ValueError:
        return None
    return owner if isinstance(owner, RunSignals) else None


@contextmanager
def shielded() -> Iterator[None]:
    """Run a cleanup to its end: signals that arrive meanwhile are held, and the first of them
    is raised when the block ends unless the run was already stopping for one."""
    handler = _current()
    if handler is None:
        yield
        return
    was_holding = handler.holding
    handler.holding = True
    try:
        yield
    finally:
        if not was_holding:
            handler.holding = False
            if handler.held:
                signum = handler.held[0]
                handler.held.clear()
                handler.holding = True
                raise _exception(signum)


def deliver_now(signum: int) -> None:
    """Hand ``signum`` to the handler in place, now, in this (the main) thread.

    ``signal.raise_signal`` leaves a Python handler to run at the main thread's next check for
    pending signals, at some later bytecode (later still while another thread holds the GIL),
    so its ``KeyboardInterrupt`` would surface wherever the main thread is by then. A Python
    handler is called here instead; the default action (the process ends) goes through
    ``raise_signal``; an ignored signal stays ignored (a caller started with Ctrl-C ignored,
    as a background job of a script is, gets no ``KeyboardInterrupt``)."""
    handler = signal.getsignal(signum)
    if callable(handler):
        handler(signum, None)
    elif handler != signal.SIG_IGN:
        signal.raise_signal(signum)
