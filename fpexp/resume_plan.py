"""What ``fpexp resume SWEEP_DIR`` will rerun: pure reading and deciding, nothing is changed.

A sweep directory is untrusted input. Its plan (``sweep.json``) gives each job's overrides;
its ``multirun.yaml`` the sweep's command line (``hydra.overrides.task``, the sweep syntax that
Hydra expands into those jobs again) and Hydra overrides (launcher and its settings). Job
overrides are taken only as fpexp's own keys and group options with plain values
(``fpexp.replay``'s rules); Hydra overrides only from ``resume_hydra.hydra_overrides``. A job
is rerun unless its record says ``completed``; a ``running`` job whose process is alive (or
cannot be told dead) stops the resume.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from fpexp.catalog import ASIDE, _load_yaml, shown
from fpexp.errors import Problem, UsageError
from fpexp.resume_hydra import (
    hydra_overrides,
    job_override_problems,
    original_cwd,
    original_order,
    task_problems,
)
from fpexp.sweep_jobs import Job, jobs_of
from fpexp.sweep_plan import PLAN

MASTER = "multirun.yaml"
SWEEP_MADE = "the sweep.json that fpexp -m writes (Hydra's basic sweeper, default subdir)"


@dataclass(frozen=True)
class Todo:
    """A job to rerun: its number, overrides and why (its status and error)."""

    num: int
    overrides: list[str]
    why: str


@dataclass(frozen=True)
class ResumePlan:
    """The sweep, its planned jobs, the jobs to rerun and the Hydra command line that does it."""

    sweep_dir: Path
    jobs: list[list[str]]
    todo: list[Todo]
    argv: list[str]
    notes: list[str]
    cwd: Path | None  # where the sweep ran (relative paths resolve there); None: here


def _refuse(key: str, what: str, allowed: str = "") -> UsageError:
    return UsageError([Problem(key, what, allowed)])


def read_plan(sweep_dir: Path) -> list[list[str]]:
    """Each job's overrides from ``sweep.json``; one-line ``UsageError`` when it is missing
    or not the list of jobs fpexp writes."""
    path = sweep_dir / PLAN
    if not path.is_file() or path.is_symlink():
        why = "is missing" if not path.exists() else "is not a regular file"
        raise _refuse(shown(path), f"{why}: no plan of the sweep's jobs to resume", SWEEP_MADE)
    try:
        data = json.loads(path.read_bytes()[: 64 * 2**20].decode("utf-8"))
    except (OSError, ValueError, RecursionError) as err:
        raise _refuse(shown(path), f"unreadable ({str(err)[:80]})", SWEEP_MADE) from None
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, list) or not jobs:
        raise _refuse(shown(path), "holds no list of jobs", SWEEP_MADE)
    plan = []
    for n, job in enumerate(jobs):
        job = job if isinstance(job, dict) else {}
        overrides = job.get("overrides")
        if job.get("job") != n or not _strings(overrides):
            raise _refuse(shown(path), f"job {n} is not {{job: {n}, overrides: [...]}}", SWEEP_MADE)
        plan.append(list(overrides))
    return plan


def _strings(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def read_master(sweep_dir: Path) -> tuple[list[str], list[str], Any]:
    """The sweep's command-line overrides, Hydra overrides and working directory (as
    recorded) from ``multirun.yaml``."""
    path = sweep_dir / MASTER
    if not path.is_file() or path.is_symlink():
        raise _refuse(shown(path), "is missing: not a sweep directory", "a directory of fpexp -m")
    master = _load_yaml(path)
    overrides = master.get("hydra", {}).get("overrides") if isinstance(master, dict) else None
    task = overrides.get("task") if isinstance(overrides, dict) else None
    hydra = overrides.get("hydra") if isinstance(overrides, dict) else None
    if not _strings(task) or not _strings(hydra):
        what = "has no hydra.overrides.task/hydra lists of strings"
        raise _refuse(shown(path), what, "the multirun.yaml Hydra writes")
    runtime = master["hydra"].get("runtime")
    return list(task), list(hydra), runtime.get("cwd") if isinstance(runtime, dict) else None


def _job(sweep_dir: Path, job: Job) -> Todo | Problem | None:
    """``job`` to rerun, a problem that stops the resume, or None when it completed."""
    from fpexp.liveness import is_alive

    path, named = job.path, f"{shown(sweep_dir)}/{job.num}"  # a link: not followed
    if path.is_symlink():
        return Problem(named, "is a link, not a job directory its sweep made", "a directory")
    if path.exists() and not path.is_dir():
        return Problem(named, "is not a directory", "a job directory or nothing")
    process = (job.record or {}).get("process")
    pid = process.get("pid") if isinstance(process, dict) else None
    alive = is_alive(process)
    if job.status == "stale" and alive is not False:
        what = "is still running" if alive else "says running; cannot tell its process died"
        return Problem(f"job {job.num}", what, "wait for it, or stop its process first")
    if alive and pid != os.getpid():  # the in-process sweep of a notebook has ended
        what = f"the process that ran it (pid {pid}) still runs: its sweep may not be over"
        return Problem(f"job {job.num}", what, "wait for the sweep to end, or stop it first")
    if job.status == "completed":
        return None
    if job.status == "stale":
        return Todo(job.num, job.overrides, "stale: its process died while it ran")
    why = "never started" if job.status == "not run" else f"{job.status}: {job.error}"
    return Todo(job.num, job.overrides, why)


def _aside_problem(sweep_dir: Path) -> list[Problem]:
    """Where old job directories go must be a plain directory of the sweep (or nothing)."""
    aside = sweep_dir / ASIDE
    if aside.is_symlink() or (aside.exists() and not aside.is_dir()):
        what = "is not a directory the resume made"
        return [Problem(f"{shown(sweep_dir)}/{ASIDE}", what, "a directory, or nothing")]
    return []


def check_replanned(sweep_dir: Path, jobs: list[list[str]] | None) -> list[list[str]]:
    """The job list Hydra expands from the sweep's command line must be the recorded plan
    (same jobs, same numbers); ``DirectoryRefused`` otherwise (Hydra's callback runner lets
    only a ``BaseException`` through), before any job runs or anything is moved."""
    from fpexp.run_dirs import DirectoryRefused

    try:
        planned = read_plan(sweep_dir)
    except UsageError as err:  # changed since the resume read it
        raise DirectoryRefused(err.problems[0]) from None
    if jobs != planned:
        what = "Hydra expands the sweep's command line into other jobs than this plan"
        raise DirectoryRefused(Problem(shown(sweep_dir / PLAN), what, SWEEP_MADE))
    return planned


def plan_resume(sweep_dir: Path, modules: Sequence[str] = ()) -> ResumePlan:
    """Everything ``fpexp resume`` needs, or one ``UsageError`` naming every problem."""
    if not sweep_dir.is_dir():
        raise _refuse(shown(sweep_dir), "is not a directory", "a sweep directory of fpexp -m")
    sweep_dir = sweep_dir.resolve()
    if "${" in str(sweep_dir) or "\\" in str(sweep_dir):
        what = "a path holding '${' or a backslash, which Hydra would read as an interpolation"
        raise _refuse(shown(sweep_dir), what, "rename the sweep directory")
    jobs = read_plan(sweep_dir)
    task, hydra, cwd = read_master(sweep_dir)
    where = shown(sweep_dir / PLAN)
    problems = [p for overrides in jobs for p in job_override_problems(overrides, where, modules)]
    problems += task_problems(task, shown(sweep_dir / MASTER))
    notes: list[str] = []
    run_in = original_cwd(cwd, notes)
    master = shown(sweep_dir / MASTER)
    kept, more, hydra_problems = hydra_overrides(hydra, sweep_dir, master, run_in or Path.cwd())
    notes += more
    problems += hydra_problems
    problems += _aside_problem(sweep_dir)
    todo, found_jobs = [], jobs_of(sweep_dir, jobs)
    for job in found_jobs:
        found = _job(sweep_dir, job) if job.num < len(jobs) else None
        if isinstance(found, Problem):
            problems.append(found)
        elif found is not None:
            todo.append(found)
    if problems:
        raise UsageError(list(dict.fromkeys(problems)))
    records = [j.record for j in found_jobs if j.record is not None]
    argv = original_order([*kept, *task], records)
    return ResumePlan(sweep_dir, jobs, todo, argv, notes, run_in)
