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

import itertools
import os
from collections.abc import Mapping, Sequence
from typing import Any

from fpexp.config.schema import DEFAULT_DEPTH, DEFAULT_WIDTH
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


def data_bytes(data: Any) -> int:
    """The synthetic table: float32 values and an int64 id per row (other sources stream)."""
    if data.get("source") != "synthetic":
        return 0
    return max(int(data.n_rows), 0) * (4 * max(int(data.n_features), 0) + 8)


def _table(data: Any) -> str:
    return f"{int(data.n_rows):,} rows x {int(data.n_features):,} features of synthetic data"


def _layers(cfg: Any, in_features: int) -> tuple[int, tuple[int, int]]:
    """The parameter count and the widest pair of neighbouring widths, without listing
    ``model.depth`` widths one by one (a depth of 10**9 is refused, not materialised)."""
    if cfg.model.get("layers") is not None:
        return layer_list_size(cfg.model.layers, in_features)
    bias, out = int(bool(cfg.model.bias)), int(cfg.task.out_features)
    if cfg.model.hidden is not None:
        widths = [in_features, *(int(w) for w in cfg.model.hidden), out]
        layers = [(x, y, 1) for x, y in itertools.pairwise(widths)]
    else:
        width = int(DEFAULT_WIDTH if cfg.model.width is None else cfg.model.width)
        depth = int(DEFAULT_DEPTH if cfg.model.depth is None else cfg.model.depth)
        inner = [(width, width, depth - 1)] if depth > 1 else []
        layers = [(in_features, width, 1), *inner, (width, out, 1)]
        layers = layers if depth > 0 else [(in_features, out, 1)]
    params = sum((x * y + y * bias) * n for x, y, n in layers)
    if str(cfg.model.get("norm", "none")) != "none":  # weight and bias per hidden unit
        params += sum(2 * y * n for _, y, n in layers[:-1])
    a, b, _ = max(layers, key=lambda layer: layer[0] + layer[1])
    return params, (a, b)


def _arg(spec: Any, name: str, position: int) -> int:
    """An integer argument of a layer config, by name or position in ``_args_`` (0 if not
    an integer: the estimate stays a lower bound)."""
    args = spec.get("_args_")
    args = args if _is_list(args) else []
    value = spec.get(name, args[position] if len(args) > position else 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


def _linear(spec: Any) -> tuple[int, tuple[int, int]]:
    a, b = _arg(spec, "in_features", 0), _arg(spec, "out_features", 1)
    bias = spec.get("bias", True) is not False
    return a * b + b * bias, (a, b)


def _norm(name: str) -> Any:
    def size(spec: Any) -> tuple[int, tuple[int, int]]:
        n = _arg(spec, name, 0)
        return 2 * n, (n, n)

    return size


# Module types whose size the config says: _target_ -> (parameters, (in width, out width)).
_KNOWN_SIZES = {
    "torch.nn.Linear": _linear,
    "torch.nn.LayerNorm": _norm("normalized_shape"),
    "torch.nn.BatchNorm1d": _norm("num_features"),
}


def layer_list_size(layers: Any, in_features: int) -> tuple[int, tuple[int, int]]:
    """Parameters and widest pair of a layer list, from the module types known here; others
    count as nothing (they are measured once built, before the forward pass)."""
    params, widest = 0, (in_features, in_features)
    for spec in layers if _is_list(layers) else []:
        target = spec.get("_target_") if isinstance(spec, Mapping) else None
        size = _KNOWN_SIZES.get(target) if isinstance(target, str) else None
        if size is None:
            continue
        n, pair = size(spec)
        params += n
        widest = max(widest, pair, key=sum)
    return params, widest


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
    synthetic = cfg.data.get("source") == "synthetic"
    if available is None or (in_features is None and not synthetic):
        return []  # only synthetic data is made in memory; other data is checked once open
    if in_features is None:
        in_features = int(cfg.model.in_features or cfg.data.n_features)
    if rows is None:
        rows = int(cfg.data.n_rows) if synthetic else 1
    size = DTYPE_BYTES.get(str(cfg.dtype), 4)
    params, (a, b) = measured if measured is not None else _layers(cfg, in_features)
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
