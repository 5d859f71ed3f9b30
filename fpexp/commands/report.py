"""``fpexp report REF... -o FILE``: the runs as one self-contained HTML page, for a browser.

The page opens offline (nothing is fetched): the runs' comparison table (sortable, filterable),
every metric and output statistic plotted against each swept key, per-layer statistics of a
chosen run, and each run's config and record."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from pathlib import Path

from fpexp import run_table
from fpexp.catalog import DEFAULT_ROOT, Run, find_runs, load_run, resolve
from fpexp.commands import Parser
from fpexp.errors import Problem, UsageError
from fpexp.record import RECORD
from fpexp.run_query import FORM


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="fpexp report",
        description=__doc__.split(": ", 1)[1],
        epilog="REF: a run directory, @latest, @-N or SWEEP_DIR:JOB; a directory that is not a "
        "run (a sweep, a root) stands for every run under it; none: every run under --root",
    )
    p.add_argument("refs", nargs="*", metavar="REF|SWEEP_DIR", help="the runs to report on")
    p.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="EXPR",
        help=f"only runs where {FORM} (as for fpexp runs); repeated: all must hold".replace(
            "%", "%%"
        ),
    )
    p.add_argument(
        "--root",
        default=str(DEFAULT_ROOT),
        help="where @ references look; without REF, every run under it (./outputs)",
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file to write")
    return p


def selected(refs: list[str], root: Path) -> list[Run]:
    """The runs the references name, each once, in the order named; every bad reference is
    reported at once."""
    if not refs and not root.is_dir():
        raise UsageError([Problem(str(root), "no such directory", "name runs or sweep dirs")])
    found: dict[Path, Run] = {}
    problems: list[Problem] = []
    for ref in refs or [str(root)]:
        try:
            runs = _runs_of(ref, root)
        except UsageError as err:
            problems += err.problems
            continue
        for run in runs:
            found.setdefault(run.path, run)
    if problems:
        raise UsageError(problems)
    return list(found.values())


def _runs_of(ref: str, root: Path) -> list[Run]:
    path = Path(ref)
    if ref and path.is_dir() and not (path / RECORD).exists():
        runs = find_runs(path)
        if not runs:
            raise UsageError([Problem(ref, "no runs under it", "a run or sweep directory")])
        return runs
    if ref and path.is_dir():
        return [load_run(path)]
    return [resolve(ref, root)]


TARGET = "a new file, or a report fpexp wrote"


def _not_writable(out: Path) -> str | None:
    """Why ``-o`` may not be written (None: it may). Only a new name or an earlier report is
    replaced: never a run's or sweep's file, a link, a device or anything else."""
    from fpexp.report_html import GENERATOR

    if not str(out) or not out.parent.is_dir():
        return "its folder does not exist"
    if not os.path.lexists(out):
        return None
    mode = out.lstat().st_mode
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a link" if stat.S_ISLNK(mode) else None
        return f"is {kind or 'not a regular file'}"
    try:
        with open(out, "rb") as fh:
            head = fh.read(4096)
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    return None if GENERATOR.encode() in head else "exists and is not a report fpexp wrote"


def main(argv: list[str]) -> int:
    from fpexp import __version__
    from fpexp.atomic import atomic_path
    from fpexp.catalog import shown
    from fpexp.report_data import build
    from fpexp.report_html import page, runs_text

    args = parser().parse_args(argv)
    out = Path(args.output)
    if (why := _not_writable(out)) is not None:
        raise UsageError([Problem("--output", f"{args.output or repr('')}: {why}", TARGET)])
    runs = selected(args.refs, Path(args.root))
    listing = run_table.pick(run_table.entries(runs), args.where)
    if not listing.rows:
        what = f"none of the {len(runs)} runs match"
        raise UsageError([Problem("--where", what, " and ".join(args.where))])
    report = build(listing)
    text = page(report, __version__)
    try:
        with atomic_path(out) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as err:  # a fault (a full disk), not bad input: exit 1, nothing left
        print(f"fpexp: error: --output: {args.output}: {err.strerror or err}", file=sys.stderr)
        return 1
    size = len(text.encode()) / 1024
    swept = ", ".join(report.swept) or "none"
    print(
        f"wrote {shown(out)} ({size:.0f} KiB): {runs_text(len(listing.rows))}, swept: {swept}, "
        f"{len(report.plots)} plots"
    )
    return 0
