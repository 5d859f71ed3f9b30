"""``fpexp runs [ROOT]``: one line per run, single runs and sweep jobs alike, newest first."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fpexp.catalog import DEFAULT_ROOT, Run, find_runs, shown
from fpexp.commands import Parser

STATUSES = ("completed", "failed", "interrupted", "running")


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="fpexp runs", description=__doc__.split(": ", 1)[1])
    p.add_argument("root", nargs="?", default=str(DEFAULT_ROOT), help="where to look (./outputs)")
    p.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    p.add_argument("--last", type=int, metavar="N", help="only the N newest runs")
    p.add_argument("--status", choices=STATUSES, help="only runs with this status")
    return p


def _summary(rec: dict[str, Any]) -> str:
    """A key metric when labels gave one, else predicted class counts or the output mean."""
    metrics = rec.get("metrics") or {}
    if "accuracy" in metrics:
        return f"accuracy={metrics['accuracy']:.4f}"
    if "mse" in metrics:
        return f"mse={metrics['mse']:.4g}"
    results = rec.get("results") or {}
    counts = results.get("predicted_counts")
    if counts:
        return " ".join(f"{k}={v}" for k, v in counts.items())
    means = results.get("output_mean") or {}
    if means:
        return " ".join(f"mean({k})={v:.4g}" for k, v in means.items())
    return (rec.get("error") or "")[:60]


def row(run: Run) -> dict[str, Any]:
    rec = run.record
    cfg = rec.get("config") or {}
    model = rec.get("model") or {}
    return {
        "started_at": rec.get("started_at"),
        "run": shown(run.path),
        "task": (cfg.get("task") or {}).get("kind"),
        "hidden": model.get("hidden"),
        "activation": (cfg.get("model") or {}).get("activation"),
        "status": rec.get("status"),
        "summary": _summary(rec),
    }


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    runs = find_runs(Path(args.root))
    if args.status:
        runs = [r for r in runs if r.record.get("status") == args.status]
    if args.last is not None:
        runs = runs[: args.last]
    rows = [row(r) for r in runs]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no runs under {args.root}")
        return 0
    table = [
        [
            (r["started_at"] or "")[:19].replace("T", " "),
            r["run"],
            r["task"] or "",
            "" if r["hidden"] is None else "[" + ",".join(map(str, r["hidden"])) + "]",
            r["activation"] or "",
            r["status"] or "",
            r["summary"],
        ]
        for r in rows
    ]
    head = ["when", "run", "task", "hidden", "activation", "status", "summary"]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
    for line in [head, *table]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    return 0
