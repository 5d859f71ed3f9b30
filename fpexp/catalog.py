"""Finding runs: every directory with a ``run.json`` under a root, and run references.

A reference is a path to a run directory, ``@latest``, ``@-N`` (the N-th newest; ``@-1`` is
``@latest``), or a sweep job as ``SWEEP_DIR:JOB``. A record is untrusted input: one that cannot
be used (or whose output files are damaged) is listed as ``unreadable`` with the reason and
skipped by ``@`` references; a ``running`` record whose process is gone is ``stale``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fpexp.errors import Problem, UsageError
from fpexp.job_record import not_this_job
from fpexp.liveness import is_alive
from fpexp.record import PLAN, RECORD
from fpexp.record_check import read_record
from fpexp.run_query import instant
from fpexp.user_files import file_problem

DEFAULT_ROOT = Path("outputs")
ASIDE = ".resumed"  # where ``fpexp resume`` keeps a sweep's old, incomplete job directories
# Not searched for runs: Hydra's and submitit's files of a run, and job directories set aside
# (``fpexp runs SWEEP/.resumed`` lists those)
NOT_RUNS = frozenset({".hydra", ".submitit", ASIDE})


@dataclass(frozen=True)
class Run:
    """A run directory and its record; ``problem`` says why the record cannot be used."""

    path: Path
    record: dict[str, Any]
    problem: str | None = None

    @property
    def started_at(self) -> str:
        """When the run started; for an unreadable record, when run.json was last written."""
        if self.problem is None:
            return self.record["started_at"]
        try:
            mtime = (self.path / RECORD).stat().st_mtime
        except OSError:
            return ""
        when = datetime.fromtimestamp(mtime, timezone.utc).astimezone()
        return when.isoformat(timespec="milliseconds")

    @property
    def damage(self) -> str | None:
        """An output file missing or of another size than recorded (a cheap check: sizes)."""
        for name, meta in (self.record.get("outputs") or {}).items():
            try:
                size = os.stat(os.path.join(self.path, name)).st_size  # os: 10,000 runs listed
            except OSError:
                return f"{name} is missing since the run"
            if size != meta.get("bytes", size):
                return f"{name} changed since the run ({size} bytes, {meta['bytes']} recorded)"
        return None

    @property
    def status(self) -> str:
        """The recorded status, ``stale`` for a ``running`` run whose process is gone, or
        ``unreadable`` (record unusable, or an output file damaged)."""
        if self.problem is not None or self.damage is not None:
            return "unreadable"
        status = self.record["status"]
        if status == "running" and is_alive(self.record.get("process")) is False:
            return "stale"
        return status

    def status_note(self) -> str:
        """The status with its reason when it is not plain (stale, unreadable)."""
        if self.problem is not None or self.damage is not None:
            return f"unreadable: {self.problem or self.damage}"
        if self.status == "stale":
            process = self.record.get("process") or {}
            return f"stale: recorded as running, but process {process.get('pid')} is gone"
        return self.status

    def usable(self, damaged: bool = False) -> Run:
        """This run, or a one-line ``UsageError`` saying why its record (or, unless
        ``damaged`` is allowed, one of its output files) cannot be used."""
        why = self.problem or (None if damaged else self.damage)
        if why is not None:
            raise UsageError([Problem(shown(self.path), f"unreadable run: {why}")])
        return self

    @property
    def choices(self) -> dict[str, str]:
        """The config-group choices the run was composed with (task, model, data)."""
        return dict((self.record.get("command") or {}).get("choices") or {})

    def composed_config(self) -> dict[str, Any]:
        """The config as composed, interpolations kept (``.hydra/config.yaml``), validated:
        fpexp's own keys and plain values only (``UsageError`` naming the key otherwise)."""
        from fpexp.replay import config_problems

        path = self.path / ".hydra" / "config.yaml"
        if not os.path.lexists(path):
            return dict(self.record.get("config") or {})
        config = _load_yaml(path)
        if problems := config_problems(config, shown(path)):
            raise UsageError(problems)
        return config

    def portable_config(self) -> dict[str, Any]:
        """``composed_config`` with relative file paths made absolute against the run's working
        directory, so a rerun from anywhere reads the same files."""
        config = self.composed_config()
        cwd = Path((self.record.get("command") or {}).get("cwd") or self.path)
        for group, key in (("data", "path"), ("model", "weights")):
            node = config.get(group) or {}
            value = node.get(key)
            if (
                isinstance(value, str)
                and value
                and "${" not in value
                and not Path(value).is_absolute()
            ):
                node[key] = str(cwd / value)
        return config

    def hydra_overrides(self) -> list[str]:
        """The allowed Hydra settings the run was started with (see ``fpexp.replay``),
        rebuilt from validated values; ``UsageError`` naming any other override."""
        from fpexp.replay import hydra_settings

        path = self.path / ".hydra" / "hydra.yaml"
        if not os.path.lexists(path):
            return []
        try:
            recorded = _load_yaml(path)["hydra"]["overrides"]["hydra"]
        except (KeyError, TypeError, IndexError):
            recorded = []  # nothing recorded: nothing to replay
        kept, problems = hydra_settings(recorded, shown(path))
        if problems:
            raise UsageError(problems)
        return kept


def _load_yaml(path: Path) -> Any:
    """A YAML file of a record as plain data, interpolations kept (safe loader: tags that
    would build objects are errors; ``UsageError`` if unreadable)."""
    import yaml

    if (problem := file_problem(path, shown(path), "")) is not None:
        raise UsageError([Problem(shown(path), problem.what.split(": ", 1)[-1])])
    try:
        return yaml.safe_load(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError([Problem(shown(path), f"unreadable ({first})")]) from None
    except RecursionError:
        raise UsageError([Problem(shown(path), "unreadable (nested too deeply)")]) from None


def load_run(path: Path) -> Run:
    """The run in ``path``: a usable record, or one whose ``problem`` says why not."""
    path = Path(path)
    if not os.path.lexists(path / RECORD):
        raise UsageError([Problem(str(path), "is not a run directory (no run.json)")])
    record, problem = read_record(path)
    if problem is None and path.name.isdecimal() and (path.parent / PLAN).exists():
        # a sweep with fpexp's plan names job N's directory N: it must hold job N's run
        problem = not_this_job(record, int(path.name), [])
    return Run(path.resolve(), record, problem)


def run_if_there(path: Path) -> Run | None:
    """``load_run(path)``, or None when its run.json went away since the directory was listed
    (a run moved or deleted while runs are being listed is not an error)."""
    try:
        return load_run(path)
    except UsageError:
        return None


def find_runs(root: Path = DEFAULT_ROOT) -> list[Run]:
    """All runs under ``root`` (single runs and sweep jobs), unreadable ones too, newest first."""
    runs = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in NOT_RUNS]
        if RECORD in filenames and (run := run_if_there(Path(dirpath))) is not None:
            runs.append(run)
    return sorted(runs, key=lambda r: (instant(r.started_at), str(r.path)), reverse=True)


def _newest(root: Path, n: int = 5) -> str:
    runs = [r for r in find_runs(root) if r.status != "unreadable"][:n]
    if not runs:
        return f"no runs under {root}"
    return "newest: " + ", ".join(shown(r.path) for r in runs)


def shown(path: Path, cwd: Path | None = None) -> str:
    """A path relative to ``cwd`` (default: the working directory) when inside it."""
    path = Path(path).resolve()
    cwd = Path(cwd or Path.cwd()).resolve()
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)


def _has_record(path: Path) -> bool:
    """A run.json entry of any kind (never opened: it may be a FIFO)."""
    return os.path.lexists(path / RECORD)


_FORMS = "a path, @latest, @-N with N >= 1, or SWEEP_DIR:JOB"
_AT = re.compile(r"^@(?:latest|-([1-9][0-9]*))$")


def resolve(ref: str, root: Path = DEFAULT_ROOT) -> Run:
    """The run a reference names; a one-line ``UsageError`` listing the newest runs if none.

    ``@`` references count only runs whose record can be read."""
    if not ref.strip():
        raise UsageError([Problem(repr(ref), "an empty run reference", _FORMS)])
    if ref.startswith("@"):
        match = _AT.match(ref)
        if match is None:
            raise UsageError([Problem(ref, "is not a run reference", _FORMS)])
        index = int(match.group(1) or 1)
        every = find_runs(root)
        runs = [r for r in every if r.status != "unreadable"]
        if index > len(runs):
            skipped = len(every) - len(runs)
            what = f"there are only {len(runs)} runs" + (
                f" that can be read ({skipped} unreadable)" if skipped else ""
            )
            raise UsageError([Problem(ref, what, _newest(root))])
        return runs[index - 1]
    path = Path(ref)
    if not os.path.exists(path) and ":" in ref:  # False, not OSError, for a name too long
        sweep, _, job = ref.rpartition(":")
        if not job.isdigit() or not job.isascii():
            raise UsageError([Problem(ref, f"{job!r} is not a job number", _FORMS)])
        path = Path(sweep) / job
    if not _has_record(path) and _has_record(root / path):
        path = root / path
    if not _has_record(path):
        raise UsageError([Problem(ref, "no such run", _newest(root))])
    return load_run(path)
