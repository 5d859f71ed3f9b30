"""Size guards: a run that cannot fit in memory is refused before anything is allocated.

The estimate is a lower bound of what a run must hold at once: the synthetic table (float32
values and int64 row ids), the model's parameters (built in float32, then cast: at least
``max(4, dtype bytes)`` each) and one batch's activations around the widest layer (its input
and output, ``min(batch_size, rows)`` rows in the run's dtype). A run whose estimate exceeds
the memory available now (the least of ``MemAvailable`` in ``/proc/meminfo`` or free pages
from ``os.sysconf``, the process's RLIMIT_AS/RLIMIT_DATA room and its cgroup's) is refused
with one line naming both. No torch here: only the config.
"""

from __future__ import annotations

import os
from typing import Any

from fpexp.config.model_size import model_size
from fpexp.errors import Problem

DTYPE_BYTES = {"float32": 4, "float64": 8, "bfloat16": 2}
_SMALLER = {
    "model.hidden": "fewer or narrower hidden layers",
    "model.width": "a smaller model.width or model.depth",
    "model.depth": "a smaller model.width or model.depth",
    "model.layers": "fewer or narrower layers",
    "batch_size": "a smaller batch_size",
    "data.n_rows": "fewer data.n_rows or data.n_features",
}
_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def available_memory() -> int | None:
    """Bytes this process may still allocate now: the least of the system's free memory, the
    process limits (RLIMIT_AS, RLIMIT_DATA) less what it uses, and its cgroup's limit less
    what the cgroup uses; None where none of them says."""
    known = [n for n in (_system_memory(), *_process_room(), _cgroup_room()) if n is not None]
    return max(min(known), 0) if known else None


def _status_bytes(field: str) -> int | None:
    """``VmSize`` / ``VmData`` of this process, from ``/proc/self/status``."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _process_room() -> list[int | None]:
    """Room left under RLIMIT_AS (address space) and RLIMIT_DATA (data segment)."""
    try:
        import resource
    except ImportError:
        return []
    room: list[int | None] = []
    for limit, field in (("RLIMIT_AS", "VmSize"), ("RLIMIT_DATA", "VmData")):
        try:
            soft, _ = resource.getrlimit(getattr(resource, limit))
        except (AttributeError, OSError, ValueError):
            continue
        if soft == resource.RLIM_INFINITY or soft < 0:
            continue
        used = _status_bytes(field)
        room.append(soft - used if used is not None else soft)
    return room


def _cgroup_room(root: str = "/sys/fs/cgroup") -> int | None:
    """``memory.max`` less ``memory.current`` of this cgroup (v2), where it has a limit."""
    try:
        with open(f"{root}/memory.max") as fh:
            limit = fh.read().strip()
        if limit == "max":
            return None
        with open(f"{root}/memory.current") as fh:
            return int(limit) - int(fh.read().strip())
    except (OSError, ValueError):
        return None


def _system_memory() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def size_text(n: int) -> str:
    """``29.8 GiB``: binary units, one decimal."""
    value, unit = float(n), _UNITS[0]
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            break
        value /= 1024
    return f"{int(value)} bytes" if unit == "bytes" else f"{value:,.1f} {unit}"


def _beyond(need: int, available: int) -> str:
    return (
        f"needs at least {size_text(need)}, more than the {size_text(available)} of memory "
        "available"
    )


def _made_in_memory(data: Any) -> tuple[int, int] | None:
    """``(rows, features)`` of a table the data source makes in memory (others stream)."""
    from fpexp.data.sources import source_of

    entry = source_of(data)
    return entry.made_in_memory(data) if entry is not None else None


def data_bytes(data: Any) -> int:
    """A table made in memory: float32 values and an int64 id per row (other sources stream)."""
    shape = _made_in_memory(data)
    if shape is None:
        return 0
    rows, features = shape
    return max(rows, 0) * (4 * max(features, 0) + 8)


def _table(data: Any) -> str:
    rows, features = _made_in_memory(data) or (0, 0)
    return f"{rows:,} rows x {features:,} features of {data.get('source')} data"


def _model_key(model: Any) -> str:
    if model.get("layers") is not None:
        return "model.layers"
    if model.hidden is not None:
        return "model.hidden"
    return "model.depth" if model.width is None and model.depth is not None else "model.width"


def size_problems(
    cfg: Any,
    available: int | None,
    in_features: int | None = None,
    rows: int | None = None,
    measured: tuple[int, tuple[int, int]] | None = None,
) -> list[Problem]:
    """The model, one batch's activations and the synthetic data, against ``available``.

    Before the data is made, ``in_features`` and ``rows`` are left out: only synthetic data
    (whose size the config says) is checked then. After, they are the data's (``rows`` None,
    a CSV not yet read: 1 row, so the estimate stays a lower bound). ``measured``: the
    built model's parameter count and widest pair, instead of the estimate from the config.
    """
    planned = _made_in_memory(cfg.data)
    synthetic = planned is not None
    if available is None:
        return []
    if in_features is None:
        if planned is None:
            return []  # only synthetic data is made in memory; other data is checked once open
        in_features = int(cfg.model.in_features or planned[1])
    if rows is None:
        rows = planned[0] if planned is not None else 1
    size = DTYPE_BYTES.get(str(cfg.dtype), 4)
    params, (a, b) = measured if measured is not None else model_size(cfg, in_features)
    batch = max(min(int(cfg.batch_size), rows), 0)
    parts = {
        _model_key(cfg.model): (max(params, 0) * max(size, 4), f"a model of {params:,} parameters"),
        "batch_size": (
            batch * max(a + b, 0) * size,
            f"a batch of {batch:,} rows through the {a:,} -> {b:,} layer ({cfg.dtype})",
        ),
        "data.n_rows": (data_bytes(cfg.data), _table(cfg.data) if synthetic else ""),
    }
    key = max(parts, key=lambda k: parts[k][0])  # one line: the largest part
    need, what = parts[key]
    if need > available:
        return [Problem(key, f"{what} {_beyond(need, available)}", _SMALLER[key])]
    total = sum(need for need, _ in parts.values())
    if total <= available:
        return []
    shares = ", ".join(f"{what} {size_text(need)}" for need, what in parts.values() if need)
    what = f"together ({shares}) the run {_beyond(total, available)}"
    return [Problem(key, what, _SMALLER[key])]
