"""Giving a run directory an earlier run's result files: hard links where the file system
allows them, else copies (written under a temporary name, fsynced, renamed), then every file
taken is hashed in its new place and compared with the earlier run's record."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpexp.atomic import finalize, temporary
from fpexp.hashing import sha256_file

# link(2) refused: another file system, a file system without hard links, too many links,
# another user's file (protected_hardlinks)
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES, errno.ENOTSUP, errno.ENOSYS}


@dataclass
class Taken:
    """The files given to a run directory: ``linked`` and ``copied`` names, or ``refused``
    with the one reason the earlier run's files cannot be used (then none are left)."""

    linked: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    refused: str | None = None


def take(source: Path, outputs: dict[str, Any], target: Path) -> Taken:
    """Link or copy each file of ``outputs`` (name -> record entry with ``sha256``) from
    ``source`` to ``target``, then check each one's sha256 where it now is."""
    taken = Taken()
    try:
        for name in outputs:
            taken.refused = _one(source / name, target / name, name, taken)
            if taken.refused is not None:
                break
        else:
            taken.refused = _mismatch(target, outputs)
    except OSError as err:
        taken.refused = f"could not take its files ({err.strerror or err})"
    if taken.refused is not None:
        for name in [*taken.linked, *taken.copied]:
            (target / name).unlink(missing_ok=True)
        taken.linked, taken.copied = [], []
    return taken


def _one(src: Path, dst: Path, name: str, taken: Taken) -> str | None:
    """Link (else copy) one file; why it cannot be taken, or None."""
    try:
        mode = os.lstat(src).st_mode
    except FileNotFoundError:
        return f"{name} is missing since the run"
    if not stat.S_ISREG(mode):
        return f"{name} is not a regular file"
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError as err:
        if err.errno not in _NO_LINK:
            raise
        _copy(src, dst)
        taken.copied.append(name)
        return None
    taken.linked.append(name)
    return None


def _copy(src: Path, dst: Path) -> None:
    tmp = temporary(dst)
    try:
        shutil.copyfile(src, tmp, follow_symlinks=False)
        finalize(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _mismatch(target: Path, outputs: dict[str, Any]) -> str | None:
    """The first file taken whose sha256 is not the recorded one."""
    for name, meta in outputs.items():
        now = sha256_file(target / name)
        if now != meta.get("sha256"):
            recorded = str(meta.get("sha256"))[:12]
            return f"{name} changed since the run (sha256 {recorded}… recorded, {now[:12]}… now)"
    return None
