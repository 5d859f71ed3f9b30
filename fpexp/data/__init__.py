"""Data: the sources a run reads (``data=<name>``, see ``sources``) and the file formats
(``data.format``, see ``formats``). Importing the package or its tables imports no numpy,
torch or pyarrow: ``--help``, config validation and ``fpexp runs`` read them."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fpexp.data.sources import SOURCES

if TYPE_CHECKING:
    from fpexp.data.base import Batch, InMemorySource, Source

_BASE = ("Batch", "InMemorySource", "Source")


def open_source(cfg: Any, cwd: Path | None = None) -> Source:
    """Open the source ``cfg.source`` names (relative paths from ``cwd``)."""
    return SOURCES[cfg.source].load(cfg, cwd)


def __getattr__(name: str) -> Any:
    """``Batch``, ``InMemorySource`` and ``Source`` from ``base``, imported when first used."""
    if name in _BASE:
        return getattr(import_module("fpexp.data.base"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SOURCES", "Batch", "InMemorySource", "Source", "open_source"]
