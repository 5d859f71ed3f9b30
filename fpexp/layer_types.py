"""Which module is which in a model, by type name only: torch-free, so a sweep summary written
after a signal (torch perhaps half-imported) never imports torch."""

from __future__ import annotations


def last_hidden_index(types: list[str]) -> int | None:
    """The module feeding the output Linear (the last hidden representation), if any."""
    linears = [i for i, t in enumerate(types) if t == "Linear"]
    return linears[-1] - 1 if linears and linears[-1] > 0 else None
