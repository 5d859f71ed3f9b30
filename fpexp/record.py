"""``run.json``: the run record. Written at the start (``running``) and at the end.

Status goes ``running`` -> ``completed`` | ``failed`` | ``interrupted``. ``completed`` is written
last, after every output file is in place and hashed, so a directory whose record does not say
``completed`` is never a result.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fpexp.atomic import temporary, write_text
from fpexp.hashing import sha256_file

RECORD = "run.json"
PLAN = "sweep.json"  # a sweep's planned jobs (fpexp.sweep_plan)
SCHEMA_VERSION = 1


def strict(value: Any, where: str, notes: list[str]) -> Any:
    """``value`` as strict JSON can hold it: a NaN or infinity becomes ``None``, with a note
    naming where it was (numpy scalars become plain numbers)."""
    if isinstance(value, dict):
        return {k: strict(v, f"{where}.{k}" if where else str(k), notes) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v, f"{where}[{i}]", notes) for i, v in enumerate(value)]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    number = float(value)
    if math.isfinite(number):
        return number
    text = "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
    notes.append(f"{where}: {text} (not a finite number, recorded as null)")
    return None


def _plain(value: Any) -> Any:
    """JSON for what ``json`` does not know: a numpy scalar as its number, else its text."""
    if getattr(value, "shape", None) == () and callable(getattr(value, "item", None)):
        return value.item()
    return str(value)


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="milliseconds")


class RunRecord:
    """Accumulates what a run did, and saves it atomically as ``run.json``."""

    def __init__(self, directory: Path, **fields: Any) -> None:
        self.run_dir = Path(directory)
        self._t0 = time.perf_counter()
        self.data: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "status": "running",
            "started_at": _now(),
            "ended_at": None,
            "duration_s": None,
            "phases_s": {},
            **fields,
            "outputs": {},
            "error": None,
        }

    @property
    def path(self) -> Path:
        return self.run_dir / RECORD

    def to_json(self) -> str:
        """The record as strict JSON (no bare NaN or Infinity: null, and a line in ``notes``)."""
        try:  # the usual case, at full speed
            return json.dumps(self.data, indent=2, default=_plain, allow_nan=False) + "\n"
        except ValueError:
            pass
        notes: list[str] = []
        data = strict(self.data, "", notes)
        tail = {k: data.pop(k) for k in ("outputs", "error") if k in data}
        data["notes"] = [*data.get("notes", []), *notes]
        data.update(tail)
        return json.dumps(data, indent=2, default=_plain, allow_nan=False) + "\n"

    def save(self) -> None:
        write_text(self.path, self.to_json())

    def update(self, **fields: Any) -> None:
        self.data.update(fields)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a phase of the run into ``phases_s``, also when it fails; a phase that ends
        well is saved, so a long run's record shows how far it got."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.data["phases_s"][name] = round(time.perf_counter() - start, 6)
        self.save()

    def add_output(self, name: str, role: str, sha256: str | None = None, **extra: Any) -> None:
        """Register a file written into the run directory, with its size and sha256 (computed
        here unless the writer hashed it while writing)."""
        path = self.run_dir / name
        self.data["outputs"][name] = {
            "role": role,
            "bytes": path.stat().st_size,
            "sha256": sha256 or sha256_file(path),
            **extra,
        }

    def discard_outputs(self, names: tuple[str, ...] = ()) -> list[str]:
        """Remove the outputs (registered or just named) and their temporary files: a failed
        run holds no result. Returns what could not be removed."""
        kept = []
        for name in sorted({*self.data["outputs"], *names, RECORD}):
            path = self.run_dir / name
            for each in (temporary(path), path) if name != RECORD else (temporary(path),):
                try:
                    each.unlink(missing_ok=True)
                except OSError as err:  # a read-only disk says so even for a missing file
                    if os.path.lexists(each):
                        kept.append(f"{each.name} ({err.strerror or err})")
        self.data["outputs"] = {}
        return kept

    def finish(self, status: str, error: str | None = None) -> None:
        self.data.update(
            status=status,
            ended_at=_now(),
            duration_s=round(time.perf_counter() - self._t0, 6),
        )
        self.data["outputs"] = self.data.pop("outputs")  # keep outputs and error last
        self.data.pop("error", None)
        self.data["error"] = error
        self.save()
