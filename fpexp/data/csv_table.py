"""CSV tables: which columns are features, and their rows in blocks (pyarrow's streaming reader).

pyarrow infers column types from the first block only; that inference never decides the
feature set. With ``data.features`` unset, a column whose first block is not numeric is
excluded only if no value in it is a number; one that mixes numbers and text is an error
naming the column and row. Excluded columns are read as raw bytes while streaming (they cost
only when there are some), and a number found in one later is the same kind of error. Feature
columns are read as float64, so a bad cell anywhere in the file stops the run, naming it.
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fpexp.data.columns import Columns, check_unique, label_columns, settle
from fpexp.errors import Problem, UsageError

BLOCK = 1 << 20  # pyarrow reads ahead a few dozen blocks: 1 MiB blocks keep that buffer small
NUMBER = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"
INTEGER = r"^\s*[+-]?\d+\s*$"
# what pyarrow reads as a missing (null) or non-finite float: never evidence of text
MISSING = (
    r"(?i)^\s*([+-]?(inf|infinity|nan)|#N/A|#N/A N/A|#NA|-?1\.#IND|-?1\.#QNAN|N/A|NA|NULL)?\s*$"
)
_PATTERNS = {"number": re.compile(NUMBER), "integer": re.compile(INTEGER)}
_MISSING = re.compile(MISSING)
_TEXT: dict[str, Any] = {"newline": "", "encoding": "utf-8-sig", "errors": "surrogateescape"}


def _fail(what: str, allowed: str = "", key: str = "data.path") -> UsageError:
    return UsageError([Problem(key, what, allowed)])


def _text(value: Any) -> str:
    """A cell as it can be shown on one line (bytes and undecodable text included)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    value = value.replace("\n", " ").replace("\r", " ")
    return value if len(value) <= 40 else value[:37] + "..."


def _first_block(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=BLOCK))
        reader.schema.names  # noqa: B018 (decodes the header: may not be UTF-8)
        first = next(iter(reader), None)
    except UnicodeDecodeError:
        raise _fail(f"{path}: the header is not UTF-8 text", "a UTF-8 encoded CSV") from None
    except pa.ArrowInvalid as err:
        if "Empty CSV file" in str(err):
            allowed = "a table with a header and at least one row"
            raise _fail(f"{path}: empty file", allowed) from None
        raise csv_error(path, None, str(err)) from None
    if first is None or first.num_rows == 0:
        raise _fail(f"{path}: no rows (header only)", "a table with at least one row")
    return first


def inspect_csv(
    path: Path, features: list[str] | None, id_: str | None, label: str | list[str] | None
) -> Columns:
    """The columns to read, settled on the first block (mixed columns there are an error)."""
    import pyarrow as pa

    first = _first_block(path)
    names = first.schema.names
    check_unique(path, names)
    labels = label_columns(label)
    reasons = {}
    for i, f in enumerate(first.schema):
        if isinstance(label, list) and f.name in labels:
            if not (_numeric(f.type) or pa.types.is_boolean(f.type)):
                reasons[f.name] = f"type {f.type}"  # a list label's columns hold numbers
        elif features is None and f.name != id_ and f.name not in labels and not _numeric(f.type):
            reason = _text_reason(path, f.name, first.column(i), f.type)
            if reason is not None:
                reasons[f.name] = reason
    feats, excluded = settle(path, names, reasons, features, id_, label)
    types: dict[str, Any] = {c: pa.binary() for c in excluded}
    if id_:
        types[id_] = pa.string()
    for col in labels:
        types[col] = _label_type(first.schema.field(col).type)
    return Columns(names, feats, id_, label, None, excluded, types, _header_note(names))


def _header_note(names: list[str]) -> str | None:
    """A header of numbers only is probably a first data row: say so (it is not a row)."""
    if all(_PATTERNS["number"].match(n) for n in names):
        return "every column name is a number: is the first line data? (it was read as the header)"
    return None


def _numeric(t: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t)


def _label_type(t: Any) -> Any:
    """Read labels as the first block says, but every number as one type for the whole file."""
    import pyarrow as pa

    if pa.types.is_integer(t):
        return pa.int64()
    if pa.types.is_floating(t) or pa.types.is_null(t):
        return pa.float64()
    return pa.bool_() if pa.types.is_boolean(t) else pa.string()


def _text_reason(path: Path, name: str, col: Any, t: Any) -> str | None:
    """Why a non-numeric column is not a feature; an error if some of its values are numbers."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)):
        return f"type {t}, no value is a number"
    number = pc.match_substring_regex(col, NUMBER)
    if not pc.any(number).as_py():
        return "text, no value is a number"
    text = pc.invert(pc.or_(number, pc.match_substring_regex(col, MISSING)))
    if not pc.any(text).as_py():
        return None  # numbers and missing values only: a feature after all
    i, j = pc.index(text, True).as_py(), pc.index(number, True).as_py()
    what = f"{path}: column '{name}', row {i + 1}: '{_text(col[i].as_py())}' is not a number"
    what += f", but row {j + 1} holds the number {_text(col[j].as_py())}"
    raise _fail(what, "a feature column holds only numbers; data.features picks the columns")


def read_csv(path: Path, columns: Columns) -> Iterator[Any]:
    """The file's record batches; every read error is one line naming the row."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {c: pa.float64() for c in columns.features} | columns.types
    extra = (columns.id, *columns.label_columns, *columns.excluded)
    wanted = list(dict.fromkeys([*columns.features, *(c for c in extra if c)]))
    convert = pacsv.ConvertOptions(column_types=types, include_columns=wanted)
    read = pacsv.ReadOptions(block_size=BLOCK)
    rows = 0
    try:
        for batch in pacsv.open_csv(path, read_options=read, convert_options=convert):
            if columns.excluded:
                _check_excluded(path, batch, columns.excluded, rows)
            yield batch
            rows += batch.num_rows
    except (pa.ArrowInvalid, UnicodeDecodeError) as err:
        raise csv_error(path, columns, str(err), after=rows) from None


def _check_excluded(path: Path, batch: Any, excluded: dict[str, str], rows: int) -> None:
    """A number in a column excluded as text: the column was not text after all."""
    import pyarrow.compute as pc

    for name in excluded:
        col = batch.column(name)
        number = pc.match_substring_regex(col, NUMBER)
        if pc.any(number).as_py():
            i = pc.index(number, True).as_py()
            where = f"{path}: column '{name}', row {rows + i + 1}"
            what = f"{where}: {_text(col[i].as_py())} is a number in a column excluded as text"
            raise _fail(what, "a column holds only numbers or no numbers; set data.features")


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
    header = next(reader, [])
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
            if not (_PATTERNS[kind].match(value) or _MISSING.match(value)):
                noun = "a number" if kind == "number" else "an integer"
                what = f"{path}: column '{col}', row {number}: '{_text(value)}' is not {noun}"
                is_label = columns is not None and col in columns.label_columns
                return _fail(what, _LABEL_ALLOWED if is_label else "numeric feature columns")
        for i in text:
            if not _is_utf8(row[i]):
                what = f"{path}: column '{header[i]}', row {number}: not UTF-8 text"
                return _fail(what, "a UTF-8 encoded CSV")
    return None
