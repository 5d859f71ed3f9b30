"""A sweep's jobs as found on disk: each planned job (``sweep.json``) and any other numbered
job directory, with its record and status, or why it has none (never started, a link, another
job's run). Job directories and records are untrusted input (``fpexp.job_record``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fpexp.job_record import not_this_job, read_job

NOT_RUN = "not run"
STALE_ERROR = "its record still says running after the sweep ended: the job's process died"


@dataclass
class Job:
    """One job of the sweep: its number, directory, overrides and record (or why none)."""

    num: int
    path: Path
    overrides: list[str]
    record: dict[str, Any] | None
    status: str
    error: str


LINKED_JOB = "the job directory is a link, not the directory its sweep made"


def _job(num: int, path: Path, overrides: list[str]) -> Job:
    if path.is_symlink():  # a job's directory is made by its sweep, never a link elsewhere
        return Job(num, path, overrides, None, "unreadable", LINKED_JOB)
    if not path.is_dir():
        return Job(num, path, overrides, None, NOT_RUN, "the job never started")
    rec, why = read_job(path)
    if rec is None:
        if why == "no run.json":
            return Job(num, path, overrides, None, "failed", "the job stopped before run.json")
        return Job(num, path, overrides, None, "unreadable", why or "")
    if (other := not_this_job(rec, num, overrides)) is not None:
        return Job(num, path, overrides, None, "unreadable", other)
    if rec["status"] == "running":
        return Job(num, path, overrides, rec, "stale", STALE_ERROR)
    return Job(num, path, overrides, rec, rec["status"], rec.get("error") or "")


def jobs_of(sweep_dir: Path, planned: list[list[str]] | None = None) -> list[Job]:
    """Every job of the sweep in job order: the planned ones (``sweep.json``), and any other
    numbered job directory."""
    sweep_dir = Path(sweep_dir)
    plan = dict(enumerate(planned or []))
    found = {n: sweep_dir / str(n) for n in plan}
    for path in sorted(p for p in sweep_dir.iterdir() if p.is_dir()):
        num = int(path.name) if path.name.isdecimal() else _recorded_job_num(path)
        if num is not None and (num not in found or not found[num].exists()):
            found[num] = path
    return [_job(n, found[n], plan.get(n, [])) for n in sorted(found)]


def _recorded_job_num(path: Path) -> int | None:
    """The job number in a job directory's record, for a custom ``hydra.sweep.subdir``."""
    if path.name.startswith(".") or not (path / "run.json").exists():
        return None
    rec, _ = read_job(path)
    command = (rec or {}).get("command")
    num = command.get("job_num") if isinstance(command, dict) else None
    return num if isinstance(num, int) and not isinstance(num, bool) and num >= 0 else None
