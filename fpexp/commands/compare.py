"""``fpexp compare REF...``: one table of runs and sweeps' jobs: the config keys whose values
differ among them, their metrics and output statistics; with two runs, what ``fpexp diff``
says about their outputs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fpexp import run_table
from fpexp.catalog import DEFAULT_ROOT
from fpexp.commands import Parser
from fpexp.run_compare import REF_FORMS, as_object, gather, keys_of, rows_of

EPILOG = (
    "Output statistics, from each run's record: outputs.mean[NAME] and outputs.std[NAME] of "
    "each output column, predicted.n[NAME] the rows predicted as class NAME. A run named twice "
    "(also as a sweep's job) is listed once. --csv holds the table only; --json is "
    '{"runs": [...], "diff": {...} with two runs else null, "notes": [...]}.'
)


def parser() -> argparse.ArgumentParser:
    about = __doc__.split(": ", 1)[1].replace("``", "")
    p = Parser(prog="fpexp compare", description=about, epilog=EPILOG)
    p.add_argument("refs", nargs="+", metavar="REF", help=REF_FORMS + " (all its jobs)")
    p.add_argument("--columns", metavar="K,...", help="show these keys instead (when = started_at)")
    p.add_argument("--all", action="store_true", help="show every key")
    p.add_argument("--root", default=str(DEFAULT_ROOT), help="where @latest looks (./outputs)")
    out = p.add_mutually_exclusive_group()
    for name in ("csv", "json", "md"):
        out.add_argument(f"--{name}", action="store_true", help=f"{name} instead of a table")
    return p


def _printable(text: str) -> str:
    """Every line printable (a record's keys and column names could hold escapes)."""
    from fpexp.summary import printable

    return "".join(printable(line) + "\n" for line in text.splitlines())


def as_text(keys: list[str], rows: list[dict[str, Any]], pair: dict[str, Any] | None) -> str:
    """The table; with two runs, then ``fpexp diff``'s lines about their outputs."""
    from fpexp.commands.diff import output_lines
    from fpexp.summary import printable

    named = [{printable(k): r.get(k) for k in keys} for r in rows]  # aligned once escaped
    text = run_table.as_table([printable(k) for k in keys], named)
    if pair is not None:
        lines = ["", f"a: {pair['a']}", f"b: {pair['b']}", *output_lines(pair["outputs"])]
        text += "\n".join(lines) + "\n"
    return _printable(text)


def as_markdown(keys: list[str], rows: list[dict[str, Any]], pair: dict[str, Any] | None) -> str:
    """The Markdown table; with two runs, ``fpexp diff --md``'s Outputs section."""
    from fpexp.commands.diff import output_markdown

    text = run_table.as_markdown(keys, rows)
    if pair is not None:
        heading = f"### Outputs: `{pair['a']}` → `{pair['b']}`"
        text += "\n".join(["", heading, "", *output_markdown(pair["outputs"])]) + "\n"
    return _printable(text)


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    picked = gather(args.refs, Path(args.root))
    rows = rows_of(picked.members)
    keys = keys_of(rows, args.columns, args.all)
    for note in picked.notes:
        print(_printable(f"note: {note}"), end="", file=sys.stderr)
    if args.csv:
        print(run_table.as_csv(keys, rows), end="")
        return 0
    found = as_object(picked, keys, rows)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        write = as_markdown if args.md else as_text
        print(write(keys, rows, found["diff"]), end="")
    return 0
