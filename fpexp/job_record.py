"""A sweep job's ``run.json``, read as untrusted input for the summary.

A record may be truncated, binary, a list, hostile, or have the wrong type in any field the
summary uses. ``read_job`` never raises for any content: it returns the record, or the reason it
is ``unreadable``. Nothing in a record is executed or instantiated; it is only looked at.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from fpexp.record import RECORD

MAX_BYTES = 16 * 1024 * 1024
STATUSES = ("completed", "failed", "interrupted", "running")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _optional_number(v: Any) -> bool:
    return v is None or _number(v)


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _table(v: Any, check: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and check(x) for k, x in v.items())


def _layer(v: Any) -> bool:
    return isinstance(v, dict) and isinstance(v.get("type"), str) and _optional_number(v.get("std"))


# field -> (check, what it must be); a missing field is the same as an empty/None one
_FIELDS: dict[str, tuple[Any, str]] = {
    "status": (lambda v: v in STATUSES, "one of " + ", ".join(STATUSES)),
    "error": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "config": (lambda v: isinstance(v, dict), "an object"),
    "model": (lambda v: isinstance(v, dict), "an object"),
    "model.parameters": (lambda v: v is None or _count(v), "a count"),
    "model.width": (lambda v: v is None or _count(v), "a count"),
    "model.depth": (lambda v: v is None or _count(v), "a count"),
    "results": (lambda v: isinstance(v, dict), "an object"),
    "results.output_mean": (lambda v: _table(v, _optional_number), "an object of numbers"),
    "results.output_std": (lambda v: _table(v, _optional_number), "an object of numbers"),
    "results.predicted_counts": (lambda v: _table(v, _count), "an object of counts"),
    "metrics": (lambda v: _table(v, _optional_number), "an object of numbers"),
    "layers": (lambda v: isinstance(v, list) and all(map(_layer, v)), "a list of layers"),
    "duration_s": (_optional_number, "a number"),
}
_EMPTY: dict[str, Any] = {"config": {}, "model": {}, "results": {}, "metrics": {}, "layers": []}


def _field(rec: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = rec
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def check(rec: Any) -> str | None:
    """Why ``rec`` (a parsed run.json) cannot be summarised, or None if it can."""
    if not isinstance(rec, dict):
        return f"run.json holds a JSON {type(rec).__name__}, not an object"
    for dotted, (ok, what) in _FIELDS.items():
        present, value = _field(rec, dotted)
        if dotted == "status" and not present:
            return "run.json has no status"
        if present and not (value is None and dotted in _EMPTY) and not ok(value):
            shown = json.dumps(value)[:40] if _jsonable(value) else type(value).__name__
            return f"run.json field {dotted} is {shown}, not {what}"
    return None


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _read(path: Path) -> bytes:
    """At most ``MAX_BYTES + 1`` bytes of a regular file (never a FIFO or a device)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise IsADirectoryError("not a regular file")
        return fh.read(MAX_BYTES + 1)


def read_job(job_dir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(record, None)`` for a usable ``run.json``, else ``(None, why it is unreadable)``.

    Missing optional parts are filled in empty, so callers can index without checks."""
    path = Path(job_dir) / RECORD
    try:
        raw = _read(path)
    except FileNotFoundError:
        return None, "no run.json"
    except IsADirectoryError:
        return None, "run.json is not a regular file"
    except OSError as err:
        return None, f"run.json cannot be read ({os.strerror(err.errno or 0) or err})"
    if len(raw) > MAX_BYTES:
        return None, f"run.json is larger than {MAX_BYTES // 2**20} MiB"
    try:
        rec = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "run.json is not UTF-8 text"
    except json.JSONDecodeError as err:
        return None, f"run.json is not valid JSON ({err.msg} at line {err.lineno})"
    except RecursionError:
        return None, "run.json is nested too deeply"
    except ValueError as err:  # e.g. an integer with more digits than Python converts
        return None, f"run.json is not valid JSON ({str(err).splitlines()[0][:80]})"
    why = check(rec)
    if why is not None:
        return None, why
    for key, empty in _EMPTY.items():
        if rec.get(key) is None:
            rec[key] = type(empty)()
    return rec, None


def not_this_job(rec: dict[str, Any], num: int, planned: list[str]) -> str | None:
    """Why a job directory's record is another job's run (a directory moved or swapped), or
    None: its values would otherwise be listed under this job's overrides."""
    command = rec.get("command")
    command = command if isinstance(command, dict) else {}
    recorded, overrides = command.get("job_num"), command.get("overrides")
    if isinstance(recorded, int) and not isinstance(recorded, bool) and recorded != num:
        return f"its run.json records job {recorded}'s run, not job {num}'s"
    if planned and isinstance(overrides, list) and overrides != planned:
        shown = " ".join(str(o) for o in overrides)[:120]
        return f"its run.json records other overrides than job {num}'s plan ({shown})"
    return None
