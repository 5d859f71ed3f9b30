"""``fpexp export mlflow [REF|SWEEP_DIR]...``: runs and sweeps into an MLflow tracking store
(``fpexp.mlflow_export``); needs the ``mlflow`` extra."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fpexp.catalog import DEFAULT_ROOT
from fpexp.commands import Parser
from fpexp.errors import EXIT_INTERRUPTED

EPILOG = (
    "One MLflow run per fpexp run: params = the config's dotted keys, metrics = the metrics "
    "and output statistics, tags = fpexp.* (status, task, run_dir, git, versions, sha256s), "
    "artifacts = the run's files and run.json; a sweep is a parent run (its summary) with a "
    "child per job. Exporting again changes nothing; an export stopped half-way finishes when "
    "run again. Exit 2: bad input or URI; 1: the server failed (what was exported stays)."
)


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="fpexp export", description=__doc__.split(": ", 1)[1], epilog=EPILOG)
    targets = p.add_subparsers(dest="target", required=True, metavar="TARGET", parser_class=Parser)
    m = targets.add_parser("mlflow", help="an MLflow tracking store", epilog=EPILOG)
    m.prog = "fpexp export mlflow"
    m.add_argument(
        "refs",
        nargs="*",
        metavar="REF",
        help="a run, @latest, @-N, SWEEP_DIR:JOB or "
        "a sweep directory (all its jobs); none: every run under --root",
    )
    m.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="EXPR",
        help="only runs where KEY OP VALUE holds (as fpexp runs --where)",
    )
    m.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="default: $MLFLOW_TRACKING_URI, else sqlite:///mlruns.db",
    )
    m.add_argument("--experiment", default="fpexp", metavar="NAME", help="default: fpexp")
    m.add_argument(
        "--max-artifact-mb",
        type=float,
        metavar="MB",
        help="leave out outputs larger than this (named in a tag)",
    )
    m.add_argument("--root", default=str(DEFAULT_ROOT), help="where runs are found (./outputs)")
    return p


def main(argv: list[str]) -> int:
    from fpexp.mlflow_export import export
    from fpexp.mlflow_store import ServerFailure
    from fpexp.summary import printable

    args = parser().parse_args(argv)

    def say(line: str) -> None:
        print(printable(line), flush=True)

    try:
        export(
            args.refs,
            Path(args.root),
            args.where,
            args.tracking_uri,
            args.experiment,
            args.max_artifact_mb,
            say,
        )
    except ServerFailure as err:
        print(printable(f"fpexp: error: {err}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fpexp: export mlflow: stopped (the same command finishes it)", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
