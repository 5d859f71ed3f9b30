"""What differs between two runs: config, group choices, outputs and environment. Pure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fpexp.overrides import flatten, refined

RTOL, ATOL = 1e-5, 1e-8  # numpy/torch allclose defaults
NO_OUTPUTS = "neither run has outputs"
FLIPS_SHOWN = 20  # flipped prediction ids listed; the count is always given


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def config_changes(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Changed, added and removed dotted keys, in A's key order then B's new keys."""
    fa, fb = flatten(a), flatten(b)
    da, db = flatten(a, lists=True), flatten(b, lists=True)  # layer lists: by layer
    changed = [
        {"key": key, "a": da.get(key, fa.get(key)), "b": db.get(key, fb.get(key))}
        for k in fa
        if k in fb and not _same(fa[k], fb[k])
        for key in refined(k, [fa[k], fb[k]])
    ]
    removed = [{"key": k, "a": fa[k]} for k in fa if k not in fb]
    added = [{"key": k, "b": fb[k]} for k in fb if k not in fa]
    return {"changed": changed, "added": added, "removed": removed}


def group_changes(a: dict[str, str], b: dict[str, str]) -> list[dict[str, Any]]:
    keys = list(a) + [k for k in b if k not in a]
    return [{"group": k, "a": a.get(k), "b": b.get(k)} for k in keys if a.get(k) != b.get(k)]


def _env_facts(rec: dict[str, Any]) -> dict[str, Any]:
    env = rec.get("environment") or {}
    git = env.get("git") or {}
    facts = {f"packages.{k}": v for k, v in (env.get("packages") or {}).items()}
    facts.update(
        python=env.get("python"),
        host=env.get("host"),
        device=rec.get("device"),
        dtype=rec.get("dtype"),
        torch_threads=rec.get("torch_threads"),
        **{"git.commit": git.get("commit"), "git.dirty": git.get("dirty")},
    )
    return facts


def environment_changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    fa, fb = _env_facts(a), _env_facts(b)
    keys = list(fa) + [k for k in fb if k not in fa]
    return [{"key": k, "a": fa.get(k), "b": fb.get(k)} for k in keys if fa.get(k) != fb.get(k)]


def _table(run_dir: Path, record: dict[str, Any], role: str) -> dict[str, np.ndarray] | None:
    """The run's table with this role (outputs or predictions), in whatever format it has;
    ``TableError`` when it cannot be read back."""
    from fpexp.tables import read_table

    for name, meta in (record.get("outputs") or {}).items():
        if meta.get("role") == role and (Path(run_dir) / name).is_file():
            return read_table(Path(run_dir) / name, meta.get("columns"))
    return None


def _values(column: np.ndarray, record: dict[str, Any]) -> np.ndarray:
    """Values as the run computed them: a CSV's shortest float32 text read back as float32."""
    wide = record.get("dtype") == "float64"
    return np.asarray(column, np.float64 if wide else np.float32).astype(np.float64)


def _is_npy(record: dict[str, Any]) -> bool:
    return any(n.endswith(".npy") for n in (record.get("outputs") or {}))


def _unreadable(which: str, err: Exception) -> dict[str, Any]:
    return {"comparable": False, "reason": f"run {which}: {err}", "unreadable": which}


def output_changes(
    a_dir: Path, a_rec: dict[str, Any], b_dir: Path, b_rec: dict[str, Any]
) -> dict[str, Any]:
    """Per output column max |a - b| and an allclose verdict; flipped predictions by id.

    A table that cannot be read back gives ``unreadable`` (A or B) and the reason."""
    from fpexp.tables import TableError

    tables: dict[str, Any] = {}
    for which, run_dir, rec in (("A", a_dir, a_rec), ("B", b_dir, b_rec)):
        try:
            tables[which] = [_table(run_dir, rec, r) for r in ("outputs", "predictions")]
        except TableError as err:
            return _unreadable(which, err)
    (a, pa), (b, pb) = tables["A"], tables["B"]
    if a is None and b is None:
        return {"comparable": False, "reason": NO_OUTPUTS}
    if a is None or b is None:
        missing = "A" if a is None else "B"
        return {"comparable": False, "reason": f"run {missing} has no outputs"}
    if (reason := _shape_reason(a, b)) is not None:
        return {"comparable": False, "reason": reason}
    npy = _is_npy(a_rec) or _is_npy(b_rec)  # .npy tables carry no ids: compare by position
    if not npy and not np.array_equal(a["id"], b["id"]):
        return {"comparable": False, "reason": "the runs have different row ids"}
    if npy:
        a["id"] = b["id"] = a["id"] if not _is_npy(a_rec) else b["id"]
    try:
        columns = {name: _column(a[name], b[name], a_rec, b_rec) for name in list(a)[1:]}
    except (TypeError, ValueError) as err:
        return _unreadable("A or B", TableError(f"outputs: a column is not numeric ({err})"))
    out: dict[str, Any] = {"comparable": True, "shape": _shape(a), "columns": columns}
    if (flips := _flips(a_rec, pa, pb)) is not None:
        out["flipped_count"] = len(flips)
        out["flipped"] = flips[:FLIPS_SHOWN]
    return out


def _flips(
    a_rec: dict[str, Any], pa: dict[str, np.ndarray] | None, pb: dict[str, np.ndarray] | None
) -> list[str] | None:
    """Ids whose predictions differ, as A's head compares them (None: a head without classes,
    an unknown task, or predictions that cannot be compared)."""
    from fpexp.heads import head_of_record

    head = head_of_record(a_rec)
    if head is None or pa is None or pb is None:
        return None
    changed = head.flipped(pa, pb)
    return None if changed is None else [str(i) for i in pa["id"][changed]]


def _shape(table: dict[str, np.ndarray]) -> list[int]:
    return [len(table["id"]), len(table) - 1]


def _shape_reason(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> str | None:
    """Why two output tables cannot be compared column by column (None: they can)."""
    cols = f"columns {list(a)[1:]} vs {list(b)[1:]}"
    if _shape(a) != _shape(b):
        return f"shapes differ: {_shape(a)} vs {_shape(b)} ({cols})"
    if list(a) != list(b):
        return f"columns differ: {list(a)[1:]} vs {list(b)[1:]} (same shape {_shape(a)})"
    return None


def _column(x: np.ndarray, y: np.ndarray, a_rec: dict[str, Any], b_rec: dict[str, Any]) -> dict:
    x, y = _values(x, a_rec), _values(y, b_rec)
    return {
        "max_abs_diff": float(np.max(np.abs(x - y))) if len(x) else 0.0,
        "allclose": bool(np.allclose(x, y, rtol=RTOL, atol=ATOL, equal_nan=True)),
        "identical": bool(np.array_equal(x, y, equal_nan=True)),
    }


def _record_facts(rec: dict[str, Any]) -> dict[str, Any]:
    """What a run read and used beyond its config: input and weights, by hash."""
    inp, weights = rec.get("input") or {}, rec.get("weights") or {}
    saved = (rec.get("outputs") or {}).get("weights.safetensors") or {}
    return {
        "input.path": inp.get("path"),
        "input.sha256": inp.get("sha256"),
        "input.shape": inp.get("shape"),
        "input.feature_names": inp.get("feature_names"),
        "weights.origin": weights.get("origin"),
        "weights.path": weights.get("path"),
        "weights.sha256": weights.get("sha256"),
        "weights.safetensors.sha256": saved.get("sha256"),
    }


def input_changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Changed input and weights facts (hashes included), as ``{"key", "a", "b"}``."""
    fa, fb = _record_facts(a), _record_facts(b)
    return [{"key": k, "a": fa[k], "b": fb[k]} for k in fa if not _same(fa[k], fb[k])]


def metric_changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Changed metrics (dotted keys), A's order then B's new keys."""
    fa, fb = flatten(a.get("metrics") or {}), flatten(b.get("metrics") or {})
    keys = list(fa) + [k for k in fb if k not in fa]
    return [
        {"key": k, "a": fa.get(k), "b": fb.get(k)} for k in keys if not _same(fa.get(k), fb.get(k))
    ]


def is_empty(diff: dict[str, Any]) -> bool:
    cfg, outs = diff["config"], diff["outputs"]
    if outs.get("comparable"):
        same_outputs = all(c["identical"] for c in outs["columns"].values())
    else:
        same_outputs = outs.get("reason") == NO_OUTPUTS
    others = ("groups", "environment", "inputs", "metrics", "status", "changed_since")
    return not any(diff.get(k) for k in others) and not any(cfg.values()) and same_outputs
