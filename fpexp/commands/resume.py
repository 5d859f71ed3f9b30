"""``fpexp resume SWEEP_DIR [--dry-run]``: rerun the jobs of a sweep that did not complete.

Reruns exactly the jobs whose record is not ``completed`` (never started, failed,
interrupted, stale after a kill, unreadable), with their own job numbers and overrides, into
the same sweep directory, with the sweep's launcher and Hydra settings; completed jobs are not
touched. An old job directory is moved to ``SWEEP_DIR/.resumed/N-TIME/`` first, so nothing is
lost. The summary is then written again over all jobs. Exit code as for ``fpexp -m``.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fpexp.atomic import write_bytes
from fpexp.catalog import ASIDE, shown
from fpexp.commands import Parser
from fpexp.resume_plan import MASTER, ResumePlan, plan_resume

if TYPE_CHECKING:
    from fpexp.hydra_run import HydraRun


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="fpexp resume", description=__doc__.split(": ", 1)[1].split("\n")[0])
    p.add_argument("sweep_dir", help="a sweep directory of fpexp -m (with sweep.json)")
    p.add_argument("--dry-run", action="store_true", help="only say which jobs would rerun")
    p.add_argument(
        "--allow-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="let the jobs' model.layers import MODULE (torch's are always allowed)",
    )
    return p


def move_aside(sweep_dir: Path, num: int) -> Path | None:
    """Move job ``num``'s directory (if any) to ``.resumed/N-TIME``; where it went."""
    job = sweep_dir / str(num)
    if not os.path.lexists(job):
        return None
    stamp = datetime.now().astimezone().strftime("%Y%m%dT%H%M%S%f")
    target = sweep_dir / ASIDE / f"{num}-{stamp}"
    target.parent.mkdir(exist_ok=True)
    os.rename(job, target)  # same file system: never a copy, never over something
    print(f"job {num}: old directory moved to {shown(target)}")
    return target


def describe(plan: ResumePlan) -> list[str]:
    """What the resume does (or would do), one line per job to rerun."""
    total, where = len(plan.jobs), shown(plan.sweep_dir)
    if not plan.todo:
        return [f"nothing to resume: all {total} jobs of {where} completed"]
    lines = [f"{where}: {len(plan.todo)} of {total} jobs did not complete"]
    lines += [f"job {t.num} ({' '.join(t.overrides)}): {t.why}" for t in plan.todo]
    return lines + plan.notes


def _locked(sweep_dir: Path) -> int:
    """An exclusive lock on the sweep directory itself (nothing written; released when the
    process ends, however); a one-line ``UsageError`` while another resume of it holds it."""
    import fcntl

    from fpexp.errors import Problem, UsageError

    try:
        fd = os.open(sweep_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        what = f"cannot be locked ({err.strerror})"
        raise UsageError([Problem(shown(sweep_dir), what)]) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        what = "another fpexp resume of it is running"
        raise UsageError([Problem(shown(sweep_dir), what)]) from None
    return fd


def execute(plan: ResumePlan) -> HydraRun:
    """Rerun ``plan.todo`` through Hydra; the sweep's ``multirun.yaml`` is kept as it was."""
    lock = _locked(plan.sweep_dir)
    try:
        return _rerun(plan)
    finally:
        os.close(lock)


def _rerun(plan: ResumePlan) -> HydraRun:
    from fpexp import cli
    from fpexp.resume_launch import selective

    master = plan.sweep_dir / MASTER
    original = master.read_bytes()  # Hydra's sweeper saves its own over it
    todo = {t.num for t in plan.todo}
    here = os.getcwd()
    try:
        os.chdir(plan.cwd or here)
        with selective(todo, lambda num: move_aside(plan.sweep_dir, num)):
            done = cli.run_hydra(plan.argv, resuming=plan.sweep_dir)
    finally:
        os.chdir(here)
        if master.read_bytes() != original:
            write_bytes(master, original)
    return done


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    plan = plan_resume(Path(args.sweep_dir), args.allow_module)
    for line in describe(plan):
        print(line)
    if args.dry_run or not plan.todo:
        return 0
    return execute(plan).code
