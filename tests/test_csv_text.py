"""Small CSV tables built in Python are byte for byte what pyarrow's writer gives, for every kind
of column they take (random bit patterns, hostile text), and every other kind is left to pyarrow."""

from __future__ import annotations

import hashlib
import io
import random

import numpy as np
import pyarrow.csv as pacsv
import pytest

from fpexp import arrow_columns, csv_text
from fpexp.writers import TableWriter

HOSTILE_TEXT = [
    "",
    " ",
    '"',
    '""',
    'a"b',
    "a,b",
    "line\nbreak",
    "\r",
    "\r\n",
    "tab\there",
    "\x00inside",
    "trailing\x00",
    "é",
    "日本語",
    "🦆",
    "nan",
    "-0",
    "true",
    "=1+1",
    ",,,",
    "'quoted'",
    "\\",
]


def _pyarrow(columns, header: bool = True) -> bytes:
    sink = io.BytesIO()
    options = pacsv.WriteOptions(quoting_style="needed", include_header=header)
    pacsv.write_csv(arrow_columns.table(columns), sink, options)
    return sink.getvalue()


def _random_floats(dtype, bits, rng: np.random.Generator, n: int) -> np.ndarray:
    """Every bit pattern is as likely (NaNs of both signs, subnormals, infinities), then
    round and decimal-looking values at every scale, and the exponent boundaries."""
    raw = rng.integers(0, np.iinfo(bits).max, size=n, dtype=bits, endpoint=True).view(dtype)
    scales = 10.0 ** rng.integers(-40, 40, size=n)
    places = 10.0 ** rng.integers(0, 6, size=n)
    decimal = np.round(rng.standard_normal(n) * places) / places * scales
    edges = [0.0, -0.0, 1e-7, 9.999999e-7, 1e-6, 1e9, 9.99999e9, 1e10, 0.1, 123.0, 5e-324]
    with np.errstate(over="ignore"):
        return np.concatenate([raw, decimal.astype(dtype), np.array(edges, dtype=dtype)])


@pytest.mark.parametrize("dtype,bits", [(np.float32, np.uint32), (np.float64, np.uint64)])
@pytest.mark.parametrize("seed", range(4))
def test_floats_are_written_as_pyarrow_writes_them(dtype, bits, seed):
    rng = np.random.default_rng(seed)
    values = _random_floats(dtype, bits, rng, 1000)
    for start in range(0, len(values), csv_text.SMALL_ROWS):
        column = {"x": values[start : start + csv_text.SMALL_ROWS]}
        assert csv_text.encode(column) == _pyarrow(column)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_print_options_change_nothing(dtype):
    """numpy's ``str`` of a float follows the caller's print options (a notebook's, or a user
    layer's module that sets them on import); the CSV text must not."""
    values = {"x": np.array([0.1, 1 / 3, 0.7343058586120605, 1e-7, 123456.789], dtype=dtype)}
    expected = _pyarrow(values)
    with np.printoptions(legacy="1.13", precision=3, floatmode="fixed"):
        assert csv_text.encode(values) == expected


@pytest.mark.parametrize(
    "dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]
)
def test_ints_of_every_width_including_their_extremes(dtype):
    info = np.iinfo(dtype)
    values = np.array([info.min, info.max, 0, 1, info.max // 3], dtype=dtype)
    assert csv_text.encode({"n": values}) == _pyarrow({"n": values})


@pytest.mark.parametrize("seed", range(6))
def test_mixed_tables_with_hostile_text_and_names(seed):
    """Text as numpy unicode, as object arrays and as lists; names as hostile as the text."""
    rng, pick = np.random.default_rng(seed), random.Random(seed)
    n = pick.randint(1, 40)
    words = ["".join(pick.choices(HOSTILE_TEXT, k=pick.randint(1, 3))) for _ in range(n)]
    names = pick.sample([t for t in HOSTILE_TEXT if t] + ["id", "prediction"], 7)
    columns = {
        names[0]: np.array(words),
        names[1]: np.array(words, dtype=object),
        names[2]: list(reversed(words)),
        names[3]: rng.standard_normal(n).astype(np.float32),
        names[4]: rng.integers(-5, 5, size=n),
        names[5]: rng.random(n) < 0.5,
        names[6]: [pick.random() for _ in range(n)],
    }
    for header in (True, False):
        assert csv_text.encode(columns, header=header) == _pyarrow(columns, header=header)


def test_the_lessons_layers_table_as_lists_of_python_values():
    columns = {
        "index": [0, 1, 2],
        "type": ["Linear", "Linear", "Sigmoid"],
        "output_shape": ["[5, 4]", "[5, 1]", "[5, 1]"],
        "mean": [0.30563193559646606, 0.6478257179260254, 0.6532493233680725],
        "zero_fraction": [0, 0, 0],
    }
    assert csv_text.encode(columns) == _pyarrow(columns)


@pytest.mark.parametrize(
    "column",
    [
        np.array([1, 2], dtype=np.float16),  # half floats: pyarrow's own rules
        np.array([1, 2], dtype=np.longdouble),
        np.array([1, 2], dtype=">f4"),  # not native byte order
        np.zeros((2, 2), dtype=np.float32),  # not one column
        np.array([1, 2], dtype="datetime64[s]"),
        np.array([b"a", b"b"]),
        np.array(["a", 1], dtype=object),
        np.array(["a", np.str_("b")], dtype=object),  # a str subclass
        [1, 2.5],  # mixed: pyarrow infers double
        [True, False],
        ["a", None],  # nulls
        [],
        np.array([], dtype=np.float32),
        ["\ud800"],  # an unpaired surrogate: pyarrow's own error
    ],
    ids=repr,
)
def test_every_other_kind_is_left_to_pyarrow(column):
    assert csv_text.encode({"x": column}) is None


def test_tables_past_the_small_size_or_of_unequal_lengths_are_left_to_pyarrow():
    assert csv_text.encode({"x": np.zeros(csv_text.SMALL_ROWS + 1)}) is None
    assert csv_text.encode({"x": np.zeros(csv_text.SMALL_ROWS)}) is not None
    assert csv_text.encode({"x": np.zeros(3), "y": np.zeros(2)}) is None


def _written(tmp_path, name, rows, batches) -> tuple[bytes, str | None]:
    writer = TableWriter(tmp_path / name, "csv", rows=rows)
    for columns in batches:
        writer.write(columns, np.zeros((1, 1)))
    writer.close()
    data = (tmp_path / name).read_bytes()
    assert writer.sha256 == hashlib.sha256(data).hexdigest()
    return data, writer.sha256


def test_a_csv_writer_gives_the_same_file_on_either_path_and_across_a_switch(tmp_path):
    """Announced as small: Python; unknown size: pyarrow; a batch Python does not take
    after Python began (a str subclass): pyarrow carries on without a second
    header. The bytes and the hash are the same every time."""
    rng = np.random.default_rng(7)

    def batch(ids):
        return {"id": ids, "p": rng.standard_normal(len(ids)).astype(np.float32)}

    batches = [
        batch(np.array(["a", 'b"'], dtype=object)),
        batch(np.array(["c", np.str_("d")], dtype=object)),
    ]
    small = _written(tmp_path, "small.csv", 4, batches)
    unknown = _written(tmp_path, "unknown.csv", None, batches)
    large = _written(tmp_path, "large.csv", csv_text.SMALL_ROWS + 1, batches)
    assert small == unknown == large
    assert small[0].count(b'"id"') == 1
