"""The CSV text of pyarrow's writer (``quoting_style="needed"``), built in Python for small tables.

A default run writes three tables of five rows each; importing pyarrow to write them costs
~0.2 s, as much as the rest of fpexp's own work. Tables of at most ``SMALL_ROWS`` rows whose
columns are all of a kind handled here are written by ``encode``, byte for byte what pyarrow
writes (tests/test_csv_text.py compares the two over random and hostile values); anything else
(``None`` from ``encode``) goes to pyarrow, so a file's bytes never depend on the path taken.

pyarrow's text, per kind: a header of quoted names; text quoted, ``"`` doubled; bools
``true``/``false``; ints in decimal; float32/float64 as the shortest digits that round-trip at
that width, positional when the decimal exponent is in [-6, 9] (``0.000001``, ``1000000000``),
otherwise ``d.ddde+X`` (``1e+10``, ``1.5e-7``), no trailing ``.0``; ``nan``, ``inf``,
``-inf``, ``-0``; ``\\n`` after every line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from fpexp.arrow_columns import from_list

SMALL_ROWS = 2048  # above this, pyarrow's import is paid back by its speed
_POSITIONAL = range(-6, 10)  # decimal exponents written without an exponent


def encode(columns: Mapping[str, np.ndarray | Sequence[Any]], header: bool = True) -> bytes | None:
    """The CSV bytes of ``columns`` (equal lengths, 1 to ``SMALL_ROWS`` rows), the header
    first if ``header``; None where a column is of a kind left to pyarrow."""
    cells: list[list[str]] = []
    for values in columns.values():
        column = _cells(values)
        if column is None:
            return None
        cells.append(column)
    rows = {len(column) for column in cells}
    if len(rows) != 1 or not 0 < rows.pop() <= SMALL_ROWS:
        return None
    lines = [",".join(map(_quoted, columns))] if header else []
    lines.extend(",".join(row) for row in zip(*cells, strict=True))
    try:
        return ("\n".join(lines) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # unpaired surrogates: pyarrow's own error
        return None


def _cells(values: np.ndarray | Sequence[Any]) -> list[str] | None:
    """One column's cells as text; None where pyarrow's rules are not the ones here."""
    data = values if isinstance(values, np.ndarray) else from_list(values)
    if data is None or data.ndim != 1 or not data.dtype.isnative:
        return None
    formatter = _FORMATTERS.get(data.dtype.kind + str(data.dtype.itemsize))
    formatter = formatter or _FORMATTERS.get(data.dtype.kind)
    if formatter is None:
        return None
    if data.dtype.kind == "f":
        return formatter(data)
    items = data.tolist()
    if data.dtype.kind == "O" and not all(type(item) is str for item in items):
        return None
    return formatter(items)


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _floats(data: np.ndarray) -> list[str]:
    """Shortest round-trip digits at the array's own width, laid out as pyarrow lays them out:
    Python's ``repr`` for float64, numpy's unique scientific form for float32. Not numpy's
    ``str``, which follows the caller's print options (``legacy="1.13"`` gives 12 digits)."""
    if data.dtype.itemsize == 8:
        return [_float_text(repr(value)) for value in data.tolist()]
    scientific = np.format_float_scientific
    return [_float_text(scientific(value, unique=True)) for value in data]


def _float_text(shortest: str) -> str:
    """``1e-07`` / ``0.0001`` / ``7.3430586e-01`` / ``123.0`` as pyarrow writes the number."""
    sign, body = ("-", shortest[1:]) if shortest.startswith("-") else ("", shortest)
    if body in ("nan", "inf"):
        return body if body == "nan" else sign + body
    mantissa, _, exponent = body.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return sign + "0"
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")  # value = 0.DIGITS x 10**point
    return sign + _layout(digits, point - 1)


def _layout(digits: str, exponent: int) -> str:
    """``digits`` (no leading or trailing zeros) with the decimal exponent ``exponent``."""
    if exponent in _POSITIONAL:
        if exponent < 0:
            return "0." + "0" * (-exponent - 1) + digits
        whole = digits[: exponent + 1].ljust(exponent + 1, "0")
        fraction = digits[exponent + 1 :]
        return whole + ("." + fraction if fraction else "")
    head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{head}e{'+' if exponent >= 0 else '-'}{abs(exponent)}"


def _texts(items: Iterable[str]) -> list[str]:
    return [_quoted(item) for item in items]


def _ints(items: Iterable[int]) -> list[str]:
    return [str(item) for item in items]


def _bools(items: Iterable[bool]) -> list[str]:
    return ["true" if item else "false" for item in items]


_FORMATTERS: dict[str, Callable[[Any], list[str]]] = {
    "b": _bools,
    "i": _ints,
    "u": _ints,
    "f4": _floats,
    "f8": _floats,
    "U": _texts,
    "O": _texts,
}
