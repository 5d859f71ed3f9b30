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
}
_OUTPUT = {"role": _STR, "sha256": _STR, "bytes": (int,), "format": _STR, "columns": _LIST + _NONE}
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
        data = json.loads(text)
    except UnicodeDecodeError:
        return {}, f"{RECORD} is not UTF-8 text (binary or corrupted)"
    except ValueError as err:
        return {}, f"{RECORD} is not valid JSON ({err})"
    except OSError as err:
        return {}, f"{RECORD} cannot be read ({err.strerror or err})"
    problem = record_problem(data)
    return (data, None) if problem is None else ({}, problem)


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
    return _outputs_problem(data.get("outputs") or {}) or _config_problem(data)


def _outputs_problem(outputs: dict[str, Any]) -> str | None:
    for name, meta in outputs.items():
        if not _FILE_NAME.match(name):
            return f"{RECORD}: outputs: {name!r} is not a file name in the run directory"
        if not isinstance(meta, dict):
            return f"{RECORD}: outputs.{name} is a {_kind(meta)}"
        for key, types in _OUTPUT.items():
            if key in meta and not _typed(meta[key], types):
                return f"{RECORD}: outputs.{name}.{key} is a {_kind(meta[key])}"
    return None


def _config_problem(data: dict[str, Any]) -> str | None:
    from fpexp.replay import choice_problems, config_problems

    where = RECORD
    choices = (data.get("command") or {}).get("choices") or {}
    problems = config_problems(data.get("config") or {}, where) + choice_problems(choices, where)
    if problems:
        p = problems[0]
        return f"{RECORD}: config: {p.key}: {p.what}"
    return None
