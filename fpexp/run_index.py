"""A listing cache for ``fpexp runs``: ``<root>/.fpexp-index.sqlite`` (stdlib sqlite3).

The run directories stay the source of truth: a row is used only while its ``run.json`` has
the same mtime, size and inode as when it was read (else the record is read and checked again),
rows of vanished directories are dropped, and what a run's status depends on besides its record
(output files' sizes, a running process) is checked live. An index that cannot be written
(read-only root) is skipped, and none is kept in a run or sweep directory; one that is
corrupt, another user's, or made for another root is rebuilt. A row holds what the
listing needs of the checked record (status keys, flat fields) as JSON, nothing executable.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from fpexp.catalog import NOT_RUNS, Run, find_runs, run_if_there
from fpexp.record import RECORD
from fpexp.run_table import Entry, entries, record_fields, same_run

INDEX = ".fpexp-index.sqlite"
_SCHEMA = 5  # 5: record fields gained content_key and reused_from (issue 12 reuse)
_KEEP = ("status", "started_at", "error", "process", "outputs")  # what a run's status reads
_Key = tuple[int, int, int]
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def indexed_runs(root: Path) -> list[Entry]:
    """The runs ``find_runs(root)`` finds (in no particular order), as ``run_table.pick``
    takes them: through the index when it can be used, each with its record fields."""
    root = Path(root)
    if not root.is_dir() or _in_a_run_or_sweep(root):
        return entries(find_runs(root))  # nothing written into a run or sweep directory
    try:
        with _open(root) as db:
            return _refresh(db, root)
    except (sqlite3.Error, OSError):
        return entries(find_runs(root))


def _in_a_run_or_sweep(root: Path) -> bool:
    """Whether ``root`` is, or is inside, a run or sweep directory (``SWEEP/0/.hydra``)."""
    return any(
        (d / RECORD).exists() or (d / "multirun.yaml").exists()
        for d in (root, *root.resolve().parents)
    )


class _open:
    """The index of ``root`` as a connection, rebuilt when unusable; committed on exit."""

    def __init__(self, root: Path) -> None:
        self.path = root / INDEX
        self.root = str(root.resolve())

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.db = self._usable()
        except sqlite3.DatabaseError as err:
            if getattr(err, "sqlite_errorcode", None) in _BUSY:
                raise  # another listing holds it: list without it, and keep it
            self.path.unlink(missing_ok=True)  # corrupt or foreign: rebuilt from the runs
            self.db = self._usable()
        return self.db

    def _usable(self) -> sqlite3.Connection:
        if self.path.exists() and (
            self.path.is_symlink() or self.path.stat().st_uid != os.getuid()
        ):
            raise sqlite3.DatabaseError("not this user's index")
        db = sqlite3.connect(self.path, timeout=1.0, isolation_level="DEFERRED")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if meta != {"schema": str(_SCHEMA), "root": self.root}:
                db.execute("DROP TABLE IF EXISTS runs")
                db.execute("DELETE FROM meta")
                db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("schema", str(_SCHEMA)), ("root", self.root)],
                )
            db.execute(
                "CREATE TABLE IF NOT EXISTS runs (dir TEXT PRIMARY KEY, mtime INTEGER,"
                " size INTEGER, ino INTEGER, json TEXT, problem TEXT)"
            )
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def __exit__(self, kind: object, err: object, tb: object) -> None:
        try:
            if kind is None:
                self.db.commit()
        finally:
            self.db.close()


def _refresh(db: sqlite3.Connection, root: Path) -> list[Entry]:
    """Every run under ``root`` with its fields: unchanged ones from the index, the others
    read, checked and stored."""

    rows = {d: (m, s, i, j, p) for d, m, s, i, j, p in db.execute("SELECT * FROM runs")}
    found: list[Entry] = []
    real, skip = root.resolve(), len(os.path.join(str(root), ""))
    for path, key in _run_dirs(root):
        name = path[skip:]
        row = rows.pop(name, None)
        if key is not None and row is not None and row[:3] == key and (got := _row(row)):
            found.append((partial(_run, real, name, got[0], got[2]), got[1]))
            continue
        run = run_if_there(Path(path))
        if run is None:
            continue  # moved or deleted since the directory was listed
        flat = record_fields(run.record) if run.problem is None else None
        found.append((partial(same_run, run), flat))
        if key is not None:
            stored = json.dumps([_kept(run.record), flat])
            db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                (name, *key, stored, run.problem),
            )
    db.executemany("DELETE FROM runs WHERE dir = ?", [(d,) for d in rows])  # vanished
    return found


def _run(real: Path, name: str, record: dict[str, Any], problem: str | None) -> Run:
    return Run(real / name, record, problem)


def _row(row: tuple[Any, ...]) -> tuple[dict[str, Any], dict[str, Any] | None, Any] | None:
    """A stored row as (record, fields, problem), or None if it is not what this module
    wrote (then the run is read again)."""
    try:
        record, flat = json.loads(row[3])
    except (ValueError, TypeError):
        return None
    ok = isinstance(record, dict) and isinstance(flat, (dict, type(None)))
    return (record, flat, row[4]) if ok and isinstance(row[4], (str, type(None))) else None


def _kept(record: dict[str, Any]) -> dict[str, Any]:
    """What a run's status and note read of its record."""
    kept = {k: record[k] for k in _KEEP if k in record}
    if record.get("status") != "running":
        kept.pop("process", None)
    outputs = kept.get("outputs")
    if isinstance(outputs, dict):
        kept["outputs"] = {
            n: {"bytes": m["bytes"]} if isinstance(m, dict) and "bytes" in m else {}
            for n, m in outputs.items()
        }
    return kept


def _run_dirs(root: Path) -> Iterator[tuple[str, _Key | None]]:
    """Each directory with a run.json under ``root`` (as ``find_runs``'s os.walk finds them,
    named as it names them), and that file's (mtime, size, inode) when it is a regular file
    (else None: read every time, not cached). One scandir per directory, no other calls."""
    stack = [str(root)]
    while stack:
        here = stack.pop()
        try:
            listing = os.scandir(here)
        except OSError:
            continue
        record = None
        with listing:
            for entry in listing:
                try:
                    is_dir = entry.is_dir()
                    if entry.name == RECORD and not is_dir:
                        record = entry
                    elif is_dir and entry.name not in NOT_RUNS and not entry.is_symlink():
                        stack.append(entry.path)
                except OSError:
                    continue
        if record is not None:
            yield here, _key(record)


def _key(entry: os.DirEntry[str]) -> _Key | None:
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return None
    regular = (st.st_mode & 0o170000) == 0o100000
    return (st.st_mtime_ns, st.st_size, st.st_ino) if regular else None
