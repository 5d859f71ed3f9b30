"""Is a ``run.json`` a record fpexp can use? Its shape and field types, checked before use.

A record is untrusted input (a run directory may be copied from anyone, cut short or
corrupted). ``record_problem`` gives the one reason a record cannot be used, or None.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fpexp.record import RECORD
from fpexp.user_files import file_problem

STATUSES = ("completed", "failed", "interrupted", "running")
MAX_BYTES = 64 << 20
_NUM = (int, float)
_MAP, _LIST, _STR, _NONE = (dict,), (list,), (str,), (type(None),)
# Top-level fields: the types each may have when present (status and started_at are required).
FIELDS: dict[str, tuple[type, ...]] = {
    "status": _STR,
    "started_at": _STR,
    "ended_at": _STR + _NONE,
    "duration_s": _NUM + _NONE,
    "phases_s": _MAP,
    "fpexp_version": _STR + _NONE,
    "command": _MAP,
    "config": _MAP,
    "environment": _MAP + _NONE,
    "input": _MAP + _NONE,
    "weights": _MAP + _NONE,
    "process": _MAP + _NONE,
    "model": _MAP + _NONE,
    "results": _MAP + _NONE,
    "metrics": _MAP + _NONE,
    "layers": _LIST + _NONE,
    "outputs": _MAP,
    "error": _STR + _NONE,
}
# Nested fields that commands read: (parent, key) -> types.
NESTED: dict[tuple[str, str], tuple[type, ...]] = {
    ("command", "cwd"): _STR,
    ("command", "choices"): _MAP,
    ("command", "rerun_of"): _STR + _NONE,
    ("input", "path"): _STR + _NONE,
    ("input", "sha256"): _STR + _NONE,
    ("input", "features"): (int, *_NONE),
    ("weights", "origin"): _STR,
    ("weights", "path"): _STR + _NONE,
    ("weights", "sha256"): _STR + _NONE,
    ("model", "hidden"): _LIST + _NONE,
    ("environment", "packages"): _MAP + _NONE,
    ("environment", "git"): _MAP + _NONE,
    ("results", "predicted_counts"): _MAP + _NONE,
    ("results", "output_mean"): _MAP + _NONE,
    ("process", "pid"): (int,),
    ("process", "host"): _STR,
    ("process", "boot_id"): _STR + _NONE,
    ("process", "start_ticks"): (int, *_NONE),
}
# Process facts that are counts: a pid is 1..2**22 (Linux pid_max), ticks are never negative.
_RANGES = {("process", "pid"): (1, 1 << 22), ("process", "start_ticks"): (0, 1 << 63)}
_OUTPUT = {"role": _STR, "sha256": _STR, "bytes": (int,), "format": _STR, "columns": _LIST + _NONE}
_REQUIRED_META = ("role", "bytes", "sha256")
# Every file a completed run writes, by role: a completed record lists each one.
COMPLETED_ROLES = ("outputs", "predictions", "model", "weights", "layers")
_FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def read_record(run_dir: Path) -> tuple[dict[str, Any], str | None]:
    """The record of ``run_dir`` and None, or ``{}`` and why it cannot be used (a FIFO or
    device is never opened; a record over ``MAX_BYTES`` is never read)."""
    path = Path(run_dir) / RECORD
    if (problem := file_problem(path, RECORD, "")) is not None:
        return {}, f"{RECORD} {problem.what.split(': ', 1)[-1]}"
    if path.stat().st_size > MAX_BYTES:
        return {}, f"{RECORD} is {path.stat().st_size} bytes, more than a record can be"
    try:
        text = path.read_bytes().decode("utf-8")
        data = json.loads(text, parse_constant=_not_strict)
    except UnicodeDecodeError:
        return {}, f"{RECORD} is not UTF-8 text (binary or corrupted)"
    except _NotStrict as err:
        return {}, f"{RECORD} is {err}"
    except ValueError as err:
        return {}, f"{RECORD} is not valid JSON ({err})"
    except OSError as err:
        return {}, f"{RECORD} cannot be read ({err.strerror or err})"
    except RecursionError:
        return {}, f"{RECORD} is nested too deeply to be a record"
    try:
        why = record_problem(data)
    except RecursionError:
        why = f"{RECORD} is nested too deeply to be a record"
    return (data, None) if why is None else ({}, why)


class _NotStrict(ValueError):
    pass


def _not_strict(name: str) -> None:
    """JSON has no NaN or Infinity: fpexp writes null, so a record holding them was edited."""
    raise _NotStrict(f"not strict JSON: a bare {name}")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _typed(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def record_problem(data: Any) -> str | None:
    """Why ``data`` (a parsed run.json) is not a usable record, or None."""
    if not isinstance(data, dict):
        return f"{RECORD} holds a {_kind(data)}, not an object"
    for key in ("status", "started_at"):
        if key not in data:
            return f"{RECORD}: {key} is missing"
    for key, types in FIELDS.items():
        if key in data and not _typed(data[key], types):
            return f"{RECORD}: {key} is a {_kind(data[key])}"
    if data["status"] not in STATUSES:
        return f"{RECORD}: status {data['status']!r} is not one of {', '.join(STATUSES)}"
    for (parent, key), types in NESTED.items():
        node = data.get(parent)
        if isinstance(node, dict) and key in node and not _typed(node[key], types):
            return f"{RECORD}: {parent}.{key} is a {_kind(node[key])}"
    for (parent, key), (low, high) in _RANGES.items():
        value = (data.get(parent) or {}).get(key)
        if isinstance(value, int) and not low <= value <= high:
            return f"{RECORD}: {parent}.{key} is {value}, not in {low}..{high}"
    outputs = data.get("outputs") or {}
    return (
        _outputs_problem(outputs)
        or (_completed_problem(outputs) if data["status"] == "completed" else None)
        or _config_problem(data)
    )


def _completed_problem(outputs: dict[str, Any]) -> str | None:
    """A completed record lists every file a completed run writes (so none can be hidden)."""
    roles = {meta["role"] for meta in outputs.values()}
    missing = [role for role in COMPLETED_ROLES if role not in roles]
    if missing:
        return f"{RECORD}: a completed run lists no {', '.join(missing)} file in outputs"
    return None


def _outputs_problem(outputs: dict[str, Any]) -> str | None:
    for name, meta in outputs.items():
        if not _FILE_NAME.match(name):
            return f"{RECORD}: outputs: {name!r} is not a file name in the run directory"
        if not isinstance(meta, dict):
            return f"{RECORD}: outputs.{name} is a {_kind(meta)}"
        for key in _REQUIRED_META:
            if key not in meta:
                return f"{RECORD}: outputs.{name}.{key} is missing"
        for key, types in _OUTPUT.items():
            if key in meta and not _typed(meta[key], types):
                return f"{RECORD}: outputs.{name}.{key} is a {_kind(meta[key])}"
    return None


def _config_problem(data: dict[str, Any]) -> str | None:
    """The config's keys and values, and the group choices as names (a run made with
    ``--config-dir`` has choices that are not packaged options: only ``rerun`` needs those)."""
    from fpexp.replay import config_problems

    for group, option in ((data.get("command") or {}).get("choices") or {}).items():
        if not isinstance(option, str):
            return f"{RECORD}: command.choices.{group} is a {_kind(option)}"
    if problems := config_problems(data.get("config") or {}, RECORD):
        p = problems[0]
        return f"{RECORD}: config: {p.key}: {p.what}"
    return None
