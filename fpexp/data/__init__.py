"""Data sources, chosen by ``data.source``. A new input kind is one more module here."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from fpexp.data.base import Batch, InMemorySource, Source

SOURCES: dict[str, str] = {
    "animals": "fpexp.data.animals",
    "synthetic": "fpexp.data.synthetic",
    "file": "fpexp.data.file",
}


def open_source(cfg: Any, cwd: Path | None = None) -> Source:
    """Load the module registered for ``cfg.source`` and open the source (paths from ``cwd``)."""
    return import_module(SOURCES[cfg.source]).load(cfg, cwd)


__all__ = ["SOURCES", "Batch", "InMemorySource", "Source", "open_source"]
