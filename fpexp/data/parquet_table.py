"""Parquet input: declared column types, read in record batches by pyarrow.

Integer, float, decimal and boolean (as 0/1) columns are numeric, a column of nulls is numeric
(and then empty); any other type (strings, dates, ...) is excluded from the default features
and named. pyarrow's read-ahead is off, so memory stays flat however big the file is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fpexp.data.arrow_rows import Rows, is_numeric, table_rows
from fpexp.data.columns import Columns, check_unique, settle
from fpexp.data.formats import INPUT_FORMATS, first_line
from fpexp.errors import Problem, UsageError

BLOCK_BYTES = 8 << 20


def _fail(what: str, allowed: str = "") -> UsageError:
    return UsageError([Problem("data.path", what, allowed)])


def check(path: Path, kind: str) -> None:
    """Refuse a file that is not Parquet (first and last bytes ``PAR1``)."""
    if kind != INPUT_FORMATS["parquet"].kind:
        what = f"{path}: not a Parquet file, it is {kind}"
        raise _fail(what, "a file written by a Parquet writer")


def inspect(
    path: Path, features: list[str] | None, id_: str | None, label: str | list[str] | None
) -> Columns:
    """The columns to read, from the file's schema (non-numeric ones named, with their type)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except (pa.ArrowException, OSError) as err:
        raise _fail(f"{path}: not a readable Parquet file ({first_line(err)})") from None
    check_unique(path, schema.names)
    reasons = {f.name: f"type {f.type}" for f in schema if not is_numeric(f.type)}
    feats, excluded = settle(path, schema.names, reasons, features, id_, label)
    n = pf.metadata.num_rows
    if n == 0:
        raise _fail(f"{path}: no rows", "a table with at least one row")
    return Columns(schema.names, feats, id_, label, n, excluded)


def read(path: Path, columns: Columns) -> Iterator[Rows]:
    """Record batches of up to 65,536 rows, as (ids or None, features, labels or None)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    wanted = [*columns.features, *(c for c in (columns.id,) if c), *columns.label_columns]
    try:
        # pre_buffer (pyarrow's default) would read ahead the whole file: memory would grow
        pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=BLOCK_BYTES)
        for batch in pf.iter_batches(batch_size=65_536, columns=list(dict.fromkeys(wanted))):
            yield table_rows(batch, columns)
    except (pa.ArrowException, OSError) as err:
        what = f"{path}: cannot read Parquet data ({first_line(err)})"
        raise _fail(what, "a complete, readable Parquet file") from None
