"""Arrow tables and record batches (CSV and Parquet reads) as numpy rows for a run.

Numeric means integer, float, decimal, boolean (as 0/1) or all-null; numbers become float32
features; labels keep their kind (numbers, missing ones NaN; text, missing ones ''), and a
list label's columns become one float64 ``[n, k]`` array.

Columns become numpy through their Arrow buffers (``as_numpy``), not ``to_numpy``: pyarrow's
``to_numpy`` asks whether pandas is there, which imports it where it is installed (~0.3-1 s a
run, and a library fpexp does not use). The arrays equal what ``to_numpy`` gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fpexp.data.columns import Columns

Rows = tuple[np.ndarray | None, np.ndarray, np.ndarray | None]


def is_numeric(t: Any) -> bool:
    """Whether an arrow type holds numbers a run can read (booleans as 0/1, nulls as NaN)."""
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


def numbers(col: Any) -> np.ndarray:
    """A numeric column as numpy; nulls become NaN (booleans 0/1, decimals as floats)."""
    import pyarrow as pa

    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        col = col.cast(pa.float64())
    return as_numpy(col)


def as_numpy(col: Any) -> np.ndarray:
    """``col.to_numpy(zero_copy_only=False)`` (an Array or a ChunkedArray) without pyarrow's
    pandas shim for numbers and text; other types go to ``to_numpy``."""
    import pyarrow as pa

    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    parts = [_primitive(c) if _dtype(c.type) is not None else _text(c) for c in chunks]
    arrays = [p for p in parts if p is not None]
    if not chunks or len(arrays) < len(parts):
        out: np.ndarray = col.to_numpy(zero_copy_only=False)
        return out
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _dtype(t: Any) -> np.dtype | None:
    """The numpy dtype of an Arrow integer or float type; None for any other."""
    import pyarrow as pa

    if pa.types.is_floating(t):
        return np.dtype(f"f{t.bit_width // 8}")
    if pa.types.is_integer(t):
        return np.dtype(f"{'i' if pa.types.is_signed_integer(t) else 'u'}{t.bit_width // 8}")
    return None


def _primitive(arr: Any) -> np.ndarray:
    """Numbers from the values buffer (no copy); with nulls, a copy with NaN there (integers
    then become float64, as ``to_numpy`` does)."""
    dtype = _dtype(arr.type)
    assert dtype is not None
    n = len(arr)
    if n == 0:
        return np.empty(0, dtype=dtype)
    validity, data = arr.buffers()[:2]
    values = np.frombuffer(data, dtype=dtype, count=n, offset=arr.offset * dtype.itemsize)
    if not arr.null_count:
        return values
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
    out = values.astype(np.float64 if dtype.kind in "iu" else dtype)
    out[~bits[arr.offset : arr.offset + n].astype(bool)] = np.nan
    return out


def _text(arr: Any) -> np.ndarray | None:
    """Text as an object array of str (None where null); None for a type that is not text."""
    import pyarrow as pa

    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    out = np.empty(len(arr), dtype=object)
    out[:] = arr.to_pylist()
    return out


def _labels(col: Any) -> np.ndarray:
    """Labels as numpy: numbers (missing ones NaN) or strings (missing ones '')."""
    import pyarrow as pa

    t = col.type
    if pa.types.is_dictionary(t):
        col, t = col.cast(t.value_type), t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        text = as_numpy(col)  # not fill_null: its pa.scalar("") imports pandas too
        if col.null_count:
            text[np.fromiter((v is None for v in text), dtype=bool, count=len(text))] = ""
        return text
    return numbers(col) if is_numeric(t) else as_numpy(col)


def table_rows(table: Any, columns: Columns) -> Rows:
    """(ids or None, float32 features, labels or None) of an arrow table or record batch."""
    feats = np.column_stack([numbers(table.column(c)) for c in columns.features])
    ids = as_numpy(table.column(columns.id)) if columns.id else None
    labels: np.ndarray | None
    if columns.label_names is not None:  # one 0/1 column per class: float64 [n, k]
        cols = [numbers(table.column(c)) for c in columns.label_names]
        labels = np.column_stack(cols).astype(np.float64)
    else:
        labels = _labels(table.column(columns.label)) if columns.label else None
    with np.errstate(over="ignore", invalid="ignore"):  # inf is refused per row, one line
        features = np.ascontiguousarray(feats, dtype=np.float32)
    return ids, features, labels
