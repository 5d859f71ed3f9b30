"""What differs between two runs: config, group choices, outputs and environment. Pure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fpexp.overrides import flatten

RTOL, ATOL = 1e-5, 1e-8  # numpy/torch allclose defaults
NO_OUTPUTS = "neither run has outputs"


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def config_changes(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Changed, added and removed dotted keys, in A's key order then B's new keys."""
    fa, fb = flatten(a), flatten(b)
    changed = [
        {"key": k, "a": fa[k], "b": fb[k]} for k in fa if k in fb and not _same(fa[k], fb[k])
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
    """The run's table with this role (outputs or predictions), in whatever format it has."""
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


def output_changes(
    a_dir: Path, a_rec: dict[str, Any], b_dir: Path, b_rec: dict[str, Any]
) -> dict[str, Any]:
    """Per output column max |a - b| and an allclose verdict; flipped predictions by id."""
    a, b = _table(a_dir, a_rec, "outputs"), _table(b_dir, b_rec, "outputs")
    if a is None and b is None:
        return {"comparable": False, "reason": NO_OUTPUTS}
    if a is None or b is None:
        missing = "A" if a is None else "B"
        return {"comparable": False, "reason": f"run {missing} has no outputs"}
    shape_a = [len(a["id"]), len(a) - 1]
    shape_b = [len(b["id"]), len(b) - 1]
    if list(a) != list(b) or shape_a != shape_b:
        cols = f"columns {list(a)[1:]} vs {list(b)[1:]}"
        return {"comparable": False, "reason": f"shapes differ: {shape_a} vs {shape_b} ({cols})"}
    npy = _is_npy(a_rec) or _is_npy(b_rec)  # .npy tables carry no ids: compare by position
    if not npy and not np.array_equal(a["id"], b["id"]):
        return {"comparable": False, "reason": "the runs have different row ids"}
    if npy:
        a["id"] = b["id"] = a["id"] if not _is_npy(a_rec) else b["id"]
    columns = {}
    for name in list(a)[1:]:
        x, y = _values(a[name], a_rec), _values(b[name], b_rec)
        columns[name] = {
            "max_abs_diff": float(np.max(np.abs(x - y))) if len(x) else 0.0,
            "allclose": bool(np.allclose(x, y, rtol=RTOL, atol=ATOL, equal_nan=True)),
            "identical": bool(np.array_equal(x, y, equal_nan=True)),
        }
    out: dict[str, Any] = {"comparable": True, "shape": shape_a, "columns": columns}
    pa, pb = _table(a_dir, a_rec, "predictions"), _table(b_dir, b_rec, "predictions")
    classification = (a_rec.get("config") or {}).get("task", {}).get("kind") != "regression"
    if pa is not None and pb is not None and classification and len(pa["id"]) == len(pb["id"]):
        flips = np.asarray(pa["prediction"]) != np.asarray(pb["prediction"])
        out["flipped"] = [str(i) for i in pa["id"][flips]]
    return out


def is_empty(diff: dict[str, Any]) -> bool:
    cfg, outs = diff["config"], diff["outputs"]
    if outs.get("comparable"):
        same_outputs = all(c["identical"] for c in outs["columns"].values())
    else:
        same_outputs = outs.get("reason") == NO_OUTPUTS
    return not diff["groups"] and not any(cfg.values()) and not diff["environment"] and same_outputs
