"""Runs as flat rows of typed fields, the columns ``fpexp runs`` shows, and their formats.

A run's fields: ``started_at``, ``run``, ``status``, ``duration_s``, its config's dotted keys
(``model.width``, ``task.kind``, ``seed``), ``metrics.*``, ``results.*`` and ``note`` (why a run
is unreadable or stale, a failed run's error). Default columns: when, run, status, the config
keys whose values differ among the listed runs, the metrics, and ``note`` when a run has one.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from fpexp.catalog import Run, shown
from fpexp.errors import Problem, UsageError
from fpexp.overrides import flatten
from fpexp.run_query import ALIASES, check_keys, conditions, instant, is_num, known_keys, sort_order

FIXED = ("started_at", "run", "status")
LIVE = (*FIXED, "note")  # fields read from the run directory as it is now, not its record
HEADERS = {v: k for k, v in ALIASES.items()}  # a column's name in a table, where not its key
Entry = tuple[Callable[[], Run], "dict[str, Any] | None"]  # a run on demand, its record fields
_LOCATIONS = ("hydra.", "run_dir")  # where a run was written: never "what differs"
RUN_KEYS = ("content_key", "reused_from")  # record fields of a run that are not its config


def fields(run: Run, flat: dict[str, Any] | None = None, cwd: Path | None = None) -> dict[str, Any]:
    """The run's flat, typed fields (an unreadable run: when, run, status and note only);
    ``flat``: its ``record_fields`` when already known (the index keeps them)."""
    status = run.status
    row: dict[str, Any] = {"started_at": run.started_at, "run": _shown(run.path, cwd)}
    row["status"] = status
    if run.problem is None:
        row.update(record_fields(run.record) if flat is None else flat)
    if status in ("stale", "unreadable"):
        row["note"] = run.status_note().partition(": ")[2] or status
    elif status == "failed" and (error := str(run.record.get("error") or "").strip()):
        row["note"] = error.splitlines()[0]
    elif isinstance(row.get("reused_from"), str):
        row["note"] = f"reused from {_shown(Path(row['reused_from']), cwd)}"
    return row


def record_fields(rec: dict[str, Any]) -> dict[str, Any]:
    """The fields a record alone decides: duration_s, the config's dotted keys (layer lists by
    index, as overrides key them), metrics.* and results.*."""
    config = rec.get("config")
    row: dict[str, Any] = {"duration_s": rec.get("duration_s")}
    row.update(flatten(config, lists=True) if isinstance(config, dict) else {})
    row.update((k, rec[k]) for k in RUN_KEYS if isinstance(rec.get(k), str))
    for part in ("metrics", "results"):
        flat = flatten(rec.get(part) or {}, f"{part}.")
        row.update((k, v) for k, v in flat.items() if v != {})
    return row


def _shown(path: Path, cwd: Path | None) -> str:
    """``catalog.shown`` for a resolved path, the working directory resolved once."""
    if cwd is None:
        return shown(path)
    text, inside = str(path), str(cwd)
    if text == inside:
        return "."
    prefix = inside.rstrip(os.sep) + os.sep
    return text[len(prefix) :] if text.startswith(prefix) else text


@dataclass(frozen=True)
class Listing:
    """The runs a query picked, their fields, and every key of the runs it looked at."""

    runs: list[Run]
    rows: list[dict[str, Any]]
    known: list[str]


def entries(runs: Sequence[Run]) -> list[Entry]:
    """Runs already read, as ``pick`` takes them."""
    return [(partial(same_run, r), None) for r in runs]


def same_run(run: Run) -> Run:
    return run


def pick(
    found: Sequence[Entry],
    where: Sequence[str] = (),
    sort: str | None = None,
    last: int | None = None,
) -> Listing:
    """The runs that satisfy every ``where``, newest first (the ``last`` newest of them), then
    ordered by ``sort``; keys are checked against every key of the runs found.

    ``found``: each run (made on demand) and its ``record_fields`` when known (the index keeps
    them), so conditions on record keys are decided before a run's directory is looked at."""
    made: dict[int, Run] = {}
    flats: list[dict[str, Any]] = []
    for i, (make, flat) in enumerate(found):
        if flat is None:
            run = made[i] = make()
            flat = record_fields(run.record) if run.problem is None else {}
        flats.append(flat)
    known = [*LIVE, *(k for k in known_keys(flats) if k not in LIVE)]
    conds = conditions(where, known)
    early, late = [c for c in conds if c.key not in LIVE], [c for c in conds if c.key in LIVE]
    cwd, runs, rows = Path.cwd().resolve(), [], []
    for i, flat in enumerate(flats):
        if all(c.holds(flat) for c in early):
            run = made[i] if i in made else found[i][0]()
            row = fields(run, flat, cwd)
            if all(c.holds(row) for c in late):
                runs.append(run)
                rows.append(row)
    newest = sorted(
        range(len(rows)), key=lambda i: (instant(rows[i]["started_at"]), str(runs[i].path))
    )
    kept = newest[::-1][:last]
    order = [kept[i] for i in sort_order([rows[i] for i in kept], sort, known)]
    return Listing([runs[i] for i in order], [rows[i] for i in order], known)


def columns(rows: Sequence[dict[str, Any]], every: bool = False) -> list[str]:
    """The default columns of these rows (``every``: all keys any row has)."""
    keys = known_keys(rows)
    if every:
        return sorted(keys, key=_group)
    configs = [r for r in rows if "duration_s" in r]  # readable records only
    config_keys = [k for k in known_keys(configs) if _is_config(k)]
    differ = [k for k in config_keys if len({_same(r.get(k)) for r in configs}) > 1]
    metrics = [k for k in keys if k.startswith("metrics.")]
    return [*FIXED, *differ, *metrics, *(["note"] if "note" in keys else [])]


def _group(key: str) -> int:
    """Where a key goes in ``--all``: the fixed columns, config, metrics, results, note."""
    if key in FIXED:
        return FIXED.index(key)
    order = ("duration_s", "", "metrics.", "results.", "note")
    return 3 + next((i for i, p in enumerate(order) if p and key.startswith(p)), 1)


def _is_config(key: str) -> bool:
    return key not in ("started_at", "run", "status", "duration_s", "note", *RUN_KEYS) and not (
        key.startswith(("metrics.", "results.", *_LOCATIONS))
    )


def _same(value: Any) -> Any:
    """A hashable stand-in for a value: equal for equal values (1 and 1.0 alike, not True)."""
    if value is None or isinstance(value, (str, int, float)):
        return (type(value) is bool, value)
    return (None, json.dumps(value, sort_keys=True))


def chosen(text: str, known: Sequence[str]) -> list[str]:
    """``--columns K,...`` as keys (``when`` is ``started_at``); keys not ``known`` are
    errors."""
    keys = [ALIASES.get(k.strip(), k.strip()) for k in text.split(",") if k.strip()]
    if not keys:
        raise UsageError([Problem("--columns", f"{text!r} names no key", "K,... of listed keys")])
    if known:
        check_keys("--columns", keys, known)
    return keys


def cell(key: str, value: Any) -> str:
    """A value as one printable table cell (floats to 6 digits, lists as ``[8,8]``)."""
    from fpexp.summary import printable

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if key == "started_at" and isinstance(value, str):
        return printable(value[:19].replace("T", " "))
    if isinstance(value, float):
        return f"{value:.6g}"
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return printable(text)


def as_table(keys: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """Aligned columns, as ``fpexp runs`` prints them."""
    table = [[HEADERS.get(k, k) for k in keys]]
    table += [[cell(k, r.get(k)) for k in keys] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(keys))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in table]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def as_markdown(keys: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table: the table's cells, ``|`` escaped."""
    from fpexp.summary import to_markdown

    shown_rows = [{k: cell(k, r.get(k)) for k in keys} for r in rows]
    named = [{HEADERS.get(k, k): v for k, v in r.items()} for r in shown_rows]
    return to_markdown([HEADERS.get(k, k) for k in keys], named)


def as_csv(keys: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """CSV with the keys as header; text as is, other values as JSON, null empty."""
    from fpexp.summary import to_csv

    return to_csv(keys, rows, _plain)


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return repr(value) if is_num(value) else json.dumps(value, separators=(",", ":"))


def as_json(keys: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """A JSON list of objects, one per run, typed values (missing, NaN, infinite: null)."""
    return json.dumps([{k: _finite(r.get(k)) for k in keys} for r in rows], indent=2) + "\n"


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float in it (nested too) as null: strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value
