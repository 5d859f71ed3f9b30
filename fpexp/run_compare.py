"""What ``fpexp compare REF...`` shows: the runs the references name (a sweep directory: its
jobs, in job order, those that failed or never started included), one row each, the columns
that tell them apart, and with two runs what differs in their outputs. Reads run directories,
prints nothing.

Output statistics, from each run's record (``results``): ``outputs.mean[NAME]`` and
``outputs.std[NAME]`` of each output column NAME over all rows, and ``predicted.n[NAME]``, the
rows predicted as class NAME (heads with classes).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fpexp.catalog import Run, load_run, resolve, shown
from fpexp.errors import Problem, UsageError
from fpexp.record import RECORD
from fpexp.run_query import known_keys
from fpexp.run_table import as_json, chosen, columns, fields

MASTER = "multirun.yaml"  # what makes a directory a sweep directory (as fpexp.Sweep)
STATS = {"output_mean": "outputs.mean", "output_std": "outputs.std"}
STATS["predicted_counts"] = "predicted.n"
REF_FORMS = "a run directory, @latest, @-N, SWEEP_DIR:JOB, or a sweep directory"


@dataclass(frozen=True)
class Member:
    """A run to compare; for a sweep's job without a record it can use, the status and note
    its sweep gives it (``not run``, ``failed`` before run.json, ``unreadable``)."""

    run: Run
    status: str | None = None
    note: str = ""

    @property
    def state(self) -> str:
        return self.status or self.run.status

    @property
    def why(self) -> str:
        """Why it is unreadable (or the note its sweep gives it)."""
        return self.note or self.run.status_note().partition(": ")[2]


@dataclass(frozen=True)
class Chosen:
    """The runs to compare, each once, in the order named, and what was decided about them."""

    members: list[Member]
    notes: list[str]


def gather(refs: Sequence[str], root: Path) -> Chosen:
    """The runs ``refs`` name, or one ``UsageError`` naming every reference that cannot be
    used (or saying that fewer than two runs remain)."""
    problems: list[Problem] = []
    found: list[tuple[str, Member]] = []
    notes: list[str] = []
    for ref in refs:
        try:
            found += [(ref, m) for m in _expand(ref, root, notes)]
        except UsageError as err:
            problems += err.problems
    if problems:
        raise UsageError(list(dict.fromkeys(problems)))
    members, repeats = _once(found)
    if len(members) < 2:
        count = f"{len(members)} run" + ("" if len(members) == 1 else "s")
        what = f"{count} to compare ({', '.join(refs) or 'no REF given'})"
        raise UsageError([Problem("REF", what, "two runs or more, or a sweep with two jobs")])
    return Chosen(members, notes + repeats)


def _expand(ref: str, root: Path, notes: list[str]) -> list[Member]:
    """A sweep directory's jobs, or the one usable run ``ref`` names (``os.path``: a name
    too long or holding NUL is no such file, not an ``OSError``)."""
    for place in (Path(ref), root / ref) if ref.strip() else ():
        if os.path.isfile(place / MASTER) and not os.path.lexists(place / RECORD):
            return _jobs(place.resolve(), notes)
    place = Path(ref)
    if ref.strip() and os.path.isdir(place) and not os.path.lexists(place / RECORD):
        what = f"is neither a run nor a sweep directory (no {RECORD}, no {MASTER})"
        raise UsageError([Problem(ref, what, REF_FORMS)])
    return [Member(resolve(ref, root).usable())]


def _jobs(sweep: Path, notes: list[str]) -> list[Member]:
    """Every job of the sweep in job order, as its summary lists them."""
    from fpexp.resume_plan import read_plan
    from fpexp.sweep_jobs import jobs_of

    try:
        plan: list[list[str]] | None = read_plan(sweep)
    except UsageError:
        plan = None
        what = "no usable plan of its jobs (sweep.json): jobs that never started are not listed"
        notes.append(f"{shown(sweep)}: {what}")
    members = []
    for job in jobs_of(sweep, plan):
        if job.record is not None:  # the sweep believes it: its run, checked as any run
            members.append(Member(load_run(job.path)))
        else:
            placeholder = Run(job.path.absolute(), {}, job.error or job.status)
            members.append(Member(placeholder, job.status, job.error))
    return members


def _once(found: list[tuple[str, Member]]) -> tuple[list[Member], list[str]]:
    """Each run once (the first time it is named), and a note for each named again."""
    first: dict[Path, Member] = {}
    named: dict[Path, list[str]] = {}
    for ref, member in found:
        first.setdefault(member.run.path, member)
        named.setdefault(member.run.path, []).append(ref)
    notes = [
        f"{shown(path)}: named {len(by)} times (by {', '.join(by)}): listed once"
        for path, by in named.items()
        if len(by) > 1
    ]
    return list(first.values()), notes


def output_stats(record: dict[str, Any]) -> dict[str, Any]:
    """A record's output statistics as fields (``outputs.mean[NAME]``...)."""
    results = record.get("results")
    row: dict[str, Any] = {}
    for part, name in STATS.items():
        values = results.get(part) if isinstance(results, dict) else None
        if isinstance(values, dict):
            row.update((f"{name}[{column}]", v) for column, v in values.items())
    return row


def is_stat(key: str) -> bool:
    return key.endswith("]") and key.split("[", 1)[0] in STATS.values()


def rows_of(members: Sequence[Member]) -> list[dict[str, Any]]:
    """One row of flat fields per run (``run_table.fields``), output statistics added."""
    cwd = Path.cwd().resolve()
    rows = []
    for member in members:
        row = fields(member.run, None, cwd)
        if member.status is not None:
            row["status"] = member.status
            row.pop("note", None)
            if member.note:
                row["note"] = member.note
        if member.run.problem is None:
            row.update(output_stats(member.run.record))
        rows.append(row)
    return rows


def keys_of(rows: Sequence[dict[str, Any]], picked: str | None, every: bool) -> list[str]:
    """The columns: ``--columns`` as given, else run, status, the config keys that differ
    among these runs, metrics, output statistics, note (``every``: every key, statistics
    before ``results.*``)."""
    if picked:
        return chosen(picked, known_keys(rows))
    stats = sorted((k for k in known_keys(rows) if is_stat(k)), key=_stat_group)
    rest = [k for k in columns(rows, every) if not is_stat(k) and (every or k != "started_at")]
    tail = ("results.", "note") if every else ("note",)
    cut = next((i for i, k in enumerate(rest) if k.startswith(tail)), len(rest))
    return [*rest[:cut], *stats, *rest[cut:]]


def _stat_group(key: str) -> int:
    return list(STATS.values()).index(key.split("[", 1)[0])


def outputs_diff(a: Member, b: Member) -> dict[str, Any]:
    """What ``fpexp diff A B`` says about the two runs' outputs: ``{"a", "b", "outputs"}``."""
    from fpexp.run_diff import output_changes

    outs: dict[str, Any] | None = None
    for which, member in (("A", a), ("B", b)):
        if outs is None and member.state == "unreadable":
            reason = f"run {which} is unreadable: {member.why}"
            outs = {"comparable": False, "reason": reason}
    if outs is None:
        outs = output_changes(a.run.path, a.run.record, b.run.path, b.run.record)
    return {"a": shown(a.run.path), "b": shown(b.run.path), "outputs": outs}


def as_object(
    chosen_runs: Chosen, keys: Sequence[str], rows: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """What ``--json`` prints and ``fpexp.compare`` returns: ``runs`` (a row per run, the
    shown keys), ``diff`` (two runs: ``outputs_diff``; else null) and ``notes``."""
    members = chosen_runs.members
    pair = outputs_diff(*members) if len(members) == 2 else None
    found = {"runs": json.loads(as_json(keys, rows)), "diff": pair, "notes": chosen_runs.notes}
    result: dict[str, Any] = json.loads(json.dumps(found))  # plain JSON values, as printed
    return result
