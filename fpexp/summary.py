"""The sweep summary: one row per job, from each job's ``run.json``.

Written at the sweep root as ``summary.csv`` and ``summary.md`` (plus ``summary.png``, see
``summary_plot.py``) and printed as a table.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from fpexp.atomic import write_text
from fpexp.layer_stats import last_hidden_index
from fpexp.overrides import flatten


def _show(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, list):
        return "[" + ",".join(_show(v) for v in value) + "]"
    return "" if value is None else str(value)


def job_records(sweep_dir: Path) -> list[tuple[int, Path, dict[str, Any]]]:
    """``(job number, job dir, record)`` for every numbered job directory, in job order."""
    jobs = []
    for path in Path(sweep_dir).iterdir():
        if path.is_dir() and path.name.isdigit():
            try:
                rec = json.loads((path / "run.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                rec = {"status": "unknown", "error": "no readable run.json"}
            jobs.append((int(path.name), path, rec))
    return sorted(jobs, key=lambda job: job[0])


def swept_keys(records: list[dict[str, Any]]) -> list[str]:
    """Config keys (dotted) whose values differ between jobs, in config order."""
    flat = [flatten(r.get("config", {})) for r in records]
    keys: list[str] = []
    for f in flat:
        keys += [k for k in f if k not in keys]
    return [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]


def summary_rows(sweep_dir: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and one row per job."""
    jobs = job_records(sweep_dir)
    swept = swept_keys([rec for _, _, rec in jobs])
    rows = []
    for num, path, rec in jobs:
        cfg = flatten(rec.get("config", {}))
        row: dict[str, Any] = {"job": num, **{k: cfg.get(k) for k in swept}}
        model = rec.get("model", {})
        if "model.hidden" in swept:  # also as numbers, to plot against
            row["width"], row["depth"] = model.get("width"), model.get("depth")
        row["params"] = model.get("parameters")
        row["status"] = rec.get("status")
        row["error"] = rec.get("error") or ""
        results = rec.get("results", {})
        for name, value in results.get("output_mean", {}).items():
            row[f"mean[{name}]"] = value
        for name, value in results.get("output_std", {}).items():
            row[f"std[{name}]"] = value
        for name, value in results.get("predicted_counts", {}).items():
            row[f"n[{name}]"] = value
        for name, value in rec.get("metrics", {}).items():
            row[name] = value
        layers = rec.get("layers", [])
        hidden = last_hidden_index([layer["type"] for layer in layers])
        row["output_std"] = layers[-1]["std"] if layers else None
        row["last_hidden_std"] = layers[hidden]["std"] if hidden is not None else None
        row["duration_s"] = rec.get("duration_s")
        row["run_dir"] = path.name
        rows.append(row)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    return columns, rows


def to_csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_show(row.get(c)) for c in columns])
    return buf.getvalue()


def to_markdown(columns: list[str], rows: list[dict[str, Any]]) -> str:
    cells = [[_show(row.get(c)).replace("|", "\\|") for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        lines.append("| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |")
    return "\n".join(lines) + "\n"


def write_summary(sweep_dir: Path, renderer: Any = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Write ``summary.csv``/``.md``/``.png`` at the sweep root; return the table.

    ``renderer`` is a ``summary_plot.Renderer`` started with the sweep, if any.
    """
    columns, rows = summary_rows(sweep_dir)
    write_text(sweep_dir / "summary.csv", to_csv(columns, rows))
    write_text(sweep_dir / "summary.md", to_markdown(columns, rows))
    png = sweep_dir / "summary.png"
    if renderer is not None and rows and renderer.render(png, columns, rows):
        return columns, rows
    if renderer is not None:
        renderer.close()
    if rows:
        from fpexp.summary_plot import plot_summary

        plot_summary(png, columns, rows)
    return columns, rows
