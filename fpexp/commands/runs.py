"""``fpexp runs [ROOT]``: one line per run, single runs and sweep jobs alike, newest first."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fpexp.catalog import DEFAULT_ROOT, Run, find_runs, shown
from fpexp.commands import Parser

STATUSES = ("completed", "failed", "interrupted", "running", "stale", "unreadable")


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="fpexp runs", description=__doc__.split(": ", 1)[1])
    p.add_argument("root", nargs="?", default=str(DEFAULT_ROOT), help="where to look (./outputs)")
    p.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    p.add_argument("--last", type=_count, metavar="N", help="only the N newest runs")
    p.add_argument("--status", choices=STATUSES, help="only runs with this status")
    return p


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (an integer >= 0)")
    return int(text)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _summary(rec: dict[str, Any]) -> str:
    """The head's key metric when labels gave one, else predicted class counts or the output
    mean."""
    from fpexp.heads import head_of_record

    metrics, head = rec.get("metrics"), head_of_record(rec)
    if head is not None and isinstance(metrics, dict) and (line := head.headline(metrics)):
        return line
    results = rec.get("results") or {}
    counts = results.get("predicted_counts")
    if counts:
        return " ".join(f"{k}={v}" for k, v in counts.items())
    means = results.get("output_mean") or {}
    if means and all(_is_num(v) for v in means.values()):
        return " ".join(f"mean({k})={v:.4g}" for k, v in means.items())
    return (rec.get("error") or "")[:60]


def row(run: Run) -> dict[str, Any]:
    """One line of the listing; an unreadable run says why in its summary."""
    if run.problem is not None:
        none = dict.fromkeys(("task", "hidden", "activation"))
        return {
            "started_at": run.started_at,
            "run": shown(run.path),
            **none,
            "status": "unreadable",
            "summary": run.problem,
        }
    rec = run.record
    cfg = rec.get("config") or {}
    model = rec.get("model") or {}
    summary = _summary(rec)
    if run.status in ("stale", "unreadable"):
        summary = run.status_note().split(": ", 1)[1]
    return {
        "started_at": rec.get("started_at"),
        "run": shown(run.path),
        "task": (cfg.get("task") or {}).get("kind"),
        "hidden": model.get("hidden"),
        "activation": (cfg.get("model") or {}).get("activation"),
        "status": run.status,
        "summary": summary,
    }


def _cell(value: Any) -> str:
    """A value from a record (untrusted: any JSON value, any text) as one printable cell."""
    from fpexp.summary import printable

    return "" if value is None else printable(value if isinstance(value, str) else str(value))


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    runs = find_runs(Path(args.root))
    if args.status:
        runs = [r for r in runs if r.status == args.status]
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
            _cell((r["started_at"] or "")[:19].replace("T", " ")),
            _cell(r["run"]),
            _cell(r["task"]),
            "" if r["hidden"] is None else _cell("[" + ",".join(map(str, r["hidden"])) + "]"),
            _cell(r["activation"]),
            _cell(r["status"]),
            _cell(r["summary"]),
        ]
        for r in rows
    ]
    head = ["when", "run", "task", "hidden", "activation", "status", "summary"]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
    for line in [head, *table]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    return 0
