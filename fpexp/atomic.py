"""Atomic file writes: temporary name, fsync, rename."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


def temporary(path: Path) -> Path:
    """The temporary sibling that becomes ``path`` (hidden, and named by this process)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; on success it replaces ``path`` in one step.

    A crash or an exception leaves no file under the final name and removes the temporary one.
    """
    path = Path(path)
    tmp = _created(temporary(path))
    try:
        yield tmp
        finalize(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _created(tmp: Path) -> Path:
    """``tmp`` made anew as an empty file of this process, never through a link planted under
    its name (a shared folder such as /tmp): a leftover (a dead process with this pid, or a
    planted link) is removed first; anything made in between is refused (FileExistsError)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o600)
    except FileExistsError:
        os.unlink(tmp)
        fd = os.open(tmp, flags, 0o600)
    os.close(fd)
    return tmp


def finalize(tmp: Path, path: Path) -> None:
    """fsync ``tmp``, give it the usual permissions, and rename it to ``path`` in one step."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o666 & ~_UMASK)  # some writers create 0600 files
    os.replace(tmp, path)


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))
