"""Arrow columns as numpy (``fpexp.data.arrow_rows.as_numpy``) equal what pyarrow's
``to_numpy(zero_copy_only=False)`` gives, without its pandas shim: every numeric width, nulls,
sliced arrays (a buffer offset), chunked columns, empty ones, text, and other types."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pytest

from fpexp.data.arrow_rows import as_numpy

INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
FLOATS = ("float16", "float32", "float64")


def _cases() -> dict[str, Callable[[], object]]:
    """Each case's column, made when its test runs: pyarrow imports pandas (~0.5 s) the first
    time it converts a Python list, and pytest -n 2 collects every module on both workers."""
    cases: dict[str, Callable[[], object]] = {}
    for name in INTS:
        t = getattr(pa, name)()
        cases[name] = lambda t=t: pa.array([0, 1, 2, 127], type=t)
        cases[f"{name}_nulls"] = lambda t=t: pa.array([1, None, 3, None, 5, 6, 7, 8, 9], type=t)
    for name in FLOATS:
        t = getattr(pa, name)()
        values = [1.5, float("nan"), float("inf"), -0.0]
        if name == "float16":
            cases[name] = lambda v=values: pa.array(np.array(v, dtype=np.float16))
            continue
        cases[name] = lambda t=t, v=values: pa.array(v, type=t)
        cases[f"{name}_nulls"] = lambda t=t: pa.array([1.5, None, 2.5], type=t)
    cases["sliced"] = lambda: pa.array([*range(20), None, *range(30)], type=pa.int32()).slice(
        3, 40
    )  # offset 3, a null inside
    cases["sliced_no_nulls"] = lambda: pa.array(np.arange(100.0)).slice(17, 9)
    cases["empty"] = lambda: pa.array([], type=pa.float64())
    cases["chunked"] = lambda: pa.chunked_array([pa.array([1.0, 2.0]), pa.array([3.0, None])])
    cases["chunked_empty"] = lambda: pa.chunked_array([], type=pa.int64())
    cases["text"] = lambda: pa.array(["dog", "", "émû", None, "x,y"])
    cases["large_text"] = lambda: pa.array(["a", None, "bc"], type=pa.large_string())
    cases["text_sliced"] = lambda: pa.array(["a", "b", "c", "d"]).slice(1, 2)
    cases["chunked_text"] = lambda: pa.chunked_array([pa.array(["a"]), pa.array(["b", None])])
    cases["timestamps"] = lambda: pa.array([datetime.datetime(2020, 1, 1), None])  # to_numpy's
    cases["booleans"] = lambda: pa.array([True, False, None])  # to_numpy's own
    return cases


CASES = _cases()


@pytest.mark.parametrize("name", CASES)
def test_as_numpy_equals_to_numpy(name: str) -> None:
    col = CASES[name]()
    expected = col.to_numpy(zero_copy_only=False)  # type: ignore[attr-defined]
    got = as_numpy(col)
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    if got.dtype.kind == "O":
        assert got.tolist() == expected.tolist()
    else:
        assert got.tobytes() == expected.tobytes()  # the same bits: -0.0, NaN, inf
