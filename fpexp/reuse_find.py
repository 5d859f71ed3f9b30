"""Finding earlier runs with a content key under a root: the index narrows, the run dirs decide.

The root of a run is where ``fpexp runs`` lists it from: ``ROOT`` of ``ROOT/<date>/<time>``
and ``ROOT/multirun/<date>/<time>/<job>`` (how fpexp names run and sweep directories), else the
directory that holds the run (or, for a sweep job, its sweep) directory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fpexp.catalog import Run, load_run, run_if_there
from fpexp.content_key import key_of_record
from fpexp.record import RECORD
from fpexp.run_query import instant

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}-\d{2}-\d{2}\.\d{3}-[0-9a-f]{6}$")


def root_of(run_dir: Path, multirun: bool) -> Path:
    """The root a run (``multirun``: a sweep job) is looked for under."""
    made = Path(run_dir).resolve()
    made = made.parent if multirun else made  # the run's or its sweep's own directory
    if _TIME.match(made.name) and _DATE.match(made.parent.name):
        root = made.parent.parent
        return root.parent if multirun and root.name == "multirun" else root
    return made.parent


@dataclass(frozen=True)
class Candidate:
    """A completed run whose record has the content key: its directory and record."""

    path: Path
    record: dict[str, Any]


def candidates(root: Path, key: str, own: Path) -> list[Path]:
    """Directories under ``root`` whose indexed record has ``key`` and says completed, newest
    first, ``own`` left out (a hint: each is read again and checked by ``candidate``). Under a
    root fpexp did not name (your own ``hydra.run.dir``'s folder: /tmp, a home directory) only
    its runs and their sweep jobs are looked at, and no index is written there."""
    from fpexp.run_index import indexed_runs
    from fpexp.run_table import entries, record_fields

    own, found = Path(own).resolve(), []
    listed = indexed_runs(root) if _named_by_fpexp(root) else entries(_shallow_runs(root))
    for make, flat in listed:
        if flat is None:  # not from the index: read now
            run = make()
            flat = record_fields(run.record) if run.problem is None else {}
        if flat.get("content_key") != key:
            continue
        run = make()  # only completed ones: a failed or running run was never a result
        if run.record.get("status") == "completed" and run.path.resolve() != own:
            found.append((instant(run.started_at), str(run.path), run.path))
    return [path for *_, path in sorted(found, key=lambda f: (f[0], f[1]), reverse=True)]


def _named_by_fpexp(root: Path) -> bool:
    """Whether ``root`` holds fpexp's ``<date>/<time>`` run directories (or ``multirun/``)."""
    try:
        return any(_DATE.match(p.name) and p.is_dir() for p in root.iterdir()) or (
            (root / "multirun").is_dir()
        )
    except OSError:
        return False


def _shallow_runs(root: Path) -> list[Run]:
    """The runs in ``root``'s own folders and their sweep jobs (two levels, no deeper)."""
    found = []
    for run_json in [*root.glob(f"*/{RECORD}"), *root.glob(f"*/*/{RECORD}")]:
        if (run := run_if_there(run_json.parent)) is not None:
            found.append(run)
    return found


def candidate(path: Path, key: str) -> Candidate | str:
    """The run in ``path`` read from disk as it is now, or why it cannot be reused (its
    output files are checked by whoever takes them)."""
    from fpexp.phases.outputs import OUTPUT_NAMES

    run = load_run(path)
    record = run.record
    owner = _owner(path)
    if owner != os.getuid():  # a shared folder: another user's record could say anything
        return f"its run.json is not yours (owner uid {owner})"
    if run.problem is not None:
        return f"unreadable ({run.problem})"
    if record.get("status") != "completed":
        return f"not completed ({record.get('status')})"
    if record.get("content_key") != key or key_of_record(record) != key:
        return "its record does not give its content key (edited, or another fpexp's)"
    if "reused_from" in record and not isinstance(record["reused_from"], str):
        return "its record's reused_from is not a directory name"
    strange = [n for n in record["outputs"] if n not in OUTPUT_NAMES]
    if strange:
        return f"its record lists {strange[0]!r}, not a file fpexp writes"
    return Candidate(run.path, record)


def _owner(path: Path) -> int | None:
    try:
        return os.lstat(path / RECORD).st_uid
    except OSError:
        return None
