"""What changed since a run: its files, its input, its ``model.weights``, its ``.hydra`` config.

Each check compares what the record says with what is on disk now and names the cause, for
``rerun --check`` (a run that no longer reproduces says why) and ``diff``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fpexp.catalog import Run
from fpexp.errors import UsageError
from fpexp.hashing import sha256_file
from fpexp.overrides import flatten

_SHOWN_KEYS = 3


def _short(sha: Any) -> str:
    return f"{str(sha)[:12]}…"


def _file_change(label: str, path: Path, recorded: Any) -> list[str]:
    """``label: missing/changed since the run`` when ``path`` no longer has sha256 ``recorded``."""
    if not isinstance(recorded, str) or not recorded:
        return []
    if not path.is_file():
        return [f"{label}: missing since the run"]
    try:
        now = sha256_file(path)
    except OSError as err:
        return [f"{label}: unreadable now ({err.strerror or err})"]
    if now != recorded:
        hashes = f"sha256 {_short(recorded)} recorded, {_short(now)} now"
        return [f"{label}: changed since the run ({hashes})"]
    return []


def changed_outputs(run: Run) -> list[str]:
    """Files of the run that no longer match their recorded sha256."""
    found = []
    for name, meta in (run.record.get("outputs") or {}).items():
        found += _file_change(name, run.path / name, meta.get("sha256") or "?")
    return found


def _from_cwd(run: Run, path: str) -> Path:
    cwd = Path((run.record.get("command") or {}).get("cwd") or run.path)
    return Path(path) if Path(path).is_absolute() else cwd / path


def changed_input(run: Run) -> list[str]:
    """The input file (``data.path``) when its sha256 no longer matches the record."""
    info = run.record.get("input") or {}
    if info.get("source") != "file" or not info.get("path"):
        return []
    return _file_change(f"input {info['path']}", _from_cwd(run, info["path"]), info.get("sha256"))


def changed_weights(run: Run) -> list[str]:
    """The ``model.weights`` file when its sha256 no longer matches the record."""
    info = run.record.get("weights") or {}
    if info.get("origin") != "model.weights" or not info.get("path"):
        return []
    label = f"model.weights {info['path']}"
    return _file_change(label, _from_cwd(run, info["path"]), info.get("sha256"))


def edited_config(run: Run) -> list[str]:
    """``.hydra/config.yaml`` when it no longer gives run.json's config (first keys named)."""
    from fpexp.replay import resolved

    if not os.path.lexists(run.path / ".hydra" / "config.yaml"):
        return []
    try:
        now = resolved(run.composed_config())
    except UsageError as err:
        return [f".hydra/config.yaml: not usable ({err.problems[0]})"]
    then = flatten(run.record.get("config") or {})
    keys = [k for k in {**then, **now} if json.dumps(now.get(k)) != json.dumps(then.get(k))]
    if not keys:
        return []
    shown = ", ".join(
        f"{k}: {json.dumps(then.get(k))} in run.json, {json.dumps(now.get(k))} now"
        for k in keys[:_SHOWN_KEYS]
    )
    more = f" and {len(keys) - _SHOWN_KEYS} more" if len(keys) > _SHOWN_KEYS else ""
    return [f".hydra/config.yaml: edited since the run ({shown}{more})"]


def changes_since(run: Run) -> list[str]:
    """Every cause found: output files, input, model.weights, .hydra/config.yaml."""
    return changed_outputs(run) + changed_input(run) + changed_weights(run) + edited_config(run)
