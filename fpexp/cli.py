"""Command-line entry: ``python -m fpexp [overrides]`` or the ``fpexp`` console script.

A thin layer: Hydra parses and composes, ``HydraCall.task`` (``fpexp.hydra_run``) hands the
config to ``run_experiment``. Here user mistakes become ``fpexp: error: ...`` lines and exit
code 2 instead of tracebacks. ``run_hydra`` returns what the call did (a ``HydraRun``) and
keeps nothing: every call of ``main`` in a process starts from nothing.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from fpexp import sweep_tracking as sweep
from fpexp.catalog import shown
from fpexp.commands import COMMANDS, command_line_problem, version_line
from fpexp.config import hydra_speedups
from fpexp.config.store import CONFIG_NAME, config_dir, register, register_launcher
from fpexp.errors import EXIT_INTERRUPTED, EXIT_USAGE, Interrupted, Problem, UsageError
from fpexp.fast_exit import exit_process
from fpexp.faults import EXIT_FAULT, RunFault, before_run
from fpexp.hashing import forget as forget_input_hashes
from fpexp.hydra_run import HydraCall, HydraRun, RunOutcome
from fpexp.initial_weights import PastRun
from fpexp.interrupts import during_run
from fpexp.run_dirs import DirectoryRefused

log = logging.getLogger("fpexp")


def _print(problems: list[Problem]) -> None:
    for p in problems:
        print(f"fpexp: error: {p}", file=sys.stderr)


def _run(args: list[str], call: HydraCall) -> int:
    """Hydra's run or multirun; user mistakes and interruptions become exit codes."""
    from fpexp.config.additions import preflight

    hydra_main = hydra.main(version_base="1.3", config_path=config_dir(), config_name=CONFIG_NAME)
    try:
        if problems := _unparsable(args) or preflight(args):  # before any run directory
            _print(problems)
            return EXIT_USAGE
        hydra_main(call.task)()
    except UsageError as err:  # in a multirun: the first failed job's, already logged
        if not err.reported:
            _print(err.problems)
        return EXIT_USAGE
    except DirectoryRefused as refused:  # before Hydra wrote anything there
        _print([refused.problem])
        return EXIT_USAGE
    except sweep.JobFailed as err:  # a sweep job's failure: in its record and in the summary
        if not err.reported:
            print(f"fpexp: {err}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Interrupted) as err:
        call.stopped_by = str(err) if isinstance(err, Interrupted) else "SIGINT"
        print("fpexp: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RunFault as err:  # in a multirun
        print(f"fpexp: error: {err.line}", file=sys.stderr)
        return EXIT_FAULT
    except (HydraException, OmegaConfBaseException) as err:
        from fpexp.config.diagnose import diagnose

        problems = diagnose([a for a in args if not a.startswith("-")])
        _print(problems or [Problem("config", str(err).strip().splitlines()[0])])
        return EXIT_USAGE
    except OSError as err:  # Hydra writing .hydra/ or fpexp.log into a full disk (after
        # HydraException: Hydra's MissingConfigException is an OSError too)
        print(f"fpexp: error: {before_run(err, _output_dir())}", file=sys.stderr)
        return EXIT_FAULT
    return call.exit_code()


def _unparsable(args: list[str]) -> list[Problem]:
    """An override Hydra's parser fails on with a Python error instead of its own (an integer
    of over 4300 digits, brackets nested thousands deep), which would escape as a traceback."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for arg in (a for a in args if not a.startswith("-")):
        try:
            parser.parse_override(arg)
        except (HydraException, OmegaConfBaseException):
            continue  # Hydra's own message, reported as usual
        except (ValueError, RecursionError) as err:
            what = f"cannot parse override ({type(err).__name__}: {str(err)[:80]})"
            return [Problem(arg[:40] + ("..." if len(arg) > 40 else ""), what, "key=value")]
    return []


def _output_dir() -> str | None:
    """The run directory of a job that failed before it ran, from the log file Hydra opened
    in it (Hydra forgets its config when the job fails)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            return str(Path(handler.baseFilename).parent)
    return None


def _finish_sweep(state: sweep.SweepState, sweep_dir: Path) -> tuple[int, list[RunOutcome]]:
    """Write and print the sweep summary; 1 if any job did not complete; each job's outcome."""
    from fpexp.summary import SummaryNotWritten, one_line, to_markdown, write_summary

    try:
        columns, rows = write_summary(sweep_dir, state.jobs, renderer=state.renderer)
        unwritten = None
    except SummaryNotWritten as err:  # a full disk: the table on the console still
        (columns, rows), unwritten = err.table, err
    failed = [r for r in rows if r["status"] != "completed"]
    visible = [c for c in columns if c not in ("error", "run_dir")]
    print(to_markdown(visible, rows), end="")
    for r in failed:
        print(one_line(f"job {r['job']} {r['status']}: {r['error']}"), file=sys.stderr)
    where = shown(sweep_dir)
    runs = [RunOutcome(sweep_dir / str(r["run_dir"]), str(r["status"])) for r in rows]
    if unwritten is not None:
        print(f"fpexp: error: {where}: {unwritten}", file=sys.stderr)
        return EXIT_FAULT, runs
    print(f"sweep summary: {where}/summary.md ({len(rows)} jobs, {len(failed)} not completed)")
    from fpexp.mlflow_live import sweep_ended

    sweep_ended(sweep_dir)  # into MLflow when FPEXP_MLFLOW_TRACKING_URI is set
    return (1 if failed else 0), runs


def _refused_before_jobs(code: int, sweep_dir: Path) -> bool:
    """A sweep that stopped on bad input before any job started: its one-line error says it
    all, without a table of jobs that were never going to run."""
    started = any(p.is_dir() and not p.name.startswith(".") for p in sweep_dir.iterdir())
    return code == EXIT_USAGE and not started


def entry() -> NoReturn:
    """The ``fpexp`` console script and ``python -m fpexp``: ``main()``, then a fast exit."""
    exit_process(main())


def main(argv: list[str] | None = None) -> int:
    """``fpexp runs|diff|rerun ...`` or a Hydra run/multirun (everything else)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--version" in args and (not args or args[0] not in COMMANDS):
        print(version_line())
        return 0
    if args and args[0] in COMMANDS:
        from importlib import import_module

        command = import_module(f"fpexp.commands.{args[0]}")
        try:
            return command.main(args[1:])
        except UsageError as err:
            _print(err.problems)
            return EXIT_USAGE
        except BrokenPipeError:  # fpexp runs | head
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    if (problem := command_line_problem(args)) is not None:
        _print([problem])
        return EXIT_USAGE
    return run_hydra(args).code


@contextmanager
def _root_logging_restored() -> Iterator[None]:
    """Hydra points the root logger at the run's console and ``fpexp.log``: put back what the
    process had (a notebook's own messages must not land in a finished run's log)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)


def run_hydra(
    args: list[str], past: PastRun | None = None, resuming: Path | None = None
) -> HydraRun:
    """Run Hydra on ``args``; ``past`` is the run a ``rerun`` reproduces, ``resuming`` the
    existing sweep directory ``fpexp resume`` reruns jobs in. Exit codes: 0 ok,
    2 bad input, 1 a fault (a full disk, ...) or a sweep job failed, 130 stopped.

    A multirun's summary is written however the sweep ended, before any error propagates.
    Everything the call needs or learns is in its ``HydraCall`` and ``SweepState``: nothing
    is left behind for the next call.
    """
    call = HydraCall(past=past)
    saved_argv, saved_env = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    sys.argv = [saved_argv[0] if saved_argv else "fpexp", *args]
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let exceptions reach us instead of Hydra's printer
    register()  # each call: the Python API puts back the ConfigStore and resolvers it found
    register_launcher()
    code, sweep_code, sweep_dir = 0, 0, None
    with _root_logging_restored(), sweep.tracking(resuming) as state:
        try:
            # From Hydra's startup on, SIGTERM stops like Ctrl-C (exit 130), also before the
            # run's record exists (a run installs its own handlers while it runs); restored after.
            with during_run(), hydra_speedups.installed():
                code = _run(args, call)
        finally:
            forget_input_hashes()  # shared by one sweep's jobs, never by the next call
            sys.argv = saved_argv
            if saved_env is None:
                os.environ.pop("HYDRA_FULL_ERROR", None)
            else:
                os.environ["HYDRA_FULL_ERROR"] = saved_env
            sweep_dir = state.sweep_dir
            if (
                sweep_dir is not None
                and sweep_dir.is_dir()
                and not _refused_before_jobs(code, sweep_dir)
            ):
                sweep_code, call.runs[:] = _finish_sweep(state, sweep_dir)
    runs = tuple(call.runs)
    return HydraRun(code or sweep_code, runs, sweep_dir, call.failure_lines(), call.stopped_by)
