"""``fpexp.sweep`` and ``fpexp.Sweep``: a Hydra multirun from Python, and its jobs and summary.

``sweep`` goes through the CLI's own path (``fpexp.cli.run_hydra`` with ``-m``), into the
directory the CLI would name (``ROOT/multirun/<date>/<time>.<ms>-<random>``), so the sweep has
the CLI's files (``sweep.json``, each job's run directory, ``summary.csv``/``.md``/``.png``).
A ``Sweep`` reads everything from that directory (untrusted, like any record).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fpexp.api import RunFailed, cli_problems, error_lines, guarded, interrupted
from fpexp.api_run import Run
from fpexp.api_state import caller_state
from fpexp.errors import EXIT_INTERRUPTED, EXIT_USAGE, Problem, UsageError

if TYPE_CHECKING:
    from fpexp.hydra_run import HydraRun

_LAUNCHER = "hydra/launcher"


class Sweep:
    """A sweep directory (``fpexp.sweep``'s result, or any made by ``python -m fpexp -m``).

    Example::

        sweep = fpexp.sweep("model.hidden=[2],[4]", "task=binary,multiclass", root="outputs")
        sweep.dir                                # outputs/multirun/<date>/<time>...
        [r.status for r in sweep.runs]           # job order; failed jobs included
        [row["accuracy"] for row in sweep.summary]
        fpexp.Sweep("outputs/multirun/2026-01-31/12-00-00.000-abcdef")  # an existing one
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)) or not isinstance(os.fspath(path), str):
            what = f"not a directory path but a {type(path).__name__}"
            raise UsageError([Problem(repr(path)[:80], what, "a str or pathlib.Path")])
        self._dir = Path(path).absolute()
        if not os.path.isfile(self._dir / "multirun.yaml"):  # False, not OSError, if too long
            why = "is not a sweep directory (no multirun.yaml)"
            raise UsageError([Problem(str(path), why, "a directory made by fpexp -m or sweep")])

    def __repr__(self) -> str:
        return f"fpexp.Sweep({str(self.dir)!r})"

    @property
    def dir(self) -> Path:
        """The sweep directory (absolute). Example: ``sweep.dir / "summary.csv"``."""
        return self._dir

    @property
    def runs(self) -> list[Run]:
        """Every job as a ``Run``, in job order, failed ones included. A job with a record
        has the status ``fpexp runs`` gives it (``completed``, ``failed``, ``interrupted``,
        or ``unreadable`` if damaged since); one without has its summary row's (``not run``,
        ``failed``) and raises ``UsageError`` on ``.record``.

        Example: ``[r.metrics for r in sweep.runs if r.status == "completed"]``."""
        from fpexp.catalog import Run as Entry
        from fpexp.catalog import load_run
        from fpexp.sweep_jobs import jobs_of

        found = []
        for job in jobs_of(self.dir, _plan(self.dir)):
            if not job.path.is_symlink() and os.path.lexists(job.path / "run.json"):
                found.append(Run(load_run(job.path)))
            else:
                found.append(Run(Entry(job.path, {}, job.error), status=job.status))
        return found

    @property
    def summary(self) -> list[dict[str, Any]]:
        """The rows of ``summary.csv``, one dict per job, every column in the CSV's order.

        Values are typed, as the job records hold them (``int``, ``float`` at full
        precision, ``list``, ``str``; ``None`` for an empty cell); the CSV writes each as
        text (floats to 6 significant digits). Recomputed from the job records, so a sweep
        stopped before its summary was written has one too.

        Example: ``max((r for r in sweep.summary if r["status"] == "completed"),
        key=lambda row: row["accuracy"])["job"]``."""
        from fpexp.summary import summary_rows

        columns, rows = summary_rows(self.dir, _plan(self.dir))
        return [{c: row.get(c) for c in columns} for row in rows]


def _plan(sweep_dir: Path) -> list[list[str]] | None:
    """Each job's overrides from ``sweep.json``; None if it is missing or not a plan (the
    summary then goes by the job directories, as the CLI's does without a plan)."""
    from fpexp.sweep_plan import PLAN
    from fpexp.user_files import file_problem

    path = sweep_dir / PLAN
    if file_problem(path, PLAN, "") is not None:
        return None
    try:
        jobs = json.loads(path.read_text(encoding="utf-8")).get("jobs")
    except (OSError, ValueError, AttributeError):
        return None
    ok = isinstance(jobs, list) and all(
        isinstance(j, dict)
        and isinstance(j.get("overrides"), list)
        and all(isinstance(o, str) for o in j["overrides"])
        for j in jobs
    )
    return [list(j["overrides"]) for j in jobs] if ok else None


def launchers() -> list[str]:
    """The ``hydra/launcher`` options installed here (``basic``, ``joblib``, ...), asked of
    Hydra's config search path. Example: ``"joblib" in fpexp.api_sweep.launchers()``."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path

    from fpexp.config.store import config_dir, register, register_launcher

    register()
    register_launcher()
    search_path = create_config_search_path(config_dir())
    return list(ConfigLoaderImpl(config_search_path=search_path).get_group_options(_LAUNCHER))


def _launcher_override(name: str | None, args: list[str]) -> list[str]:
    """``hydra/launcher=NAME``; ``UsageError`` for a launcher that is not installed or one
    also chosen among the overrides."""
    if name is None:
        return []
    if any(a.lstrip("+~").startswith(f"{_LAUNCHER}=") for a in args):
        why = f"given twice (also as {_LAUNCHER}=... among the overrides)"
        raise UsageError([Problem("launcher", why, "one of the two")])
    available = launchers()
    if name not in available:
        allowed = "one of: " + ", ".join(available)
        raise UsageError([Problem("launcher", f"unknown launcher {name!r}", allowed)])
    return [f"{_LAUNCHER}={name}"]


def sweep(
    *overrides: str, root: str | os.PathLike[str] = "outputs", launcher: str | None = None
) -> Sweep:
    """Run a Hydra multirun (``python -m fpexp -m OVERRIDES``) into a new sweep directory,
    ``ROOT/multirun/<date>/<time>.<ms>-<random>`` as the CLI names it; the ``Sweep``.
    ``launcher="joblib"`` is ``hydra/launcher=joblib`` (default: Hydra's basic launcher,
    the jobs one after the other in this process).

    A job that fails does not raise: it is in ``.runs`` and ``.summary`` with its status
    (also one refused for a bad value, which makes the CLI exit 2). Overrides refused before
    any job started raise ``fpexp.UsageError`` (``.problems``: the CLI's lines); Ctrl-C raises
    ``KeyboardInterrupt`` once the records and the summary say ``interrupted``.

    Example::

        sweep = fpexp.sweep("model.hidden=[2],[4],[8]", "task=binary,multiclass")
        for run, row in zip(sweep.runs, sweep.summary):
            print(run.dir, row["status"], row.get("accuracy"))
    """
    from fpexp.api import dir_override, new_dir, overrides_of
    from fpexp.cli import run_hydra

    args = overrides_of(overrides, one_run=False)
    target = new_dir(root, "multirun")
    with caller_state() as tee:  # asking Hydra for its launchers registers config: inside
        args += _launcher_override(launcher, args)
        done = guarded(lambda: run_hydra(["-m", *args, dir_override("sweep", target)]), target)
    return sweep_outcome(done, target, tee.seen.getvalue(), "sweep")


def sweep_outcome(done: HydraRun, target: Path, stderr: str, what: str) -> Sweep:
    """The ``Sweep`` in ``target`` after a multirun (``what``: the sweep, the resume), or the
    error it ended with: ``KeyboardInterrupt`` after a signal, ``UsageError`` for input refused
    before any job, ``RunFailed`` for anything else than jobs that failed."""
    if done.code == EXIT_INTERRUPTED:
        interrupted(done.stopped_by)
    made = Sweep(target) if os.path.isfile(target / "multirun.yaml") else None
    if made is not None and (done.code == 0 or _jobs_explain(made)):
        return made
    lines = error_lines(stderr)
    if done.code == EXIT_USAGE:
        raise UsageError(cli_problems(lines or [f"the {what} was refused"]))
    raise RunFailed("; ".join(lines) or f"the {what} ended with exit code {done.code}", None)


def _jobs_explain(made: Sweep) -> bool:
    """Whether a job that failed is what made the sweep's exit code non-zero."""
    return any(row["status"] in ("failed", "unreadable") for row in made.summary)


_REF = "a Run, a Sweep, a path, @latest, @-N or SWEEP_DIR:JOB"


def reference_texts(refs: Sequence[Any]) -> list[str]:
    """``Run``s, ``Sweep``s, paths and CLI references as the CLI's text arguments; one
    ``UsageError`` naming every one that is none of these."""
    texts, problems = [], []
    for ref in refs:
        if isinstance(ref, (Run, Sweep)):
            texts.append(str(ref.dir))
        elif isinstance(ref, (str, os.PathLike)) and isinstance(os.fspath(ref), str):
            texts.append(os.fspath(ref))
        else:
            what = f"not a run reference but a {type(ref).__name__}"
            problems.append(Problem(repr(ref)[:80], what, _REF))
    if problems:
        raise UsageError(problems)
    return texts
