"""Which module is which in a model, from its recorded rows only: torch-free, so a sweep
summary written after a signal (torch perhaps half-imported) never imports torch."""

from __future__ import annotations

from typing import Any


def last_hidden_index(types: list[str], params: list[Any] | None = None) -> int | None:
    """The module whose output feeds the last module that has parameters (the last hidden
    representation), if any. ``params``: each module's parameter count (run.json's
    ``layers``); a record without them (older runs) falls back to the last ``Linear``."""
    counts = params if params is not None and len(params) == len(types) else None
    if counts is not None and all(_count(n) for n in counts):
        owners = [i for i, n in enumerate(counts) if n > 0]
    else:
        owners = [i for i, t in enumerate(types) if t == "Linear"]
    return owners[-1] - 1 if owners and owners[-1] > 0 else None


def _count(n: Any) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= 0
