"""Reading the tables a run wrote (outputs, predictions) back as named columns.

A run's files are untrusted input (copied, cut short, corrupted): anything that cannot be read
back as such a table is a ``TableError`` with one line saying why, never a traceback. Each
output format's reader is named in its entry of ``fpexp.output_formats``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fpexp.output_formats import OUTPUT_FORMATS, by_suffix


class TableError(ValueError):
    """A run's table that cannot be read back (truncated, garbage, wrong shape)."""


def read_table(path: Path, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Columns in file order; ids as strings. An .npy table gets ``id`` = row index and
    ``names`` (as recorded in run.json) for its columns."""
    path = Path(path)
    fmt = by_suffix(path) or OUTPUT_FORMATS["csv"]
    try:
        table: dict[str, np.ndarray] = globals()[fmt.reader](path, names)
    except Exception as err:  # any failure to parse an untrusted file is one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TableError(f"{path.name}: unreadable ({first})") from None
    if "id" not in table:
        raise TableError(f"{path.name}: unreadable (no id column)")
    lengths = {len(v) for v in table.values()}
    if len(lengths) > 1:
        raise TableError(f"{path.name}: unreadable (columns of different lengths)")
    return table


def read_npy(path: Path, names: list[str] | None) -> dict[str, np.ndarray]:
    """An .npy table: ``id`` = row index, then its columns named as recorded."""
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    if arr.ndim not in (1, 2) or arr.dtype.kind not in "biuf":
        raise ValueError(f"a {arr.ndim}-D {arr.dtype} array, not a 2-D numeric table")
    arr2 = arr.reshape(len(arr), -1)
    cols = [n for n in (names or []) if n != "id"] or [str(j) for j in range(arr2.shape[1])]
    if len(cols) != arr2.shape[1]:
        raise ValueError(f"{arr2.shape[1]} columns, {len(cols)} recorded")
    return {"id": np.arange(len(arr)).astype(str), **{c: arr2[:, j] for j, c in enumerate(cols)}}


def read_parquet(path: Path, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """A Parquet table's columns, ids as strings."""
    import pyarrow.parquet as pq

    return _columns(pq.read_table(path))


def read_csv(path: Path, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """A CSV table's columns; ``id`` and ``label`` read as text, ids as strings."""
    import pyarrow.csv as pacsv

    convert = pacsv.ConvertOptions(column_types={"id": "string", "label": "string"})
    return _columns(pacsv.read_csv(path, convert_options=convert))


def _columns(table: Any) -> dict[str, np.ndarray]:
    out = {n: table.column(n).to_numpy(zero_copy_only=False) for n in table.column_names}
    if "id" in out:
        out["id"] = out["id"].astype(str)
    return out
