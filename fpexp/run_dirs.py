"""Run and sweep directories: a new or empty, writable directory, checked before Hydra writes.

Hydra's ``run_job`` creates the run directory and writes ``.hydra/*.yaml`` there before any
job callback runs, and its sweeper writes ``multirun.yaml`` at the sweep root. So the checks run
in ``on_run_start``/``on_multirun_start`` (``sweep_tracking.SweepTracker``), which come before both.
A directory that already holds anything (another run, another sweep, anything else) is refused:
fpexp never mixes, overwrites, deletes or summarises files it did not write in this run.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from fpexp.errors import Problem

ALLOWED = "a new or empty directory that fpexp can write; fpexp never mixes runs"


class DirectoryRefused(BaseException):
    """Stops Hydra before it writes into a directory it must not use.

    A ``BaseException``: Hydra's callback runner turns an ``Exception`` into a mere warning.
    """

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _os_reason(err: OSError) -> str:
    if err.errno in (errno.EROFS,):
        return "is on a read-only file system"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "cannot be written (permission denied)"
    if err.errno == errno.ENOTDIR:
        return "lies under a file, not a directory"
    if err.errno == errno.ENOSPC:
        return "cannot be written (no space left on the device)"
    return f"cannot be created ({os.strerror(err.errno) if err.errno else err})"


def _first_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (``/`` at worst)."""
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def _problem(path: Path) -> str | None:
    """What is wrong with ``path`` as a new run or sweep directory, or None."""
    if os.path.lexists(path) and not path.is_dir():
        return "is an existing file, not a directory"
    if path.is_dir():
        try:
            entries = sorted(os.listdir(path))
        except OSError as err:
            return _os_reason(err)
        if entries:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            return f"is not empty: it holds {shown}"
        return None
    blocker = _first_existing(path.parent)
    if blocker.exists() and not blocker.is_dir():
        return "lies under a file, not a directory"
    return None


def _probe(path: Path) -> str | None:
    """Create ``path`` (and parents) and a scratch file in it; what failed, or None."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".fpexp-probe-", dir=path)
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        return _os_reason(err)
    return None


def claim(key: str, directory: str | os.PathLike[str]) -> Path:
    """Make ``directory`` (the value of ``key``) ready for one new run or sweep, or refuse.

    Returns the absolute path; raises ``DirectoryRefused`` with a one-line problem.
    """
    path = Path(os.path.abspath(os.fspath(directory)))
    try:
        what = _problem(path)
    except OSError as err:  # a name too long, a loop of links, ...: asking already fails
        what = _os_reason(err)
    if what is None:
        created = _first_existing(path)
        what = _probe(path)
        if what is not None:
            _remove_created(path, created)
    if what is not None:
        raise DirectoryRefused(Problem(key, f"{path} {what}", ALLOWED))
    return path


def _remove_created(path: Path, kept: Path) -> None:
    """Undo the empty directories ``_probe`` made below ``kept``."""
    while path != kept and path != path.parent:
        try:
            path.rmdir()
        except OSError:
            return
        path = path.parent


SUBDIR_KEY = "hydra.sweep.subdir"
SUBDIR_ALLOWED = (
    "one directory name inside hydra.sweep.dir that contains ${hydra.job.num} or "
    "${hydra.job.id}, so that each job has a directory of its own"
)


def claim_job_subdir(raw: str, first: str | None, second: str | None) -> None:
    """Refuse a ``hydra.sweep.subdir`` that would not give each job its own directory directly
    inside the sweep directory. ``raw`` is the unresolved value; ``first``/``second`` are its
    values for jobs 0 and 1 when it resolves before the jobs start (None otherwise)."""
    values = [first, second] if first is not None and second is not None else [raw]
    if first is None or second is None:
        uses_num = any(f"${{hydra{s}job.{k}}}" in raw for s in ".:" for k in ("num", "id"))
    else:
        uses_num = first != second
    what = None
    if any(os.path.isabs(v) for v in values):
        what = "is an absolute path"
    elif any(".." in Path(v).parts or v in ("", ".") or "/" in v.strip("/") for v in values):
        what = "is not a directory directly inside the sweep directory"
    elif not uses_num:
        what = "gives every job the same directory"
    if what is not None:
        raise DirectoryRefused(Problem(SUBDIR_KEY, f"{raw!r} {what}", SUBDIR_ALLOWED))
