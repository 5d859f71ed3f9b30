"""``run.json``: the run record. Written at the start (``running``) and at the end.

Status goes ``running`` -> ``completed`` | ``failed`` | ``interrupted``. ``completed`` is written
last, after every output file is in place and hashed, so a directory whose record does not say
``completed`` is never a result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fpexp.atomic import write_text
from fpexp.hashing import sha256_file

RECORD = "run.json"
SCHEMA_VERSION = 1


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

    def save(self) -> None:
        write_text(self.path, json.dumps(self.data, indent=2, default=str) + "\n")

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

    def discard_outputs(self, names: tuple[str, ...] = ()) -> None:
        """Remove the outputs (registered or just named): a failed run holds no result."""
        for name in {*self.data["outputs"], *names}:
            (self.run_dir / name).unlink(missing_ok=True)
        self.data["outputs"] = {}

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
