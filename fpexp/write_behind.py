"""Writing behind the forward pass: a writer's formatting, file writes and hashing on a thread.

pyarrow's CSV and Parquet writers, file writes, fsync and hashlib all release the GIL, so while
the main thread runs batch ``k + 1`` through the model, this thread formats, writes and hashes
batch ``k`` on the other core. At most ``depth`` batches wait, so memory stays flat. An error in
the thread is raised again in the main thread at its next call.

The calls go through a ``Handoff``, which a Ctrl-C in the main thread cannot break (with a
``queue.Queue`` the cleanup's ``stop()`` could wait forever); the thread is joined, which is
safe against it too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from fpexp.handoff import Handoff

_STOP = object()
WRITEBACK = 16 << 20  # bytes written between two starts of the kernel's writeback
DONTNEED = getattr(os, "POSIX_FADV_DONTNEED", 4)


class WriteBehind:
    """One daemon thread running submitted calls in order."""

    def __init__(self, name: str, depth: int = 2) -> None:
        self._calls: Handoff[Any] = Handoff(depth)
        self._error: BaseException | None = None
        self._cancelled = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._calls.get()
            if item is _STOP:
                return
            try:
                if self._error is None and not self._cancelled:
                    call, args = item
                    call(*args)
            except BaseException as err:  # handed to the main thread
                self._error = err

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self._cancelled = True
            raise error

    def submit(self, call: Callable[..., Any], *args: Any) -> None:
        """Queue ``call(*args)``; waits while ``depth`` calls are already queued."""
        self._raise()
        self._calls.put((call, args))

    def finish(self) -> None:
        """Run every queued call, stop the thread, raise the first error if any."""
        self.stop()
        self._raise()

    def stop(self, cancel: bool = False) -> None:
        """Stop the thread once the calls queued before are done (``cancel``: skipped)."""
        if not self._thread.is_alive():
            return
        self._cancelled = self._cancelled or cancel
        self._calls.put_last(_STOP)
        self._thread.join()


class HashingFile:
    """A binary sink that hashes what it writes; pyarrow's writers accept it as a file.

    Every ``WRITEBACK`` bytes it asks the kernel to start writing the bytes so far to disk
    (``posix_fadvise(DONTNEED)`` starts writeback without waiting for it), so the disk works
    while the model runs and the fsync before the file's final name waits only for the tail
    (measured: see the README's Performance section). Where there is no such call, nothing."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()
        self.written = 0
        self.started = 0  # bytes whose writeback was started
        self.closed = False
        self.discarding = False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self.discarding:  # an aborted writer's last words (a Parquet footer): dropped
            return len(view)
        self.fh.write(view)
        self.digest.update(view)
        self.written += len(view)
        if self.written - self.started >= WRITEBACK:
            self._start_writeback()
        return len(view)

    def _start_writeback(self) -> None:
        advise = getattr(os, "posix_fadvise", None)
        if advise is None:
            return
        self.fh.flush()
        with contextlib.suppress(OSError, ValueError):  # advice only: never an error
            advise(self.fh.fileno(), self.started, self.written - self.started, DONTNEED)
        self.started = self.written

    def tell(self) -> int:
        return self.written

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self.fh.flush()

    def close(self) -> None:  # the writer that owns the file closes it
        self.closed = True
