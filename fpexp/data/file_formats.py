"""Per-format readers: which columns a file has, and its rows as numpy arrays, in blocks.

A file must be what its format says: the first bytes are checked before any reader sees it
(gzip, zip, xz and zstd data, an .npy given as CSV and so on are one line each, never a
traceback). Parquet columns have declared types: integer, float, decimal and boolean (as 0/1)
columns are numeric, a column of nulls is numeric (and then empty); any other type (strings,
dates, ...) is excluded from the default features and named. CSV: see ``csv_table``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fpexp.data.columns import Columns, check_unique, settle
from fpexp.errors import Problem, UsageError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npy": "npy"}
BLOCK_BYTES = 8 << 20
NPY_MAGIC, PARQUET_MAGIC = b"\x93NUMPY", b"PAR1"
_NOT_UTF8 = "text that is not UTF-8"
_MAGIC = (
    (b"\xff\xfe", _NOT_UTF8),  # UTF-16 (a spreadsheet's "Unicode text")
    (b"\xfe\xff", _NOT_UTF8),
    (NPY_MAGIC, "an .npy array"),
    (b"PK\x03\x04", "a zip archive, like an .npz"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
)

Rows = tuple[np.ndarray | None, np.ndarray, np.ndarray | None]
Label = str | list[str] | None

__all__ = ["FORMATS", "Columns", "inspect", "open_reader"]


def _fail(key: str, what: str, allowed: str = "") -> UsageError:
    return UsageError([Problem(key, what, allowed)])


def _first_line(err: BaseException) -> str:
    line = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return line if len(line) <= 120 else line[:117] + "..."


def sniff(path: Path) -> str:
    """What the file's first bytes say it is: a known binary kind, text, or binary data."""
    with open(path, "rb") as fh:
        head = fh.read(512)
        fh.seek(max(0, fh.seek(0, 2) - 4))
        tail = fh.read(4)
    if head.startswith(PARQUET_MAGIC) and tail == PARQUET_MAGIC:
        return "a Parquet file"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if b"\x00" in head:
        return "binary data"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if len(head) < 512 or err.start < len(head) - 3:  # not a character cut short
            return _NOT_UTF8
    return "text"


def _check_kind(path: Path, fmt: str) -> None:
    """Refuse a file whose bytes are not the format it is read as."""
    kind = sniff(path)
    if fmt == "csv" and kind != "text":
        hint = {
            "an .npy array": "data.format=npy",
            "a Parquet file": "data.format=parquet",
            _NOT_UTF8: "UTF-8 text; re-encode it, e.g. with iconv",
        }
        allowed = hint.get(kind, "a plain-text CSV file; decompress or convert it first")
        what = "not UTF-8 text" if kind == _NOT_UTF8 else f"{kind}, not CSV text"
        raise _fail("data.path", f"{path}: {what}", allowed)
    if fmt == "npy" and kind != "an .npy array":
        tip = " (a CSV? data.format=csv)" if kind == "text" else ""
        what = f"{path}: not an .npy file, it is {kind}{tip}"
        raise _fail("data.path", what, "an array saved with numpy.save")
    if fmt == "parquet" and kind != "a Parquet file":
        what = f"{path}: not a Parquet file, it is {kind}"
        raise _fail("data.path", what, "a file written by a Parquet writer")


def inspect(
    path: Path, fmt: str, features: list[str] | None, id_: str | None, label: Label
) -> Columns:
    """The columns a run reads from ``path``, settled before any row is streamed."""
    _check_kind(path, fmt)
    if fmt == "npy":
        arr = _npy(path)
        names = [f"x{i}" for i in range(arr.shape[1])]
        feats, _ = settle(path, names, {}, features, id_, label)
        return Columns(names, feats, id_, label, int(arr.shape[0]))
    if fmt == "parquet":
        return _inspect_parquet(path, features, id_, label)
    from fpexp.data.csv_table import inspect_csv

    return inspect_csv(path, features, id_, label)


def _parquet_numeric(t: Any) -> bool:
    import pyarrow as pa

    return any(
        test(t)
        for test in (
            pa.types.is_integer,
            pa.types.is_floating,
            pa.types.is_boolean,
            pa.types.is_decimal,
            pa.types.is_null,
        )
    )


def _inspect_parquet(
    path: Path, features: list[str] | None, id_: str | None, label: Label
) -> Columns:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except (pa.ArrowException, OSError) as err:
        what = f"{path}: not a readable Parquet file ({_first_line(err)})"
        raise _fail("data.path", what) from None
    check_unique(path, schema.names)
    reasons = {f.name: f"type {f.type}" for f in schema if not _parquet_numeric(f.type)}
    feats, excluded = settle(path, schema.names, reasons, features, id_, label)
    n = pf.metadata.num_rows
    if n == 0:
        raise _fail("data.path", f"{path}: no rows", "a table with at least one row")
    return Columns(schema.names, feats, id_, label, n, excluded)


def _npy(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        what = f"{path}: not a readable .npy array ({_first_line(err)})"
        raise _fail("data.path", what, "a 2-D numeric array") from None
    if not isinstance(arr, np.ndarray):
        raise _fail("data.path", f"{path}: not an .npy array", "an array saved with numpy.save")
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
        labels = _npy_labels(block, columns)
        with np.errstate(over="ignore", invalid="ignore"):  # inf is refused per row, one line
            features = block if whole else np.ascontiguousarray(block[:, idx], dtype=np.float32)
        yield ids, features, labels
        _release(mapping, offset + start * row_bytes, len(block) * row_bytes)


def _npy_labels(block: np.ndarray, columns: Columns) -> np.ndarray | None:
    """The label column as stored, or a list label's columns as float64 ``[n, k]``."""
    idx = [columns.all.index(c) for c in columns.label_columns]
    if not idx:
        return None
    if columns.label_names is None:
        return np.array(block[:, idx[0]])
    return np.array(block[:, idx], dtype=np.float64)


def _release(mapping: object, begin: int, length: int) -> None:
    """Drop a consumed range of the memory map from this process's resident memory."""
    import mmap

    if mapping is None or not hasattr(mapping, "madvise"):
        return
    page = mmap.PAGESIZE
    start = (begin // page) * page
    with contextlib.suppress(OSError, ValueError):
        mapping.madvise(mmap.MADV_DONTNEED, start, begin + length - start)


def _numbers(col: Any) -> np.ndarray:
    """A numeric column as numpy; nulls become NaN (booleans 0/1, decimals as floats)."""
    import pyarrow as pa

    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        col = col.cast(pa.float64())
    return col.to_numpy(zero_copy_only=False)


def _labels(col: Any) -> np.ndarray:
    """Labels as numpy: numbers (missing ones NaN) or strings (missing ones '')."""
    import pyarrow as pa

    t = col.type
    if pa.types.is_dictionary(t):
        col, t = col.cast(t.value_type), t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.fill_null("").to_numpy(zero_copy_only=False)
    return _numbers(col) if _parquet_numeric(t) else col.to_numpy(zero_copy_only=False)


def table_rows(table: Any, columns: Columns) -> Rows:
    """(ids or None, float32 features, labels or None) of an arrow table or record batch."""
    feats = np.column_stack([_numbers(table.column(c)) for c in columns.features])
    ids = table.column(columns.id).to_numpy(zero_copy_only=False) if columns.id else None
    if columns.label_names is not None:  # one 0/1 column per class: float64 [n, k]
        cols = [_numbers(table.column(c)) for c in columns.label_names]
        labels = np.column_stack(cols).astype(np.float64)
    else:
        labels = _labels(table.column(columns.label)) if columns.label else None
    with np.errstate(over="ignore", invalid="ignore"):  # inf is refused per row, one line
        features = np.ascontiguousarray(feats, dtype=np.float32)
    return ids, features, labels


def _read_parquet(path: Path, columns: Columns) -> Iterator[Rows]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    wanted = [*columns.features, *(c for c in (columns.id,) if c), *columns.label_columns]
    try:
        # pre_buffer (pyarrow's default) would read ahead the whole file: memory would grow
        pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=BLOCK_BYTES)
        for batch in pf.iter_batches(batch_size=65_536, columns=list(dict.fromkeys(wanted))):
            yield table_rows(batch, columns)
    except (pa.ArrowException, OSError) as err:
        what = f"{path}: cannot read Parquet data ({_first_line(err)})"
        raise _fail("data.path", what, "a complete, readable Parquet file") from None


def _read_csv(path: Path, columns: Columns) -> Iterator[Rows]:
    from fpexp.data.csv_table import read_csv

    for batch in read_csv(path, columns):
        yield table_rows(batch, columns)
