"""Finding runs: every directory with a ``run.json`` under a root, and run references.

A reference is a path to a run directory, ``@latest``, ``@-N`` (the N-th newest; ``@-1`` is
``@latest``), or a sweep job as ``SWEEP_DIR:JOB``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fpexp.errors import Problem, UsageError
from fpexp.record import RECORD

DEFAULT_ROOT = Path("outputs")
_SKIP = {".hydra", ".submitit"}


@dataclass(frozen=True)
class Run:
    """A run directory and its record."""

    path: Path
    record: dict[str, Any]

    @property
    def started_at(self) -> str:
        return str(self.record.get("started_at") or "")

    @property
    def choices(self) -> dict[str, str]:
        """The config-group choices the run was composed with (task, model, data)."""
        return dict((self.record.get("command") or {}).get("choices") or {})

    def composed_config(self) -> dict[str, Any]:
        """The config as composed, interpolations kept (``.hydra/config.yaml``)."""
        from omegaconf import OmegaConf

        path = self.path / ".hydra" / "config.yaml"
        if not path.is_file():
            return dict(self.record.get("config") or {})
        return OmegaConf.to_container(OmegaConf.load(path), resolve=False)  # type: ignore[return-value]

    def portable_config(self) -> dict[str, Any]:
        """``composed_config`` with relative file paths made absolute against the run's working
        directory, so a rerun from anywhere reads the same files."""
        config = self.composed_config()
        cwd = Path((self.record.get("command") or {}).get("cwd") or self.path)
        for group, key in (("data", "path"), ("model", "weights")):
            node = config.get(group) or {}
            value = node.get(key)
            if (
                isinstance(value, str)
                and value
                and "${" not in value
                and not Path(value).is_absolute()
            ):
                node[key] = str(cwd / value)
        return config

    def hydra_overrides(self) -> list[str]:
        """The Hydra-level overrides the run was started with (``hydra.overrides.hydra``)."""
        from omegaconf import OmegaConf

        path = self.path / ".hydra" / "hydra.yaml"
        if not path.is_file():
            return []
        return list(OmegaConf.load(path).hydra.overrides.hydra)


def load_run(path: Path) -> Run:
    path = Path(path)
    try:
        record = json.loads((path / RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError([Problem(str(path), "is not a run directory (no run.json)")]) from None
    except ValueError as err:
        raise UsageError([Problem(str(path / RECORD), f"is not valid JSON ({err})")]) from None
    return Run(path.resolve(), record)


def find_runs(root: Path = DEFAULT_ROOT) -> list[Run]:
    """All runs under ``root`` (single runs and sweep jobs), newest first."""
    runs = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP]
        if RECORD in filenames:
            try:
                runs.append(load_run(Path(dirpath)))
            except UsageError:
                continue  # unreadable record: not listed
    return sorted(runs, key=lambda r: (r.started_at, str(r.path)), reverse=True)


def _newest(root: Path, n: int = 5) -> str:
    runs = find_runs(root)[:n]
    if not runs:
        return f"no runs under {root}"
    return "newest: " + ", ".join(shown(r.path) for r in runs)


def shown(path: Path, cwd: Path | None = None) -> str:
    """A path relative to ``cwd`` (default: the working directory) when inside it."""
    path = Path(path).resolve()
    cwd = Path(cwd or Path.cwd()).resolve()
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)


def resolve(ref: str, root: Path = DEFAULT_ROOT) -> Run:
    """The run a reference names; a one-line ``UsageError`` listing the newest runs if none."""
    if ref.startswith("@"):
        text = ref[1:]
        index = 1 if text == "latest" else -int(text) if text.lstrip("-").isdigit() else 0
        runs = find_runs(root)
        if index < 1:
            what = "is not a run reference"
            raise UsageError([Problem(ref, what, "a path, @latest, @-N or SWEEP_DIR:JOB")])
        if index > len(runs):
            raise UsageError([Problem(ref, f"there are only {len(runs)} runs", _newest(root))])
        return runs[index - 1]
    path = Path(ref)
    if not path.exists() and ":" in ref:
        sweep, _, job = ref.rpartition(":")
        path = Path(sweep) / job
    if not (path / RECORD).is_file() and (root / path / RECORD).is_file():
        path = root / path
    if not (path / RECORD).is_file():
        raise UsageError([Problem(ref, "no such run", _newest(root))])
    return load_run(path)
