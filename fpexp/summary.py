"""The sweep summary: one row per job, from each job's ``run.json``.

Written at the sweep root as ``summary.csv`` and ``summary.md`` (plus ``summary.png``, see
``summary_plot.py``) and printed as a table.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fpexp.atomic import write_text
from fpexp.layer_types import last_hidden_index
from fpexp.overrides import flatten, refined
from fpexp.sweep_jobs import jobs_of


def _show(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, list):
        return "[" + ",".join(_show(v) for v in value) + "]"
    return "" if value is None else str(value)


def varying(lists: list[list[str]]) -> list[list[str]]:
    """Each job's overrides less those that every job has."""
    common = set.intersection(*(set(o) for o in lists)) if lists else set()
    return [[o for o in overrides if o not in common] for overrides in lists]


def swept_keys(records: list[dict[str, Any]]) -> list[str]:
    """Config keys (dotted) whose values differ between jobs, in config order."""
    flat = [flatten(r.get("config", {})) for r in records]
    keys: list[str] = []
    for f in flat:
        keys += [k for k in f if k not in keys]
    swept = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]
    return [key for k in swept for key in refined(k, [f.get(k) for f in flat])]


def _results(row: dict[str, Any], rec: dict[str, Any]) -> None:
    results = rec["results"]
    for name, value in (results.get("output_mean") or {}).items():
        row[f"mean[{name}]"] = value
    for name, value in (results.get("output_std") or {}).items():
        row[f"std[{name}]"] = value
    for name, value in (results.get("predicted_counts") or {}).items():
        row[f"n[{name}]"] = value
    for name, value in rec["metrics"].items():
        row[name if name not in row else f"metric[{name}]"] = value
    layers = rec["layers"]
    hidden = last_hidden_index([x["type"] for x in layers], [x.get("params") for x in layers])
    row["output_std"] = layers[-1].get("std") if layers else None
    row["last_hidden_std"] = layers[hidden].get("std") if hidden is not None else None


def summary_rows(
    sweep_dir: Path, planned: list[list[str]] | None = None
) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and one row per job."""
    columns, rows, _ = _summary(sweep_dir, planned)
    return columns, rows


def _reused_from(rec: dict[str, Any], sweep_dir: Path) -> str | None:
    """The run a job reused, relative to the root its sweep looked under when inside it."""
    from fpexp.reuse_find import root_of

    value = rec.get("reused_from")
    if not isinstance(value, str):
        return None
    base = root_of(Path(sweep_dir) / "0", multirun=True)
    path = Path(value)
    return str(path.relative_to(base)) if path.is_relative_to(base) else value


def _headline_metrics(records: list[dict[str, Any]]) -> list[str]:
    """Each head's key metric (accuracy, mse, ...) that some job measured (it had labels)."""
    from fpexp.heads import head_of_record

    names: list[str] = []
    for rec in records:
        head, metrics = head_of_record(rec), rec.get("metrics")
        name = head.headline_metric if head is not None else ""
        if name and isinstance(metrics, dict) and name in metrics and name not in names:
            names.append(name)
    return names


def _summary(
    sweep_dir: Path, planned: list[list[str]] | None
) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    jobs = jobs_of(sweep_dir, planned)
    swept = swept_keys([j.record for j in jobs if j.record is not None])
    shown_overrides = varying([j.overrides for j in jobs])
    reused = any(isinstance((j.record or {}).get("reused_from"), str) for j in jobs)
    rows = []
    for job, overrides in zip(jobs, shown_overrides, strict=True):
        rec = job.record or {}
        cfg = {**flatten(rec.get("config") or {}), **flatten(rec.get("config") or {}, lists=True)}
        row: dict[str, Any] = {"job": job.num, **{k: cfg.get(k) for k in swept}}
        model = rec.get("model") or {}
        if "model.hidden" in swept:  # also as numbers, to plot against
            row["width"], row["depth"] = model.get("width"), model.get("depth")
        row["params"] = model.get("parameters")
        row["status"], row["error"] = job.status, job.error
        if reused:  # a column only in a sweep where some job took an earlier run's files
            row["reused_from"] = _reused_from(rec, sweep_dir)
        if job.record is not None:
            _results(row, job.record)
        row["duration_s"] = rec.get("duration_s")
        row["overrides"] = " ".join(overrides)
        row["run_dir"] = job.path.name
        rows.append(row)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    done = [j.record for j in jobs if j.record is not None and j.status == "completed"]
    return columns, rows, _headline_metrics(done)


def to_csv(
    columns: Sequence[str], rows: Sequence[dict[str, Any]], show: Callable[[Any], str] = _show
) -> str:
    """CSV text: a header of ``columns``, then each row's values as ``show`` writes them."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([show(row.get(c)) for c in columns])
    return buf.getvalue()


def printable(text: str) -> str:
    """``text`` with control characters (a record's text could hold terminal escapes or
    newlines) written as ``\\xNN``, ``\\n``: safe to print, on one line."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def one_line(text: str) -> str:
    """A table cell on one line: ``|`` escaped, control characters written as ``\\xNN``."""
    return printable(text).replace("|", "\\|")


def to_markdown(columns: list[str], rows: list[dict[str, Any]]) -> str:
    columns_shown = [one_line(c) for c in columns]
    cells = [[one_line(_show(row.get(c))) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns_shown)]
    head = zip(columns_shown, widths, strict=True)
    lines = ["| " + " | ".join(c.ljust(w) for c, w in head) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        lines.append("| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |")
    return "\n".join(lines) + "\n"


class SummaryNotWritten(Exception):
    """An ``OSError`` (a full disk, ...) while writing ``name``; the table is still returned."""

    def __init__(self, name: str, err: OSError, table: tuple[list[str], list[dict[str, Any]]]):
        reason = os.strerror(err.errno) if err.errno else (err.strerror or str(err) or "error")
        super().__init__(f"{reason[:1].lower()}{reason[1:]} (while writing {name})")
        self.table = table


def write_summary(
    sweep_dir: Path, planned: list[list[str]] | None = None, renderer: Any = None
) -> tuple[list[str], list[dict[str, Any]]]:
    """Write ``summary.csv``/``.md``/``.png`` at the sweep root; return the table.

    ``planned`` is each job's overrides (``sweep.json``), ``renderer`` a
    ``summary_plot.Renderer`` started with the sweep, if any. An ``OSError`` while writing
    raises ``SummaryNotWritten``, which carries the table. Never imports torch: this runs
    after a signal that may have left torch half-imported.
    """
    columns, rows, metrics = _summary(sweep_dir, planned)
    name = "summary.csv"
    try:
        write_text(sweep_dir / name, to_csv(columns, rows))
        name = "summary.md"
        write_text(sweep_dir / name, to_markdown(columns, rows))
        name = "summary.png"
        _write_plot(sweep_dir / name, (columns, rows, metrics), renderer)
    except OSError as err:
        raise SummaryNotWritten(name, err, (columns, rows)) from None
    return columns, rows


def _write_plot(
    png: Path, table: tuple[list[str], list[dict[str, Any]], list[str]], renderer: Any
) -> None:
    columns, rows, metrics = table
    if renderer is not None and rows and renderer.render(png, columns, rows, metrics):
        return
    if renderer is not None:
        renderer.close()
    if rows:
        from fpexp.summary_plot import plot_summary

        plot_summary(png, columns, rows, metrics)
