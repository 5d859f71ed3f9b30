"""Arrow tables from numpy columns and Python lists, without pyarrow's pandas shim.

Every ``pyarrow.array(...)`` (and ``pa.table`` of anything but Arrow arrays) first asks whether
its input is a pandas object, and that question imports pandas where it is installed: ~0.3 s
and a library fpexp never uses. Here numbers are wrapped as Arrow buffers
(``Array.from_buffers``: no copy for a contiguous column) and text is encoded once per batch;
the arrays equal what ``pa.array`` gives (same types, NaN kept as a value, no nulls), so the
files written from them are byte-identical. Anything else (objects, dates, bytes, text with
unpaired surrogates, ints beyond int64) goes to ``pa.array`` as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_NUMBER_KINDS = "biuf"
_MAX_OFFSET = 2**31 - 1  # past this, pa.array gives large or chunked text: left to it


def table(columns: Mapping[str, np.ndarray | Sequence[Any]]) -> Any:
    """``pa.table(columns)`` for numpy columns or lists of Python values."""
    import pyarrow as pa

    arrays = [array(values) for values in columns.values()]
    return pa.Table.from_arrays(arrays, names=list(columns))


def array(values: np.ndarray | Sequence[Any]) -> Any:
    """``pa.array(values)``, built without the pandas shim wherever the type allows."""
    import pyarrow as pa

    data = values if isinstance(values, np.ndarray) else from_list(values)
    if data is not None and data.ndim == 1:
        for build in (_number, _text):
            built = build(data)
            if built is not None:  # not ``or``: an empty Array is falsy
                return built
    return pa.array(values)


def from_list(values: Sequence[Any]) -> np.ndarray | None:
    """A list of only ints, only floats or only strs as numpy (what pa.array infers)."""
    kinds = {type(v) for v in values}
    if kinds == {int}:
        try:
            return np.array(values, dtype=np.int64)
        except OverflowError:
            return None
    if kinds == {float}:
        return np.array(values, dtype=np.float64)
    return np.array(values, dtype=object) if kinds == {str} else None


def _number(data: np.ndarray) -> Any:
    import pyarrow as pa

    if data.dtype.kind not in _NUMBER_KINDS or not data.dtype.isnative:
        return None
    if data.dtype.kind == "b":
        bits = np.packbits(data, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(data), [None, pa.py_buffer(bits)])
    kind = pa.from_numpy_dtype(data.dtype)
    buffer = pa.py_buffer(np.ascontiguousarray(data))
    return pa.Array.from_buffers(kind, len(data), [None, buffer])


def _text(data: np.ndarray) -> Any:
    """Text of str objects (or numpy unicode) as a UTF-8 string array; None otherwise."""
    import pyarrow as pa

    if data.dtype.kind not in "OU" or not len(data):  # empty objects: pa.array says null
        return None
    if data.dtype.kind == "U" and (ascii_layout := _ascii(data)) is not None:
        starts, chars = ascii_layout
        buffers = [None, pa.py_buffer(starts), pa.py_buffer(chars)]
        return pa.Array.from_buffers(pa.string(), len(data), buffers)
    items = data.tolist()
    try:
        joined = "\x00".join(items)  # TypeError unless every item is a str
        encoded = joined.encode("utf-8")  # unpaired surrogates: pa.array's own error
    except (TypeError, UnicodeEncodeError):
        return None
    if len(encoded) > _MAX_OFFSET:
        return None
    offsets, text = _layout(encoded, items)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(text)]
    return pa.Array.from_buffers(pa.string(), len(items), buffers)


def _ascii(data: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The offsets and bytes of a numpy unicode array whose text is ASCII (class names), from
    its code points, without a Python string per item (~20x faster for short names); None
    otherwise. An item is what numpy's own ``str`` of it is: its code points up to the last one
    that is not NUL (numpy pads with NULs and drops trailing ones; a NUL inside stays, where
    ``pa.array`` would end the item: two class names cut to one)."""
    width = data.dtype.itemsize // 4
    if width == 0 or len(data) * width > _MAX_OFFSET:
        return None
    codes = np.ascontiguousarray(data).view(np.uint32).reshape(len(data), width)
    if codes.max(initial=0) >= 0x80:
        return None
    used = codes != 0
    lengths = np.where(used.any(axis=1), width - np.argmax(used[:, ::-1], axis=1), 0)
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    text = codes[np.arange(width) < lengths[:, None]].astype(np.uint8)
    return offsets, text


def _layout(encoded: bytes, items: list[str]) -> tuple[np.ndarray, bytes]:
    """The offsets (where each item starts, then the end) and the bytes of the items, from
    ``encoded`` (the items NUL-separated): by the separators' positions (UTF-8 holds no other
    zero byte), or item by item where an item holds a NUL itself."""
    n = len(items)
    offsets = np.zeros(n + 1, dtype=np.int32)
    separators = np.flatnonzero(np.frombuffer(encoded, dtype=np.uint8) == 0)
    if len(separators) == n - 1:
        offsets[1:n] = separators - np.arange(n - 1)
        offsets[n] = len(encoded) - (n - 1)
        return offsets, "".join(items).encode("utf-8")  # faster than dropping the NULs
    parts = [s.encode("utf-8") for s in items]
    np.cumsum(np.fromiter(map(len, parts), dtype=np.int64, count=n), out=offsets[1:])
    return offsets, b"".join(parts)
