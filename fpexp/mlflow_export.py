"""``fpexp export mlflow``: runs and sweeps into an MLflow tracking store.

One MLflow run per fpexp run (``fpexp.mlflow_map`` says what maps to what); a sweep is a
parent run holding its summary (csv, md, png), multirun.yaml and sweep.json, with each job
as a nested child. Runs are read through ``fpexp.catalog`` (records are untrusted): an
unreadable or still running run is skipped and said; each file is checked against the sha256
its record holds before it is uploaded. ``fpexp.mlflow_store`` makes the export repeatable.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fpexp.catalog import Run, find_runs, load_run, resolve, shown
from fpexp.errors import Problem, UsageError
from fpexp.hashing import sha256_file
from fpexp.mlflow_map import KEY_TAG, STATE_TAG, TAG_LIMIT, cut, mapped, sweep_key
from fpexp.mlflow_store import Logged, Store
from fpexp.record import RECORD
from fpexp.run_compare import MASTER

SWEEP_FILES = ("summary.csv", "summary.md", "summary.png", MASTER, "sweep.json")
EXPORTED = ("completed", "failed", "interrupted", "stale")
Say = Callable[[str], None]


@dataclass
class Group:
    """Runs to export: a sweep's jobs (``sweep`` set) or single runs (``sweep`` None)."""

    sweep: Path | None
    runs: list[Run] = field(default_factory=list)


def groups(refs: Sequence[str], root: Path) -> list[Group]:
    """What ``refs`` name (every run under ``root`` when none), sweep jobs grouped by sweep;
    one ``UsageError`` naming every reference that cannot be used."""
    found: list[tuple[Path | None, Run]] = []
    problems: list[Problem] = []
    for ref in refs:
        try:
            found += _named(ref, root)
        except UsageError as err:
            problems += err.problems
    if problems:
        raise UsageError(list(dict.fromkeys(problems)))
    if not refs:
        found = [(_sweep_of(r.path), r) for r in reversed(find_runs(root))]
    return _grouped(found)


def _named(ref: str, root: Path) -> list[tuple[Path | None, Run]]:
    for place in (Path(ref), root / ref) if ref.strip() else ():
        if os.path.isfile(place / MASTER) and not os.path.lexists(place / RECORD):
            return [(place.resolve(), r) for r in _jobs(place.resolve())]
    run = resolve(ref, root)
    return [(_sweep_of(run.path), run)]


def _jobs(sweep: Path) -> list[Run]:
    from fpexp.sweep_jobs import jobs_of

    # a job directory that is a link (another sweep's job) or holds another job's run is not
    # this sweep's job: jobs_of gives it no record
    return [load_run(job.path) for job in jobs_of(sweep) if job.record is not None]


def _sweep_of(path: Path) -> Path | None:
    parent = path.resolve().parent
    return parent if (parent / MASTER).is_file() else None


def _grouped(found: list[tuple[Path | None, Run]]) -> list[Group]:
    out: dict[Path | None, Group] = {}
    seen: set[Path] = set()
    for sweep, run in found:
        if run.path not in seen:
            seen.add(run.path)
            key = sweep if sweep is not None else run.path
            out.setdefault(key, Group(sweep)).runs.append(run)
    return list(out.values())


def run_files(run: Run, max_bytes: int | None) -> tuple[list[Path], list[str]]:
    """The run's recorded files and run.json, and the outputs left out (too large); a
    ``UsageError`` if a file is not the one its record names (sha256)."""
    files, left = [], []
    for name, meta in run.record.get("outputs", {}).items():
        path = run.path / name
        if max_bytes is not None and meta["bytes"] > max_bytes:
            left.append(f"{name} ({meta['bytes']} bytes)")
            continue
        if os.path.islink(path) or not path.is_file() or sha256_file(path) != meta["sha256"]:
            why = f"unreadable run: {name} is not the file its record names"
            raise UsageError([Problem(shown(run.path), why)])
        files.append(path)
    return [*files, run.path / RECORD], left


def logged(run: Run, max_bytes: int | None, name: str) -> Logged:
    """The MLflow run an fpexp run becomes."""
    m = mapped(run.record, str(run.path), run.status)
    files, left = run_files(run, max_bytes)
    if left:
        m.tags["fpexp.artifacts.left_out"] = cut(", ".join(left), TAG_LIMIT)
    if m.skipped:
        m.tags["fpexp.metrics.skipped"] = cut("; ".join(m.skipped), TAG_LIMIT)
    return Logged(name, m.tags, m.params, m.metrics, files, m.start_ms, m.end_ms, m.status)


def sweep_logged(sweep: Path, runs: list[Run]) -> Logged:
    """A sweep's parent run: FINISHED when every job completed, KILLED when one was
    interrupted (none failed), else FAILED; from its first job's start to its last's end."""
    from fpexp.mlflow_map import millis
    from fpexp.sweep_jobs import jobs_of

    states = [job.status for job in jobs_of(sweep)]
    status = "FINISHED" if all(s == "completed" for s in states) else "FAILED"
    if status == "FAILED" and all(s in ("completed", "interrupted", "stale") for s in states):
        status = "KILLED"
    starts = [t for r in runs if (t := millis(r.record.get("started_at"))) is not None]
    ends = [t for r in runs if (t := millis(r.record.get("ended_at"))) is not None]
    tags = {KEY_TAG: sweep_key(str(sweep)), "fpexp.sweep_dir": str(sweep), "fpexp.kind": "sweep"}
    tags["fpexp.jobs"] = str(len(states))
    files = [p for n in SWEEP_FILES if (p := sweep / n).is_file() and not p.is_symlink()]
    # what the parent shows: when it changes (a job ended since, a resume), it is made again
    state = hashlib.sha256(json.dumps(states).encode())
    for path in files:
        state.update(path.read_bytes())
    tags[STATE_TAG] = state.hexdigest()
    start, end = min(starts, default=None), max(ends, default=None)
    return Logged(sweep.name, tags, {}, {}, files, start, end, status)


def export_group(
    store: Store, group: Group, max_bytes: int | None, say: Say, close: bool = True
) -> None:
    """Each usable run of ``group`` (under its sweep's parent run), saying what was done;
    ``close``: then the sweep's parent run is made whole (its summary, status, end)."""
    parent = whole = None
    if group.sweep is not None:
        whole = sweep_logged(group.sweep, group.runs)
        parent, _ = store.open(whole)
    for run in group.runs:
        _export_one(store, run, parent, max_bytes, say)
    if close and group.sweep is not None and whole is not None:
        _, changed = store.sync(whole)
        say(f"{'exported' if changed else 'unchanged'}: sweep {shown(group.sweep)}")


def _export_one(store: Store, run: Run, parent: str | None, limit: int | None, say: Say) -> None:
    where = shown(run.path)
    if run.status not in EXPORTED:
        say(f"skipped: {where}: {run.status_note()}")
        return
    try:
        want = logged(run, limit, run.path.name)
    except UsageError as err:
        say(f"skipped: {err.problems[0]}")
        return
    run_id, changed = store.sync(want, parent)
    say(f"{'exported' if changed else 'unchanged'}: {where} ({run.status}, mlflow run {run_id})")


def default_uri() -> str:
    """``MLFLOW_TRACKING_URI``, else a SQLite store in the working directory."""
    return os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlruns.db"


def export(
    refs: Sequence[str],
    root: Path,
    where: Sequence[str],
    uri: str | None,
    experiment: str,
    max_mb: float | None,
    say: Say,
    close: bool = True,
) -> None:
    """Everything ``refs`` name (``where``: only the runs that satisfy every expression) into
    ``experiment`` of the store at ``uri``; ``UsageError`` or ``ServerFailure`` otherwise.
    ``close=False``: sweeps' parent runs are left open (live export of one job)."""
    chosen = groups(refs, root)
    if where:
        chosen = _where(chosen, where)
    if max_mb is not None and not max_mb >= 0:
        raise UsageError([Problem("--max-artifact-mb", f"{max_mb} is not a size", "0 or more")])
    store = Store(uri or default_uri(), experiment)
    max_bytes = None if max_mb is None else int(max_mb * 1024 * 1024)
    for group in chosen:
        export_group(store, group, max_bytes, say, close)
    if not chosen:
        say(f"nothing to export ({', '.join(refs) or f'no runs under {shown(root)}'})")


def _where(chosen: list[Group], where: Sequence[str]) -> list[Group]:
    from fpexp.run_query import select
    from fpexp.run_table import fields

    flat = [(g, r) for g in chosen for r in g.runs]
    picked = set(select([fields(r) for _, r in flat], where))
    kept = [
        Group(g.sweep, [r for i, (h, r) in enumerate(flat) if h is g and i in picked])
        for g in chosen
    ]
    return [g for g in kept if g.runs]
