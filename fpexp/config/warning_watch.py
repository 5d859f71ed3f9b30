"""Whether a block on this thread called ``warnings.warn`` (it still warns as before).

A speed-up that hands a composition over, or keeps it, must not do so for one that warned:
plain Hydra would compose again and warn again. ``warnings.warn`` is wrapped while any thread
watches, one frame up (the caller's ``stacklevel`` names the same line), and restored when the
last one stops.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any


class _Counts(threading.local):
    counts: list[int] | None = None


class _Watch:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.watchers = 0
        self.original: Callable[..., Any] = warnings.warn
        self.local = _Counts()

    def start(self) -> None:
        with self.lock:
            if self.watchers == 0:
                self.original = warnings.warn
                warnings.warn = _counting_warn
            self.watchers += 1

    def stop(self) -> None:
        with self.lock:
            self.watchers -= 1
            if self.watchers == 0 and warnings.warn is _counting_warn:
                warnings.warn = self.original


_WATCH = _Watch()


def _counting_warn(
    message: Any, category: Any = None, stacklevel: int = 1, source: Any = None, **kw: Any
) -> None:
    counts = _WATCH.local.counts
    if counts is not None:
        counts[0] += 1
    _WATCH.original(message, category, stacklevel + 1, source, **kw)


@contextlib.contextmanager
def watching() -> Iterator[list[int]]:
    """Counts this thread's ``warnings.warn`` calls in the block: ``[count]``, filled in."""
    local = _WATCH.local
    outer, counts = local.counts, [0]
    local.counts = counts
    _WATCH.start()
    try:
        yield counts
    finally:
        _WATCH.stop()
        local.counts = outer
        if outer is not None:
            outer[0] += counts[0]
