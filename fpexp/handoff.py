"""A bounded hand-over of items between the main thread and a worker thread that a Ctrl-C
cannot break.

Python raises a signal's ``KeyboardInterrupt`` at any bytecode of the main thread. Raised inside
``queue.Queue``'s Python-level locking, it left the queue's mutex released under the other thread:
a lost wake-up (a cleanup waiting forever for a writer) or a ``RuntimeError('release unlocked
lock')`` in the interrupt's place. Here every operation is one call into ``queue.SimpleQueue``
(C, atomic): interrupted, it either happened or did not.
"""

from __future__ import annotations

import queue
from typing import Generic, TypeVar

T = TypeVar("T")


class Handoff(Generic[T]):
    """First in, first out; at most ``depth`` items wait to be taken."""

    def __init__(self, depth: int) -> None:
        self._items: queue.SimpleQueue[T] = queue.SimpleQueue()
        self._slots: queue.SimpleQueue[None] = queue.SimpleQueue()  # one per free place
        for _ in range(depth):
            self._slots.put(None)

    def put(self, item: T, timeout: float | None = None) -> bool:
        """Queue ``item`` once a place is free; False if none was within ``timeout`` seconds."""
        try:
            self._slots.get(timeout=timeout)
        except queue.Empty:
            return False
        self._items.put(item)
        return True

    def put_last(self, item: T) -> None:
        """Queue ``item`` at once, without a place: the last one (a stop), after which nothing
        is taken."""
        self._items.put(item)

    def get(self) -> T:
        """The next item, waiting for it; its place is free again."""
        item = self._items.get()
        self._slots.put(None)
        return item
