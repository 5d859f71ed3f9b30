"""``fpexp.resume``: ``fpexp resume SWEEP_DIR`` from Python, through the same functions
(``fpexp.resume_plan.plan_resume``, ``fpexp.commands.resume.execute``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from fpexp.api import guarded
from fpexp.api_run import module_names
from fpexp.api_state import caller_state
from fpexp.api_sweep import Sweep, sweep_outcome
from fpexp.errors import Problem, UsageError


def resume(
    sweep: Sweep | str | os.PathLike[str],
    *,
    dry_run: bool = False,
    allow_modules: Sequence[str] = (),
) -> Sweep:
    """Rerun the jobs of a sweep that did not complete, like ``fpexp resume SWEEP_DIR``: never
    started, failed, interrupted or stale jobs run again with their own numbers and overrides,
    the sweep's launcher and Hydra settings, into the same sweep directory (an old job
    directory is kept in ``SWEEP_DIR/.resumed/``); completed jobs are not touched; the summary
    is written again. Returns the ``Sweep`` (its ``.runs`` and ``.summary`` as they are now).

    ``sweep`` is a ``Sweep`` or a sweep directory; ``dry_run=True`` only prints what would
    rerun; ``allow_modules`` is ``--allow-module``. A sweep that cannot be resumed raises
    ``fpexp.UsageError`` (``.problems``: the CLI's lines); a job that fails again does not
    raise (it is in ``.runs`` with its status); Ctrl-C raises ``KeyboardInterrupt`` once the
    records say ``interrupted``.

    Example::

        sweep = fpexp.resume("outputs/multirun/2026-11-29/10-04-02.513-a1b2c3")
        [r.status for r in sweep.runs]  # all completed, unless a job failed again
    """
    from fpexp.commands import resume as command
    from fpexp.resume_plan import plan_resume

    modules = module_names(allow_modules)
    path = sweep.dir if isinstance(sweep, Sweep) else _path(sweep)
    with caller_state() as tee:
        plan = plan_resume(path, modules)
        for line in command.describe(plan):
            print(line)
        if dry_run or not plan.todo:
            return Sweep(plan.sweep_dir)
        done = guarded(lambda: command.execute(plan), plan.sweep_dir)
    return sweep_outcome(done, plan.sweep_dir, tee.seen.getvalue(), "resume")


def _path(sweep: object) -> Path:
    if not isinstance(sweep, (str, os.PathLike)) or not isinstance(os.fspath(sweep), str):
        what = f"not a sweep directory but a {type(sweep).__name__}"
        raise UsageError([Problem(repr(sweep)[:80], what, "a Sweep, a str or pathlib.Path")])
    return Path(sweep)
