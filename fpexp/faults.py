"""Faults of the machine during a run: a full disk, an I/O error, a run directory removed or
made read-only. Not the user's input (exit 2) but not a bug either: one line, exit 1.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

EXIT_FAULT = 1


class RunFault(OSError):
    """A run stopped by an ``OSError`` (errno and strerror kept); ``line`` is the message
    after ``fpexp: error: ``."""

    def __init__(self, errno: int | None, strerror: str | None, line: str = "") -> None:
        super().__init__(errno, strerror)
        self.line = line


def _reason(err: OSError) -> str:
    text = os.strerror(err.errno) if err.errno else (err.strerror or str(err) or "error")
    return text[:1].lower() + text[1:]


def _name(path: Path, run_dir: Path) -> str | None:
    """The run directory's file ``path`` is or stands for (``.x.csv.123.tmp``: ``x.csv``)."""
    try:
        relative = path.resolve().relative_to(run_dir.resolve())
    except (OSError, ValueError):
        return None
    name = str(relative)
    if name.startswith(".") and name.endswith(".tmp"):
        name = name[1:].rsplit(".", 2)[0]
    return name if name != "." else None


def describe(err: OSError, run_dir: Path, outcome: str) -> str:
    """One line for a run stopped by ``err``: the directory (or outside file) and what
    happened, then ``outcome`` (what the directory holds now)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return f"{run_dir}: the run directory was removed during the run"
    filename = err.filename if isinstance(err.filename, str | bytes | os.PathLike) else None
    path = Path(os.fsdecode(filename)) if filename is not None else None
    name = _name(path, run_dir) if path is not None else None
    if path is not None and name is None and not path.is_relative_to(run_dir):
        return f"{path}: {_reason(err)} ({outcome})"
    where = f"while writing {name}; " if name else ""
    return f"{run_dir}: {_reason(err)} ({where}{outcome})"


def before_run(err: OSError, run_dir: str | None) -> str:
    """One line for an ``OSError`` before fpexp's run began (Hydra creating the run directory,
    its ``.hydra/`` files or the log file)."""
    filename = err.filename if isinstance(err.filename, str | bytes | os.PathLike) else None
    where = os.fsdecode(filename) if filename is not None else run_dir
    where = f"{where}: " if where else ""
    return f"{where}{_reason(err)} (before the run started; nothing recorded)"


def as_os_error(err: Exception, path: Path) -> OSError | None:
    """The ``OSError`` behind a library's own error (safetensors: ``... (os error 28)``)."""
    found = re.search(r"\(os error (\d+)\)", str(err))
    if found is None:
        return None
    code = int(found.group(1))
    return OSError(code, os.strerror(code), str(path))
