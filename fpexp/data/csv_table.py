"""CSV tables: which columns are features, and their rows in blocks (pyarrow's streaming reader).

pyarrow infers column types from the first block only; that inference never decides the
feature set. With ``data.features`` unset, a column whose first block is not numeric is
excluded only if no value in it is a number; one that mixes numbers and text is an error
naming the column and row. Excluded columns are read as raw bytes while streaming (they cost
only when there are some), and a number found in one later is the same kind of error. Feature
columns are read as float64, so a bad cell anywhere in the file stops the run, naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fpexp.data.arrow_rows import Rows, table_rows
from fpexp.data.columns import Columns, check_unique, label_columns, settle
from fpexp.data.csv_errors import MISSING, NUMBER, PATTERNS, cell_text, csv_error
from fpexp.data.formats import NOT_UTF8, format_of_kind
from fpexp.errors import Problem, UsageError

BLOCK = 1 << 20  # pyarrow reads ahead a few dozen blocks: 1 MiB blocks keep that buffer small


def _fail(what: str, allowed: str = "", key: str = "data.path") -> UsageError:
    return UsageError([Problem(key, what, allowed)])


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


def check(path: Path, kind: str) -> None:
    """Refuse a file that is not UTF-8 text (another input format's file says which)."""
    if kind == "text":
        return
    other = format_of_kind(kind)
    if kind == NOT_UTF8:
        allowed = "UTF-8 text; re-encode it, e.g. with iconv"
    elif other is not None:
        allowed = f"data.format={other}"
    else:
        allowed = "a plain-text CSV file; decompress or convert it first"
    what = "not UTF-8 text" if kind == NOT_UTF8 else f"{kind}, not CSV text"
    raise _fail(f"{path}: {what}", allowed)


def inspect(
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
    if all(PATTERNS["number"].match(n) for n in names):
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
    what = f"{path}: column '{name}', row {i + 1}: '{cell_text(col[i].as_py())}' is not a number"
    what += f", but row {j + 1} holds the number {cell_text(col[j].as_py())}"
    raise _fail(what, "a feature column holds only numbers; data.features picks the columns")


def read(path: Path, columns: Columns) -> Iterator[Rows]:
    """Blocks of rows: (ids or None, float32 features, labels or None)."""
    for batch in _batches(path, columns):
        yield table_rows(batch, columns)


def _batches(path: Path, columns: Columns) -> Iterator[Any]:
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
            what = f"{where}: {cell_text(col[i].as_py())} is a number in a column excluded as text"
            raise _fail(what, "a column holds only numbers or no numbers; set data.features")
