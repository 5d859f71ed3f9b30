"""What a sweep job's process left behind when it was killed: a record that says so.

The launcher (``launcher.py``) calls ``mark_killed`` for a job whose process died. The job's
``run.json`` still says ``running`` (or was never written); it becomes ``failed`` with the reason,
and the temporary files the dead process was writing (``.NAME.PID.tmp``) and the job's
output files are removed, as for any failed run.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from fpexp.atomic import write_text
from fpexp.job_record import read_job
from fpexp.record import RECORD, SCHEMA_VERSION


def mark_killed(job_dir: Path, reason: str, pid: int) -> None:
    """Record ``failed: reason`` for the job in ``job_dir`` unless its record already ended."""
    if not job_dir.is_dir():
        return
    for tmp in job_dir.glob(f".*.{pid}.tmp"):
        tmp.unlink(missing_ok=True)
    rec, why = read_job(job_dir)
    if rec is not None and rec["status"] != "running":
        return  # it ended (the process died after writing its last record)
    if rec is None:
        if why != "no run.json":
            return  # not ours to overwrite
        rec = {"schema_version": SCHEMA_VERSION, "run_dir": str(job_dir), "outputs": {}}
    from fpexp.pipeline import OUTPUT_NAMES

    outputs = rec.get("outputs")
    for name in {
        *OUTPUT_NAMES,
        *(outputs if isinstance(outputs, dict) else {}),
    }:  # a killed job holds no result
        if isinstance(name, str) and name == Path(name).name and not name.startswith("."):
            (job_dir / name).unlink(missing_ok=True)
    ended = datetime.now(timezone.utc).astimezone().isoformat(timespec="milliseconds")
    rec.update(status="failed", ended_at=ended)
    rec["outputs"] = {}
    rec.pop("error", None)
    rec["error"] = reason
    write_text(job_dir / RECORD, json.dumps(rec, indent=2, default=str) + "\n")
