"""A run's file as its record lists it, for ``fpexp.Run`` (tables, weights).

The record is the run's account of its files: a file is read only if it is the one the
record names for that role (``outputs.csv`` for ``outputs``, ``weights.safetensors``...), a
regular file, and has the sha256 the record gives it. A file changed since the run (even
one of the same size, which ``fpexp runs``' cheap check cannot see) is refused, never
returned as the run's result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpexp.errors import Problem, UsageError

DTYPES = ("float32", "float64", "float16", "bfloat16")  # what a run may record as its dtype


def run_dtype(record: dict[str, Any]) -> str:
    """The record's ``dtype``, one fpexp writes (``UsageError`` for anything else)."""
    dtype = record.get("dtype")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise UsageError([Problem("dtype", f"unknown dtype {dtype!r}", ", ".join(DTYPES))])
    return dtype


def recorded_file(run_dir: Path, record: dict[str, Any], role: str) -> tuple[Path, dict[str, Any]]:
    """The file the record lists for ``role`` and its entry, checked as above."""
    from fpexp.hashing import sha256_file
    from fpexp.user_files import file_problem

    where = str(run_dir)
    found = [(n, m) for n, m in (record.get("outputs") or {}).items() if m.get("role") == role]
    if not found:
        raise UsageError([Problem(where, f"the run wrote no {role} file")])
    name, meta = found[0]
    if len(found) > 1 or Path(name).stem != role:
        names = ", ".join(n for n, _ in found)
        raise UsageError([Problem(where, f"{names} is not the run's {role} file ({role}.*)")])
    path = run_dir / name
    if (problem := file_problem(path, name, "")) is not None:
        raise UsageError([Problem(where, problem.what.split(": ", 1)[-1])])
    recorded, now = str(meta.get("sha256")), sha256_file(path)
    if now != recorded:
        sums = f"sha256 {recorded[:12]}… recorded, {now[:12]}… now"
        raise UsageError([Problem(where, f"{name} changed since the run ({sums})")])
    return path, meta
