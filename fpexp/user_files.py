"""Files a user names (``data.path``, ``model.weights``): what is wrong with one, in words.

A path that is not a readable regular file gets one ``Problem`` that says what it is instead
(a directory, a FIFO, a symlink loop, ...), never a bare "no such file" or a traceback. The
check never opens the file: opening a FIFO would block.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from fpexp.errors import Problem

_KINDS = (
    (stat.S_ISDIR, "is a directory"),
    (stat.S_ISFIFO, "is a FIFO (named pipe)"),
    (stat.S_ISSOCK, "is a socket"),
    (stat.S_ISCHR, "is a character device"),
    (stat.S_ISBLK, "is a block device"),
)


def file_problem(path: Path, key: str, allowed: str) -> Problem | None:
    """``None`` when ``path`` is a regular file this process may read, else what it is."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as err:
        return Problem(key, f"{path}: {_stat_error(path, err)}", allowed)
    for test, what in _KINDS:
        if test(st.st_mode):
            return Problem(key, f"{path}: {what}, not a file", allowed)
    if not stat.S_ISREG(st.st_mode):
        return Problem(key, f"{path}: not a regular file", allowed)
    if not os.access(path, os.R_OK):
        return Problem(key, f"{path}: permission denied (not readable)", allowed)
    return None


def _stat_error(path: Path, err: OSError) -> str:
    if err.errno == errno.ELOOP:
        return "a symlink loop"
    if err.errno == errno.ENOENT:
        if path.is_symlink():
            return f"a broken symlink (to {os.readlink(path)})"
        return "no such file"
    if err.errno == errno.ENOTDIR:
        return "no such file (a parent is not a directory)"
    if err.errno == errno.EACCES:
        return "permission denied"
    if err.errno == errno.ENAMETOOLONG:
        return "file name too long"
    return err.strerror or type(err).__name__
