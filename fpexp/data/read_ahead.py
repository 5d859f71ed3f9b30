"""Reading ahead: a file's next blocks are read and decoded on a thread while the model runs
on the current one.

pyarrow's CSV and Parquet readers and numpy's copies release the GIL, so on a machine with a
free core the reading overlaps the forward pass. At most ``depth`` blocks wait, so memory stays
flat. An error in the thread (a bad cell: a ``UsageError`` naming it) is raised in the
reader's place, where it would have been raised without the thread; a consumer that stops
early stops the thread, which closes the reader in its own thread (the consumer waits for it
at most ``_STOP_WAIT_S``, not for a block being decoded).

The blocks go through a ``Handoff``, which a Ctrl-C in the consumer cannot break (with a
``queue.Queue`` it could become a ``RuntimeError`` or a lost wake-up).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, TypeVar

from fpexp.handoff import Handoff

T = TypeVar("T")
_END = object()
_POLL_S = 0.05  # how often a blocked producer checks whether the consumer has gone
_STOP_WAIT_S = 0.2  # how long a consumer that stops waits for the thread


class _Producer(threading.Thread):
    def __init__(self, blocks: Iterator[Any], depth: int) -> None:
        super().__init__(name="read ahead", daemon=True)
        self.blocks = blocks
        self.items: Handoff[tuple[Any, BaseException | None]] = Handoff(depth)
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            for block in self.blocks:
                if not self._put(block, None):
                    return
            self._put(_END, None)
        except BaseException as err:  # handed to the consumer
            self._put(None, err)
        finally:
            close = getattr(self.blocks, "close", None)
            if close is not None:
                close()

    def _put(self, item: Any, error: BaseException | None) -> bool:
        """Queue an item unless the consumer has gone; whether it was queued."""
        while not self.stopped.is_set():
            if self.items.put((item, error), timeout=_POLL_S):
                return True
        return False

    def stop(self) -> None:
        """Tell the thread to stop; wait a moment for it, not for the block it may be decoding
        (a slow disk, a stalled filesystem): a Ctrl-C takes effect at once. The thread is a
        daemon; it closes the reader when its block ends."""
        self.stopped.set()
        self.join(timeout=_STOP_WAIT_S)


def read_ahead(blocks: Iterator[T], depth: int = 2) -> Iterator[T]:
    """The items of ``blocks`` in order, read up to ``depth`` ahead by a thread."""
    producer = _Producer(blocks, depth)
    producer.start()
    try:
        while True:
            item, error = producer.items.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        producer.stop()
