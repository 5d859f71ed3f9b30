"""Facts about the machine and the code a run used: versions, host, git state."""

from __future__ import annotations

import copy
import functools
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


def git_state(cwd: Path) -> dict[str, Any] | None:
    """Commit and dirty flag of the git work tree holding ``cwd``; None outside git."""
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
