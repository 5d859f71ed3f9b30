"""NPY input: a 2-D numeric array read through a read-only memory map, in blocks.

Its columns are named ``x0``, ``x1``, ...; ``data.id`` and ``data.label`` name them too.
Consumed blocks are dropped from resident memory, so a file is never in memory whole.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fpexp.data.columns import Columns, settle
from fpexp.data.formats import INPUT_FORMATS, first_line
from fpexp.errors import Problem, UsageError

BLOCK_BYTES = 8 << 20
Rows = tuple[np.ndarray | None, np.ndarray, np.ndarray | None]


def _fail(what: str, allowed: str = "") -> UsageError:
    return UsageError([Problem("data.path", what, allowed)])


def check(path: Path, kind: str) -> None:
    """Refuse a file that is not an .npy array (a CSV given as one is named)."""
    if kind != INPUT_FORMATS["npy"].kind:
        tip = " (a CSV? data.format=csv)" if kind == "text" else ""
        what = f"{path}: not an .npy file, it is {kind}{tip}"
        raise _fail(what, "an array saved with numpy.save")


def inspect(
    path: Path, features: list[str] | None, id_: str | None, label: str | list[str] | None
) -> Columns:
    """Columns ``x0, x1, ...``: features, id and label settled by name."""
    arr = _npy(path)
    names = [f"x{i}" for i in range(arr.shape[1])]
    feats, _ = settle(path, names, {}, features, id_, label)
    return Columns(names, feats, id_, label, int(arr.shape[0]))


def _npy(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        what = f"{path}: not a readable .npy array ({first_line(err)})"
        raise _fail(what, "a 2-D numeric array") from None
    if not isinstance(arr, np.ndarray):
        raise _fail(f"{path}: not an .npy array", "an array saved with numpy.save")
    if arr.ndim != 2:
        raise _fail(
            f"{path}: array has {arr.ndim} dimension(s), shape {list(arr.shape)}",
            "a 2-D array: rows x features",
        )
    if arr.dtype.kind not in "biuf":
        raise _fail(f"{path}: array dtype {arr.dtype} is not numeric", "a numeric array")
    if arr.shape[0] == 0:
        raise _fail(f"{path}: no rows", "a table with at least one row")
    return arr


def read(path: Path, columns: Columns) -> Iterator[Rows]:
    """Blocks of about ``BLOCK_BYTES``: (ids or None, float32 features, labels or None)."""
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
        labels = _labels(block, columns)
        with np.errstate(over="ignore", invalid="ignore"):  # inf is refused per row, one line
            features = block if whole else np.ascontiguousarray(block[:, idx], dtype=np.float32)
        yield ids, features, labels
        _release(mapping, offset + start * row_bytes, len(block) * row_bytes)


def _labels(block: np.ndarray, columns: Columns) -> np.ndarray | None:
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
