"""Arrow tables and record batches (CSV and Parquet reads) as numpy rows for a run.

Numeric means integer, float, decimal, boolean (as 0/1) or all-null; numbers become float32
features; labels keep their kind (numbers, missing ones NaN; text, missing ones ''), and a
list label's columns become one float64 ``[n, k]`` array.
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
    return col.to_numpy(zero_copy_only=False)


def _labels(col: Any) -> np.ndarray:
    """Labels as numpy: numbers (missing ones NaN) or strings (missing ones '')."""
    import pyarrow as pa

    t = col.type
    if pa.types.is_dictionary(t):
        col, t = col.cast(t.value_type), t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.fill_null("").to_numpy(zero_copy_only=False)
    return numbers(col) if is_numeric(t) else col.to_numpy(zero_copy_only=False)


def table_rows(table: Any, columns: Columns) -> Rows:
    """(ids or None, float32 features, labels or None) of an arrow table or record batch."""
    feats = np.column_stack([numbers(table.column(c)) for c in columns.features])
    ids = table.column(columns.id).to_numpy(zero_copy_only=False) if columns.id else None
    labels: np.ndarray | None
    if columns.label_names is not None:  # one 0/1 column per class: float64 [n, k]
        cols = [numbers(table.column(c)) for c in columns.label_names]
        labels = np.column_stack(cols).astype(np.float64)
    else:
        labels = _labels(table.column(columns.label)) if columns.label else None
    with np.errstate(over="ignore", invalid="ignore"):  # inf is refused per row, one line
        features = np.ascontiguousarray(feats, dtype=np.float32)
    return ids, features, labels
