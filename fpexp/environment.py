"""Facts about the machine and the code a run used: versions, host, git state."""

from __future__ import annotations

import copy
import functools
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("torch", "hydra-core", "omegaconf", "numpy", "pyarrow", "safetensors", "fpexp")


def package_versions() -> dict[str, str | None]:
    """The installed versions of the packages a run uses, read once per process (a copy):
    the modules a process imported do not change when a newer version is installed."""
    return dict(_package_versions())


@functools.lru_cache(maxsize=1)
def _package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


# Variables that change where git looks for a repository: then only git itself can say.
_GIT_DISCOVERY = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_CEILING_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
)


def _maybe_in_git(cwd: Path) -> bool:
    """False only where git would find no repository: no ``.git`` in ``cwd`` or above it and
    no directory on the way that is itself a repository (``HEAD``, ``objects``, ``refs``), with
    none of the variables that redirect git's search set. Saves a ``git`` process per run (most
    runs of a notebook outside a repository, and the test suite's)."""
    if any(name in os.environ for name in _GIT_DISCOVERY):
        return True
    try:
        here = cwd.resolve()
        for folder in (here, *here.parents):
            if os.path.lexists(folder / ".git") or _is_git_directory(folder):
                return True
    except (OSError, RuntimeError):
        return True
    return False


def _is_git_directory(folder: Path) -> bool:
    return (
        (folder / "HEAD").is_file() and (folder / "objects").is_dir() and (folder / "refs").is_dir()
    )


def git_state(cwd: Path) -> dict[str, Any] | None:
    """Commit and dirty flag of the git work tree holding ``cwd``; None outside git."""
    if not _maybe_in_git(cwd):
        return None
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return None
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit,
        "dirty": bool(status),
        "root": _git(cwd, "rev-parse", "--show-toplevel"),
    }


@functools.lru_cache(maxsize=8)
def _environment(cwd: str, scope: str) -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "host": platform.node(),
        "packages": package_versions(),
        "git": git_state(Path(cwd)),
    }


def environment(cwd: Path, scope: Path | None = None) -> dict[str, Any]:
    """Captured once per working directory and ``scope``: a sweep's directory (its jobs
    share it), or a single run's own one (each run of a notebook looks again: its code may
    have been edited or committed since the last)."""
    return copy.deepcopy(_environment(str(cwd), str(scope)))
