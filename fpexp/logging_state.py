"""The caller's ``logging`` as it was, whatever the run's logging configuration did.

Hydra configures logging for a run with ``logging.config.dictConfig``, which closes every
handler the process has (a notebook's own ``FileHandler(mode="w")`` would never write again),
forgets named handlers, and resets or re-enables existing loggers. ``save_logging`` hides the
caller's handlers from that configuration for the length of the call, then puts back every
existing logger's handlers, level, ``disabled``, ``propagate`` and filters, the root logger's
included, and ``logging.disable``. Handlers the run attached to those loggers are closed (the
run's ``fpexp.log`` is not left open). Loggers first created during the call keep what their
modules gave them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

Restore = Callable[[], None]


def _loggers() -> list[logging.Logger]:
    known = logging.root.manager.loggerDict.values()
    return [logging.root, *(lg for lg in known if isinstance(lg, logging.Logger))]


class _LoggerState:
    """One logger's handlers, level, flags and filters (and the very lists that hold them)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.handlers, self.handler_items = logger.handlers, list(logger.handlers)
        self.filters, self.filter_items = logger.filters, list(logger.filters)
        self.level, self.disabled, self.propagate = logger.level, logger.disabled, logger.propagate

    def added(self) -> list[logging.Handler]:
        return [h for h in self.logger.handlers if h not in self.handler_items]

    def restore(self) -> None:
        lg = self.logger
        lg.handlers, lg.filters = self.handlers, self.filters
        self.handlers[:], self.filters[:] = self.handler_items, self.filter_items
        lg.level, lg.disabled, lg.propagate = self.level, self.disabled, self.propagate


def save_logging() -> Restore:
    """Save the caller's logging and detach its handlers from ``logging``'s shutdown lists."""
    internals: Any = logging  # the module's private registries of handlers
    states = [_LoggerState(lg) for lg in _loggers()]
    disable = logging.root.manager.disable
    with internals._lock:
        named, refs = dict(internals._handlers), list(internals._handlerList)
        internals._handlers.clear()  # what dictConfig would close
        del internals._handlerList[:]

    def restore() -> None:
        before = {id(h) for s in states for h in s.handler_items}
        added = {id(h): h for s in states for h in s.added() if id(h) not in before}
        for state in states:
            state.restore()
        logging.root.manager.disable = disable
        with internals._lock:
            made = [r for r in internals._handlerList if r not in refs]
            internals._handlers.clear()
            internals._handlers.update(named)
            internals._handlerList[:] = [*refs, *made]
        manager: Any = logging.root.manager
        manager._clear_cache()  # levels changed: loggers recompute isEnabledFor
        for handler in added.values():
            handler.close()

    return restore
