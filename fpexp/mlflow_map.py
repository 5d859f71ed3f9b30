"""What an fpexp run record becomes in MLflow: params, metrics, tags, times and status.

Pure functions over a record (untrusted: every value is checked for its type here), no
MLflow import. Params: the resolved config, flattened to dotted keys (layer lists by index),
each value as JSON text; a value longer than MLflow's limit is cut and ends with a marker
saying how long it was. Metrics: the record's ``metrics`` (nested ones dotted) and its output
statistics (``outputs.mean/NAME``, ``outputs.std/NAME``, ``predicted.n/NAME``), finite
numbers only: a bool, null, NaN, infinity or text is skipped and named in ``skipped``. A key
MLflow would refuse has each character it does not allow replaced by ``_``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fpexp.overrides import flatten
from fpexp.run_query import as_float

PARAM_LIMIT = 6000  # MLflow's longest param value (mlflow.utils.validation)
TAG_LIMIT = 8000  # and tag value
KEY_LIMIT = 250  # and param, metric or tag key
CUT = "…[cut: {n} characters in all]"
STATUS = {"completed": "FINISHED", "failed": "FAILED", "interrupted": "KILLED", "stale": "KILLED"}
STATS = {"output_mean": "outputs.mean", "output_std": "outputs.std"}
STATS["predicted_counts"] = "predicted.n"
STATE_TAG = "fpexp.state"  # a sweep parent's jobs and summary: when they change, it is redone
KEY_TAG = "fpexp.key"  # finds an exported run again: the same fpexp run, the same MLflow run
COMPLETE_TAG = "fpexp.complete"  # set last: the export of this run is whole
_BAD = re.compile(r"[^\w\-. /:]", re.ASCII)


@dataclass
class Mapped:
    """One fpexp run as MLflow takes it."""

    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    start_ms: int | None
    end_ms: int | None
    status: str
    skipped: list[str] = field(default_factory=list)


def mlflow_key(key: str) -> str:
    """``key`` with the characters MLflow refuses in a name replaced by ``_`` (at most
    ``KEY_LIMIT`` characters), and never a name MLflow reads as a path (a leading ``/``, an
    empty, ``.`` or ``..`` part): a record's class or package names are untrusted."""
    parts = _BAD.sub("_", key).split("/")
    safe = [p if p not in ("", ".", "..") else "_" * max(len(p), 1) for p in parts]
    return "/".join(safe)[:KEY_LIMIT]


def cut(text: str, limit: int) -> str:
    """``text``, or its head and a marker saying how long it was, ``limit`` characters in all."""
    if len(text) <= limit:
        return text
    marker = CUT.format(n=len(text))
    return text[: limit - len(marker)] + marker


def run_key(record: dict[str, Any], run_dir: str) -> str:
    """The ``fpexp.key`` tag: the run's content key (if recorded) and its directory, hashed."""
    content = record.get("content_key")
    text = f"{content if isinstance(content, str) else ''}\n{run_dir}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def sweep_key(sweep_dir: str) -> str:
    """The ``fpexp.key`` tag of a sweep's parent run."""
    return hashlib.sha256(f"sweep\n{sweep_dir}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def millis(when: Any) -> int | None:
    """An ISO 8601 time of a record in milliseconds since the epoch; None if not a time."""
    try:
        return round(datetime.fromisoformat(when).timestamp() * 1000)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def params(record: dict[str, Any]) -> dict[str, str]:
    """The config's dotted keys, each value as JSON text (cut at MLflow's limit)."""
    config = record.get("config")
    flat = flatten(config, lists=True) if isinstance(config, dict) else {}
    text = {mlflow_key(k): json.dumps(v, sort_keys=True, default=str) for k, v in flat.items()}
    return {k: cut(v, PARAM_LIMIT) for k, v in text.items()}


def _numbers(found: dict[str, Any], skipped: list[str]) -> dict[str, float]:
    """The finite numbers of ``found`` under MLflow keys; what is not one is named."""
    out: dict[str, float] = {}
    for key, value in found.items():
        number = as_float(value)
        if number is None or not math.isfinite(number):
            skipped.append(f"metric {key}: {json.dumps(value, default=str)[:40]} is not a number")
        elif (name := mlflow_key(key)) in out:
            skipped.append(f"metric {key}: its name is {name}, as another's")
        else:
            out[name] = number
    return out


def metrics(record: dict[str, Any], skipped: list[str]) -> dict[str, float]:
    """``metrics.*`` (without the prefix) and the output statistics, finite numbers only."""
    found: dict[str, Any] = {}
    recorded = record.get("metrics")
    if isinstance(recorded, dict):
        found.update((k, v) for k, v in flatten(recorded).items())
    results = record.get("results")
    for part, name in STATS.items():
        values = results.get(part) if isinstance(results, dict) else None
        if isinstance(values, dict):
            found.update((f"{name}/{column}", v) for column, v in values.items())
    return _numbers(found, skipped)


def _tag(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return cut(str(value).lower() if isinstance(value, bool) else str(value), TAG_LIMIT)


def _get(record: dict[str, Any], *path: str) -> Any:
    node: Any = record
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def tags(record: dict[str, Any], run_dir: str, status: str) -> dict[str, str]:
    """Status, task, run directory, git, versions, input and weights sha256, content key."""
    found: dict[str, Any] = {
        KEY_TAG: run_key(record, run_dir),
        "fpexp.run_dir": run_dir,
        "fpexp.status": status,
        "fpexp.task": _get(record, "config", "task", "kind"),
        "fpexp.git.commit": _get(record, "environment", "git", "commit"),
        "fpexp.git.dirty": _get(record, "environment", "git", "dirty"),
        "fpexp.input.sha256": _get(record, "input", "sha256"),
        "fpexp.weights.sha256": _get(record, "weights", "sha256"),
        "fpexp.weights.saved.sha256": _get(record, "outputs", "weights.safetensors", "sha256"),
        "fpexp.content_key": record.get("content_key"),
        "fpexp.error": record.get("error"),
    }
    packages = _get(record, "environment", "packages")
    for name, version in (packages if isinstance(packages, dict) else {}).items():
        found[mlflow_key(f"fpexp.version.{name}")] = version
    return {k: v for k, v in ((k, _tag(v)) for k, v in found.items()) if v is not None}


def mapped(record: dict[str, Any], run_dir: str, status: str) -> Mapped:
    """The run as MLflow takes it; ``status`` is fpexp's (``stale`` as the catalog says)."""
    skipped: list[str] = []
    return Mapped(
        params=params(record),
        metrics=metrics(record, skipped),
        tags=tags(record, run_dir, status),
        start_ms=millis(record.get("started_at")),
        end_ms=millis(record.get("ended_at")),
        status=STATUS.get(status, "FAILED"),
        skipped=skipped,
    )
