"""A CSV read that pyarrow refused, as one line naming the file, the column and the row.

pyarrow's messages name neither the row nor, often, the column: the file is re-read with the
csv module from where the read stopped, and the first cell that cannot convert is named.
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fpexp.data.columns import Columns
from fpexp.errors import Problem, UsageError

NUMBER = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"
INTEGER = r"^\s*[+-]?\d+\s*$"
# what pyarrow reads as a missing (null) or non-finite float: never evidence of text
MISSING = (
    r"(?i)^\s*([+-]?(inf|infinity|nan)|#N/A|#N/A N/A|#NA|-?1\.#IND|-?1\.#QNAN|N/A|NA|NULL)?\s*$"
)
PATTERNS = {"number": re.compile(NUMBER), "integer": re.compile(INTEGER)}
_MISSING = re.compile(MISSING)
_TEXT: dict[str, Any] = {"newline": "", "encoding": "utf-8-sig", "errors": "surrogateescape"}


def _fail(what: str, allowed: str = "", key: str = "data.path") -> UsageError:
    return UsageError([Problem(key, what, allowed)])


def cell_text(value: Any) -> str:
    """A cell as it can be shown on one line (bytes and undecodable text included)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    value = value.replace("\n", " ").replace("\r", " ")
    return value if len(value) <= 40 else value[:37] + "..."


@contextmanager
def _long_fields() -> Iterator[None]:
    """Let the csv module read fields of any length (pyarrow has no such limit)."""
    old = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def csv_error(path: Path, columns: Columns | None, message: str, after: int = 0) -> UsageError:
    """Turn pyarrow's message into one naming the row (found by re-reading from ``after``)."""
    try:
        with _long_fields(), open(path, **_TEXT) as fh:
            found = _find_row(path, csv.reader(fh), columns, after)
    except (csv.Error, OSError):
        found = None
    if found is not None:
        return found
    first = (message.strip().splitlines() or ["unknown error"])[0]
    if "UTF8" in first or "utf-8" in first:
        return _fail(f"{path}: not UTF-8 text", "a UTF-8 encoded CSV")
    first = first if len(first) <= 120 else first[:117] + "..."
    return _fail(f"{path}: cannot read as CSV ({first})")


def _checks(columns: Columns | None) -> dict[str, str]:
    """Which columns must hold numbers (or integers) to convert: features, numeric labels."""
    import pyarrow as pa

    if columns is None:
        return {}
    out = dict.fromkeys(columns.features, "number")
    for col in columns.label_columns:
        label_type = columns.types.get(col)
        if label_type is not None and (
            pa.types.is_integer(label_type) or label_type == pa.float64()
        ):
            out[col] = "integer" if pa.types.is_integer(label_type) else "number"
    return out


_LABEL_ALLOWED = "labels of one kind in every row, as in the file's first rows"


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text_columns(columns: Columns | None) -> list[str]:
    """The id and a single label column: read as text (a list label's columns are numbers)."""
    if columns is None:
        return []
    label = columns.label if columns.label_names is None else None
    return [c for c in (columns.id, label) if isinstance(c, str)]


def _find_row(path: Path, reader: Any, columns: Columns | None, after: int) -> UsageError | None:
    header: list[str] = next(reader, [])
    checks = {header.index(c): (c, kind) for c, kind in _checks(columns).items() if c in header}
    text = [header.index(c) for c in _text_columns(columns) if c in header]
    number = 0
    for row in reader:
        if not row:
            continue  # pyarrow skips empty lines too
        number += 1
        if number <= after:
            continue
        if len(row) != len(header):
            what = f"{path}: row {number} has {len(row)} fields, the header has {len(header)}"
            return _fail(what, "the same number of fields on every row")
        for i, (col, kind) in checks.items():
            value = row[i]
            if not (PATTERNS[kind].match(value) or _MISSING.match(value)):
                noun = "a number" if kind == "number" else "an integer"
                what = f"{path}: column '{col}', row {number}: '{cell_text(value)}' is not {noun}"
                is_label = columns is not None and col in columns.label_columns
                return _fail(what, _LABEL_ALLOWED if is_label else "numeric feature columns")
        for i in text:
            if not _is_utf8(row[i]):
                what = f"{path}: column '{header[i]}', row {number}: not UTF-8 text"
                return _fail(what, "a UTF-8 encoded CSV")
    return None
