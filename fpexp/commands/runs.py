"""``fpexp runs [ROOT|SWEEP_DIR]``: one line per run, single runs and sweep jobs alike, newest
first; the config keys whose values differ among the listed runs, then the metrics."""

from __future__ import annotations

import argparse
from pathlib import Path

from fpexp import run_table
from fpexp.catalog import DEFAULT_ROOT
from fpexp.commands import Parser
from fpexp.errors import Problem, UsageError
from fpexp.run_index import indexed_runs
from fpexp.run_query import FORM

STATUSES = ("completed", "failed", "interrupted", "running", "stale", "unreadable")
FORMATS = {"table": run_table.as_table, "csv": run_table.as_csv, "json": run_table.as_json}
FORMATS["md"] = run_table.as_markdown


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="fpexp runs",
        description=__doc__.split(": ", 1)[1],
        epilog="KEY: a dotted config key (model.width, task.kind, data.path, seed), status, "
        "duration_s, metrics.NAME, results.NAME, started_at, run",
    )
    p.add_argument("root", nargs="?", help="where to look (default ./outputs)")
    p.add_argument("--where", action="append", default=[], metavar="EXPR", help=_where_help())
    p.add_argument("--sort", metavar="[-]KEY", help="order by KEY (-KEY: descending), missing last")
    p.add_argument("--columns", metavar="K,...", help="show these keys instead (when = started_at)")
    p.add_argument("--all", action="store_true", help="show every key")
    p.add_argument("--last", type=_count, metavar="N", help="only the N newest matching runs")
    p.add_argument("--status", choices=STATUSES, help="only runs with this status")
    out = p.add_mutually_exclusive_group()
    for name in FORMATS:
        if name != "table":
            out.add_argument(f"--{name}", action="store_true", help=f"{name} instead of a table")
    return p


def _where_help() -> str:
    return (
        f"only runs where {FORM} (~ is a glob; times such as when>=2026-11-29 compare as"
        " instants, in this time zone unless given an offset); repeated: all must hold"
    ).replace("%", "%%")


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (an integer >= 0)")
    return int(text)


def _joined(argv: list[str]) -> list[str]:
    """``--sort -KEY`` as ``--sort=-KEY`` (argparse would take ``-KEY`` for an option)."""
    out: list[str] = []
    for word in argv:
        if out and out[-1] == "--sort" and word.startswith("-") and not word.startswith("--"):
            out[-1] = f"--sort={word}"
        else:
            out.append(word)
    return out


def main(argv: list[str]) -> int:
    args = parser().parse_args(_joined(argv))
    if args.root is not None and not Path(args.root).is_dir():
        what = "is not a directory" if Path(args.root).exists() else "does not exist"
        raise UsageError([Problem("ROOT", f"{args.root} {what}", "a runs root or sweep directory")])
    args.root = args.root or str(DEFAULT_ROOT)  # a new user's missing ./outputs: no runs yet
    runs = indexed_runs(Path(args.root))
    where = [*args.where, *([f"status={args.status}"] if args.status else [])]
    listed = run_table.pick(runs, where, args.sort, args.last)
    rows = listed.rows
    fmt = next((n for n in FORMATS if getattr(args, n, False)), "table")
    if args.columns:
        keys = run_table.chosen(args.columns, listed.known)
    else:
        keys = run_table.columns(rows, every=args.all)
    if not rows and fmt in ("table", "md"):
        print(
            f"none of the {len(runs)} runs under {args.root} match"
            if runs
            else f"no runs under {args.root}"
        )
        return 0
    print(FORMATS[fmt](keys, rows), end="")
    return 0
