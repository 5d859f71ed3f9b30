"""Per-format readers: which columns a file has, and its rows as numpy arrays, in blocks."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fpexp.errors import Problem, UsageError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npy": "npy"}
BLOCK_BYTES = 8 << 20

Rows = tuple[np.ndarray | None, np.ndarray, np.ndarray | None]


@dataclass(frozen=True)
class Columns:
    """The columns a run reads: features (in order), id and label (or None)."""

    all: list[str]
    features: list[str]
    id: str | None
    label: str | None
    n_rows: int | None


def _fail(key: str, what: str, allowed: str = "") -> UsageError:
    return UsageError([Problem(key, what, allowed)])


def _settle(
    path: Path,
    names: list[str],
    numeric: set[str],
    features: list[str] | None,
    id_: str | None,
    label: str | None,
) -> list[str]:
    """Check the named columns exist; default features: numeric columns but id and label."""
    problems = []
    have = ", ".join(names)
    for key, col in (("data.id", id_), ("data.label", label)):
        if col is not None and col not in names:
            problems.append(Problem(key, f"{path}: no column '{col}'", f"one of: {have}"))
    if features is None:
        features = [c for c in names if c in numeric and c not in (id_, label)]
        if not features:
            problems.append(
                Problem("data.features", f"{path}: no numeric feature columns", f"columns: {have}")
            )
    else:
        for col in features:
            if col not in names:
                problems.append(
                    Problem("data.features", f"{path}: no column '{col}'", f"one of: {have}")
                )
    if problems:
        raise UsageError(problems)
    return features


def inspect(
    path: Path, fmt: str, features: list[str] | None, id_: str | None, label: str | None
) -> Columns:
    if fmt == "npy":
        arr = _npy(path)
        names = [f"x{i}" for i in range(arr.shape[1])]
        feats = _settle(path, names, set(names), features, id_, label)
        return Columns(names, feats, id_, label, int(arr.shape[0]))
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as err:
            raise _fail("data.path", f"{path}: not a readable Parquet file ({err})") from None
        schema = pf.schema_arrow
        numeric = {
            f.name
            for f in schema
            if pa.types.is_integer(f.type)
            or pa.types.is_floating(f.type)
            or pa.types.is_boolean(f.type)
        }
        feats = _settle(path, schema.names, numeric, features, id_, label)
        for col in feats:
            if col not in numeric:
                raise _fail(
                    "data.features",
                    f"{path}: column '{col}', row 1: type {schema.field(col).type} is not numeric",
                    "numeric columns",
                )
        n = pf.metadata.num_rows
        if n == 0:
            raise _fail("data.path", f"{path}: no rows", "a table with at least one row")
        return Columns(schema.names, feats, id_, label, n)
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 20))
        schema = reader.schema
        first = next(iter(reader), None)
    except pa.ArrowInvalid as err:
        if "Empty CSV file" in str(err):
            raise _fail(
                "data.path", f"{path}: empty file", "a table with a header and at least one row"
            ) from None
        raise _csv_error(path, None, str(err)) from None
    if first is None or first.num_rows == 0:
        raise _fail("data.path", f"{path}: no rows (header only)", "a table with at least one row")
    numeric = {
        f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
    }
    feats = _settle(path, schema.names, numeric, features, id_, label)
    return Columns(schema.names, feats, id_, label, None)


def _npy(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as err:
        raise _fail(
            "data.path", f"{path}: not a readable .npy array ({err})", "a 2-D numeric array"
        ) from None
    if arr.ndim != 2:
        raise _fail(
            "data.path",
            f"{path}: array has {arr.ndim} dimension(s), shape {list(arr.shape)}",
            "a 2-D array: rows x features",
        )
    if arr.dtype.kind not in "biuf":
        raise _fail(
            "data.path", f"{path}: array dtype {arr.dtype} is not numeric", "a numeric array"
        )
    if arr.shape[0] == 0:
        raise _fail("data.path", f"{path}: no rows", "a table with at least one row")
    return arr


def open_reader(path: Path, fmt: str, columns: Columns) -> Iterator[Rows]:
    """Blocks of rows: (ids or None, float32 features, labels or None)."""
    if fmt == "npy":
        yield from _read_npy(path, columns)
    elif fmt == "parquet":
        yield from _read_parquet(path, columns)
    else:
        yield from _read_csv(path, columns)


def _read_npy(path: Path, columns: Columns) -> Iterator[Rows]:
    arr = _npy(path)
    idx = [columns.all.index(c) for c in columns.features]
    whole = idx == list(range(arr.shape[1])) and arr.dtype == np.float32  # no copy needed
    row_bytes = max(1, arr.shape[1] * arr.itemsize)
    step = max(1, BLOCK_BYTES // row_bytes)
    mapping = getattr(arr, "_mmap", None)
    offset = getattr(arr, "offset", 0)
    for start in range(0, arr.shape[0], step):
        block = arr[start : start + step]
        ids = np.array(block[:, columns.all.index(columns.id)]) if columns.id else None
        labels = np.array(block[:, columns.all.index(columns.label)]) if columns.label else None
        features = block if whole else np.ascontiguousarray(block[:, idx], dtype=np.float32)
        yield ids, features, labels
        _release(mapping, offset + start * row_bytes, len(block) * row_bytes)


def _release(mapping: object, begin: int, length: int) -> None:
    """Drop a consumed range of the memory map from this process's resident memory."""
    import mmap

    if mapping is None or not hasattr(mapping, "madvise"):
        return
    page = mmap.PAGESIZE
    start = (begin // page) * page
    with contextlib.suppress(OSError, ValueError):
        mapping.madvise(mmap.MADV_DONTNEED, start, begin + length - start)


def _table_rows(table, columns: Columns) -> Rows:
    feats = np.column_stack(
        [table.column(c).to_numpy(zero_copy_only=False) for c in columns.features]
    )
    ids = table.column(columns.id).to_numpy(zero_copy_only=False) if columns.id else None
    labels = table.column(columns.label).to_numpy(zero_copy_only=False) if columns.label else None
    return ids, np.ascontiguousarray(feats, dtype=np.float32), labels


def _read_parquet(path: Path, columns: Columns) -> Iterator[Rows]:
    import pyarrow.parquet as pq

    wanted = [*columns.features, *(c for c in (columns.id, columns.label) if c)]
    # pre_buffer (pyarrow's default) would read ahead the whole file: memory would grow with it
    pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=BLOCK_BYTES)
    for batch in pf.iter_batches(batch_size=65_536, columns=list(dict.fromkeys(wanted))):
        yield _table_rows(batch, columns)


def _read_csv(path: Path, columns: Columns) -> Iterator[Rows]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {c: pa.float64() for c in columns.features}
    if columns.id:
        types[columns.id] = pa.string()
    wanted = list(
        dict.fromkeys([*columns.features, *(c for c in (columns.id, columns.label) if c)])
    )
    convert = pacsv.ConvertOptions(column_types=types, include_columns=wanted)
    # pyarrow reads ahead a few dozen blocks: 1 MiB blocks keep that buffer small
    read = pacsv.ReadOptions(block_size=1 << 20)
    rows = 0
    try:
        for batch in pacsv.open_csv(path, read_options=read, convert_options=convert):
            yield _table_rows(batch, columns)
            rows += batch.num_rows
    except pa.ArrowInvalid as err:
        raise _csv_error(path, columns, str(err), after=rows) from None


def _csv_error(path: Path, columns: Columns | None, message: str, after: int = 0) -> UsageError:
    """Turn pyarrow's message into one naming the row (found by re-reading from ``after``)."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        number = 0
        for row in reader:
            if not row:
                continue  # pyarrow skips empty lines too
            number += 1
            if number <= after:
                continue
            if len(row) != len(header):
                what = f"{path}: row {number} has {len(row)} fields, the header has {len(header)}"
                return _fail("data.path", what, "the same number of fields on every row")
            for col in columns.features if columns else []:
                value = row[header.index(col)]
                try:
                    float(value) if value.strip() else None
                except ValueError:
                    what = f"{path}: column '{col}', row {number}: '{value}' is not a number"
                    return _fail("data.path", what, "numeric feature columns")
    first = message.strip().splitlines()[0]
    return _fail("data.path", f"{path}: cannot read as CSV ({first})")
