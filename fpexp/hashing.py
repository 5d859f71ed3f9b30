"""sha256 of files, now or on the other core while the run does something else.

An input file's hash is started as soon as the config names the file, before torch is imported,
so it is done by the time the forward pass ends: hashlib and file reads release the GIL, and the
import holds it only in short slices. Blocks are 16 MiB read into one reused buffer, so the
hash costs 16 MiB of memory whatever the file's size, and few GIL hand-overs. The latest hash is
kept for the process, keyed by the file's path, inode, size and mtime: the jobs of a sweep run
in one process (Hydra's basic launcher) hash a shared input once, and a changed file again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path

BLOCK = 16 << 20


def sha256_file(path: Path, block: int = BLOCK) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        # no larger than the file: zero-filling 16 MiB takes 8 ms, and a run hashes small files
        buffer = bytearray(max(1, min(block, os.fstat(fh.fileno()).st_size)))
        view = memoryview(buffer)
        while n := fh.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


class BackgroundHash(threading.Thread):
    """The sha256 of one file, computed by a daemon thread; ``result()`` waits for it."""

    def __init__(self, path: Path) -> None:
        super().__init__(name=f"sha256 {Path(path).name}", daemon=True)
        self.path = Path(path)
        self._digest: str | None = None
        self._error: OSError | None = None

    def run(self) -> None:
        try:
            self._digest = sha256_file(self.path)
        except OSError as err:
            self._error = err

    @property
    def done(self) -> bool:
        return self._digest is not None or self._error is not None

    def result(self) -> str:
        self.join()
        if self._error is not None:
            raise self._error
        assert self._digest is not None
        return self._digest


_running: dict[tuple[str, int, int, int], BackgroundHash] = {}


def _key(path: Path) -> tuple[str, int, int, int]:
    st = os.stat(path)
    return (str(Path(path).resolve()), st.st_ino, st.st_size, st.st_mtime_ns)


def background_hash(path: Path) -> BackgroundHash:
    """The hash of ``path`` as it is now: the one already started for it, else a new one."""
    key = _key(path)
    job = _running.get(key)
    if job is None or job._error is not None:
        _running.clear()  # one input per run: keep only the latest
        job = _running[key] = BackgroundHash(path)
        job.start()
    return job


def forget() -> None:
    """Drop the hashes kept for the input (end of a CLI call: the jobs of one sweep share
    one, but a later call in the same process, a notebook's, hashes its input afresh)."""
    _running.clear()


def prefetch(path: Path | None) -> None:
    """Start hashing ``path`` now, if it is a regular file (errors surface later, on use)."""
    if path is not None and Path(path).is_file():
        with contextlib.suppress(OSError):
            background_hash(path)
