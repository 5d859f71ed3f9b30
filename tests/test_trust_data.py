"""Input data files: inference never decides the feature set, and every hostile file is one line.

In-process (``run_experiment``): each bad file raises a ``UsageError`` with exactly one line,
the record says ``failed`` and no outputs or predictions are left; the real CLI's exit code
and the absence of a traceback are checked on a few of them in a subprocess.
"""

from __future__ import annotations

import gzip
import logging
import lzma
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from conftest import run_into
from support import record
from torch import nn

from fpexp.app import run_experiment
from fpexp.errors import UsageError
from fpexp.tables import read_table

BIG = 200_000  # rows: the CSV is well past pyarrow's first 1 MiB block


def _csv(text: str) -> Callable[[Path], None]:
    return lambda p: p.write_text(text)


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


def _npz(p: Path) -> None:
    with open(p, "wb") as fh:
        np.savez(fh, x=np.zeros((2, 2)))


def _zip(p: Path) -> None:
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("x.csv", "a,b\n1,2\n")


def _parquet(table: Callable[[], pa.Table]) -> Callable[[Path], None]:
    """Writes ``table()``, made when the test runs: pyarrow imports pandas (~0.5 s) the first
    time it converts a Python list, and pytest -n 2 collects every module on both workers."""
    return lambda p: pq.write_table(table(), p)


def _truncated_npy(p: Path) -> None:
    np.save(p, np.zeros((100, 3), dtype=np.float32))
    p.write_bytes(p.read_bytes()[:400])


def _corrupt_parquet(p: Path) -> None:
    pq.write_table(pa.table({"a": np.arange(1000.0)}), p, compression="snappy")
    data = bytearray(p.read_bytes())
    data[4:200] = b"\xff" * 196  # the column chunk; header magic and footer intact
    p.write_bytes(bytes(data))


def _late(body: Callable[[int], str], header: str) -> Callable[[Path], None]:
    """A CSV with ``BIG`` good rows, then one more from ``body``."""

    def make(p: Path) -> None:
        rows = "".join(f"{i},{i},x{i}\n" for i in range(BIG))
        p.write_text(f"{header}\n{rows}{body(BIG)}\n")

    return make


def _late_latin1_id(p: Path) -> None:
    rows = "".join(f"{i},{i},n{i}\n" for i in range(2000))
    p.write_bytes(f"a,b,name\n{rows}".encode() + b"1,2,caf\xe9\n")


def _late_label(p: Path) -> None:
    rows = "".join(f"{i},{i},{i / 2}\n" for i in range(BIG))
    p.write_text(f"a,b,y\n{rows}5,6,cat\n")


def _npy_bytes(p: Path) -> None:
    with open(p, "wb") as fh:
        np.save(fh, np.zeros((2, 2)))


def _huge_field_then_ragged(p: Path) -> None:
    p.write_text("a,b\n1,2\n3," + "9" * 200_000 + "\n4\n")


# (file name, how to make it, extra overrides, the exact error line after 'fpexp: error: ')
HOSTILE = [
    ("gz.csv", lambda p: p.write_bytes(gzip.compress(b"a,b\n1,2\n")), [],
     "data.path: {p}: gzip-compressed data, not CSV text "
     "(a plain-text CSV file; decompress or convert it first)"),
    ("xz.csv", lambda p: p.write_bytes(lzma.compress(b"a,b\n1,2\n")), [],
     "data.path: {p}: xz-compressed data, not CSV text "
     "(a plain-text CSV file; decompress or convert it first)"),
    ("zip.csv", _zip, [],
     "data.path: {p}: a zip archive, like an .npz, not CSV text "
     "(a plain-text CSV file; decompress or convert it first)"),
    ("nul.csv", _bytes(b"a,b\n1,\x00\x01\x02\n"), [],
     "data.path: {p}: binary data, not CSV text "
     "(a plain-text CSV file; decompress or convert it first)"),
    ("arr.csv", _npy_bytes, [],
     "data.path: {p}: an .npy array, not CSV text (data.format=npy)"),
    ("utf16.csv", _bytes("a,b\n1,2\n".encode("utf-16")), [],
     "data.path: {p}: not UTF-8 text (UTF-8 text; re-encode it, e.g. with iconv)"),
    ("latin1.csv", _bytes("a,é\n1,2\n".encode("latin-1")), [],
     "data.path: {p}: not UTF-8 text (UTF-8 text; re-encode it, e.g. with iconv)"),
    ("late_latin1.csv", _late_latin1_id, ["data.id=name"],
     "data.path: {p}: column 'name', row 2001: not UTF-8 text (a UTF-8 encoded CSV)"),
    ("renamed.npy", _npz, [],
     "data.path: {p}: not an .npy file, it is a zip archive, like an .npz "
     "(an array saved with numpy.save)"),
    ("text.npy", _csv("a,b\n1,2\n"), [],
     "data.path: {p}: not an .npy file, it is text (a CSV? data.format=csv) "
     "(an array saved with numpy.save)"),
    ("table.csv", _csv("a,b\n1,2\n"), ["data.format=npy"],
     "data.path: {p}: not an .npy file, it is text (a CSV? data.format=csv) "
     "(an array saved with numpy.save)"),
    ("cut.npy", _truncated_npy, [],
     "data.path: {p}: not a readable .npy array (mmap length is greater than file size) "
     "(a 2-D numeric array)"),
    ("text.parquet", _csv("a,b\n1,2\n"), [],
     "data.path: {p}: not a Parquet file, it is text (a file written by a Parquet writer)"),
    ("magic.parquet", _bytes(b"PAR1" + b"\x00" * 64 + b"PAR1"), [],
     "data.path: {p}: not a readable Parquet file (Couldn't deserialize thrift: "
     "No more data to read.)"),
    ("huge_field.csv", _huge_field_then_ragged, [],
     "data.path: {p}: row 3 has 1 fields, the header has 2 "
     "(the same number of fields on every row)"),
    ("dup.csv", _csv("a,a,b\n1,2,3\n"), [],
     "data.path: {p}: column 'a' appears 2 times in the header (distinct column names)"),
    ("dup.parquet",
     _parquet(lambda: pa.Table.from_arrays([pa.array([1.0])] * 3, names=["a", "b", "a"])), [],
     "data.path: {p}: column 'a' appears 2 times in the header (distinct column names)"),
    ("mixed.csv", _csv("a,b,c\n1,2,3\n4,oops,6\n"), [],
     "data.path: {p}: column 'b', row 2: 'oops' is not a number, but row 1 holds the number 2 "
     "(a feature column holds only numbers; data.features picks the columns)"),
    ("mixed_text.csv", _csv("a,name\n1,dog\n2,42\n"), [],
     "data.path: {p}: column 'name', row 1: 'dog' is not a number, but row 2 holds the number 42 "
     "(a feature column holds only numbers; data.features picks the columns)"),
    ("late_bad.csv", _late(lambda n: "5,oops,x", "a,b,t"), [],
     f"data.path: {{p}}: column 'b', row {BIG + 1}: 'oops' is not a number "
     "(numeric feature columns)"),
    ("late_number.csv", _late(lambda n: "5,6,3.5", "a,b,t"), [],
     f"data.path: {{p}}: column 't', row {BIG + 1}: 3.5 is a number in a column excluded as text "
     "(a column holds only numbers or no numbers; set data.features)"),
    ("empty_col.csv", _csv("a,b\n1,\n2,\n"), [],
     "data.path: {p}: column 'b', row 1: no number (empty or NaN) "
     "(finite numbers; data.nan=drop skips such rows)"),
    ("empty_col_drop.csv", _csv("a,b\n1,\n2,nan\n"), ["data.nan=drop"],
     "data.path: {p}: column 'b' has no number in any of the 2 rows "
     "(a feature column with numbers; data.features picks the columns)"),
    ("null_col.parquet", _parquet(lambda: pa.table({"a": [1.0, 2.0], "n": pa.nulls(2)})),
     ["data.nan=drop"],
     "data.path: {p}: column 'n' has no number in any of the 2 rows "
     "(a feature column with numbers; data.features picks the columns)"),
    ("all_dropped.csv", _csv("a,b\n1,\n,2\ninf,3\n"), ["data.nan=drop"],
     "data.nan: dropped all 3 rows of {p} (a NaN, inf or missing label in each) "
     "(at least one complete row)"),
    ("label_gap.csv", _csv("a,b,y\n1,2,0.5\n3,4,\n"), ["data.label=y", "task=regression"],
     "data.label: {p}: column 'y', row 2: no label (empty or NaN) "
     "(a label in every row; data.nan=drop skips such rows)"),
    ("label_inf.csv", _csv("a,b,y\n1,2,0.5\n3,4,inf\n"), ["data.label=y", "task=regression"],
     "data.label: {p}: column 'y', row 2: inf is not a finite label "
     "(a label in every row; data.nan=drop skips such rows)"),
    ("label_null.parquet", _parquet(lambda: pa.table({"a": [1.0, 2.0], "k": ["mammal", None]})),
     ["data.label=k", "task=multiclass"],
     "data.label: {p}: column 'k', row 2: no label (empty or NaN) "
     "(a label in every row; data.nan=drop skips such rows)"),
    ("label_nan.npy", lambda p: np.save(p, np.array([[1, 0], [2, np.nan]], np.float32)),
     ["data.features=[x0]", "data.label=x1", "task=regression"],
     "data.label: {p}: column 'x1', row 2: no label (empty or NaN) "
     "(a label in every row; data.nan=drop skips such rows)"),
    ("label_drop_all.csv", _csv("a,y\n1,\n2,\n"), ["data.label=y", "data.nan=drop"],
     "data.nan: dropped all 2 rows of {p} (a NaN, inf or missing label in each) "
     "(at least one complete row)"),
    ("label_late_text.csv", _late_label, ["data.label=y", "task=regression"],
     f"data.path: {{p}}: column 'y', row {BIG + 1}: 'cat' is not a number "
     "(labels of one kind in every row, as in the file's first rows)"),
    ("feats_twice.csv", _csv("a,b\n1,2\n"), ["data.features=[a,a,b]"],
     "data.features: 'a' is listed 2 times (each column once)"),
    ("feat_is_label.csv", _csv("a,b,y\n1,2,0\n"), ["data.features=[a,y]", "data.label=y"],
     "data.features: 'y' is data.label, it cannot also be a feature "
     "(columns other than data.label)"),
    ("feat_is_id.csv", _csv("a,b,n\n1,2,x\n"), ["data.features=[a,n]", "data.id=n"],
     "data.features: 'n' is data.id, it cannot also be a feature (columns other than data.id)"),
    ("id_is_label.csv", _csv("a,b,y\n1,2,0\n"), ["data.id=y", "data.label=y"],
     "data.label: 'y' is also data.id (another column)"),
]  # fmt: skip


HOSTILE_IDS = [h[0] for h in HOSTILE]


def _fifo(p: Path) -> None:
    os.mkfifo(p)


def _loop(p: Path) -> None:
    p.symlink_to(p.name)


NOT_FILES = [
    ("dir.csv", lambda p: p.mkdir(), "is a directory, not a file"),
    ("pipe.csv", _fifo, "is a FIFO (named pipe), not a file"),
    ("loop.csv", _loop, "a symlink loop"),
]


def _fails(compose_cfg, tmp_path: Path, path: Path, *overrides: str) -> str:
    """Run in-process; return the one error line, after checking nothing was left behind."""
    cfg = compose_cfg("data=file", f"data.path={path}", *overrides)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(UsageError) as info:
        run_experiment(cfg, run_dir, {"cwd": str(tmp_path)})
    lines = info.value.lines()
    assert len(lines) == 1, lines
    assert record(run_dir)["status"] == "failed"
    assert {p.name for p in run_dir.iterdir()} == {"run.json"}  # no outputs, no temp files
    return lines[0].removeprefix("fpexp: error: ")


@pytest.mark.parametrize(
    ("name", "make", "overrides", "line"), HOSTILE, ids=[h[0] for h in HOSTILE]
)
def test_hostile_file_is_one_line_and_leaves_no_outputs(
    compose_cfg, tmp_path, name, make, overrides, line
):
    path = tmp_path / name
    make(path)
    assert _fails(compose_cfg, tmp_path, path, *overrides) == line.format(p=path)


@pytest.mark.parametrize(("name", "make", "what"), NOT_FILES, ids=[n[0] for n in NOT_FILES])
def test_a_path_that_is_not_a_file_says_what_it_is(compose_cfg, tmp_path, name, make, what):
    path = tmp_path / name
    make(path)
    allowed = "(an existing .csv, .parquet or .npy file)"
    assert _fails(compose_cfg, tmp_path, path) == f"data.path: {path}: {what} {allowed}"


def test_an_unreadable_file_says_so(compose_cfg, tmp_path, monkeypatch):
    path = tmp_path / "secret.csv"
    path.write_text("a,b\n1,2\n")
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != path and real(p, mode))
    line = _fails(compose_cfg, tmp_path, path)
    assert line == f"data.path: {path}: permission denied (not readable) " + (
        "(an existing .csv, .parquet or .npy file)"
    )


def test_corrupt_parquet_data_is_one_line(compose_cfg, tmp_path):
    path = tmp_path / "corrupt.parquet"
    _corrupt_parquet(path)
    line = _fails(compose_cfg, tmp_path, path, "task=regression")
    assert line.startswith(f"data.path: {path}: cannot read Parquet data (")
    assert line.endswith("(a complete, readable Parquet file)")


@pytest.mark.slow
def test_the_cli_exits_2_without_a_traceback(tmp_path):
    """The real CLI on three of the hostile files: exit 2, exactly the one line on stderr."""
    chosen = {"gz.csv", "renamed.npy", "huge_field.csv"}
    for name, make, overrides, line in (h for h in HOSTILE if h[0] in chosen):
        path = tmp_path / name
        make(path)
        done, run_dir = run_into(
            tmp_path, "data=file", f"data.path={name}", *overrides, name=f"run-{name}"
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr == f"fpexp: error: {line.format(p=path)}\n"
        assert record(run_dir)["status"] == "failed"
        assert not list(run_dir.glob("outputs.*")) and not list(run_dir.glob("predictions.*"))


def _run(compose_cfg, tmp_path: Path, path: Path, *overrides: str, caplog=None) -> dict:
    cfg = compose_cfg("data=file", f"data.path={path}", *overrides)
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    run_experiment(cfg, run_dir, {"cwd": str(tmp_path)})
    return record(run_dir)


def _console(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "fpexp" and r.getMessage().startswith(("features", "excluded", "note"))
    ]


def test_text_columns_are_excluded_by_name_and_the_rest_are_features(compose_cfg, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fpexp")
    path = tmp_path / "mixed.csv"
    path.write_text("when,a,name,b,flag\n2020-01-01,1,dog,2,true\n2020-01-02,3,cat,4,false\n")
    rec = _run(compose_cfg, tmp_path, path, "task=regression")
    assert rec["status"] == "completed"
    assert rec["input"]["feature_names"] == ["a", "b"]
    assert rec["input"]["excluded_columns"] == {
        "when": "type date32[day], no value is a number",
        "name": "text, no value is a number",
        "flag": "type bool, no value is a number",
    }
    assert _console(caplog) == [
        "features (2): a, b",
        "excluded (3, not features): when (type date32[day], no value is a number), "
        "name (text, no value is a number), flag (type bool, no value is a number)",
    ]


def test_a_numeric_column_with_gaps_stays_a_feature(compose_cfg, tmp_path):
    """Empty cells do not make a column text: it stays a feature, and the gap is the error."""
    path = tmp_path / "gaps.csv"
    path.write_text("a,b\n1,NA\n2, 3 \n")
    line = _fails(compose_cfg, tmp_path, path)
    assert line.startswith(f"data.path: {path}: column 'b', row 1: no number (empty or NaN)")
    rec = _run(compose_cfg, tmp_path, path, "data.nan=drop", "task=regression")
    assert rec["input"]["feature_names"] == ["a", "b"] and rec["input"]["rows_dropped"] == 1


def test_parquet_types_decide_and_excluded_columns_are_named(compose_cfg, tmp_path):
    import decimal

    table = pa.table(
        {
            "f": pa.array([0.5, 1.5], pa.float32()),
            "i": pa.array([1, 2], pa.int16()),
            "flag": [True, False],
            "d": pa.array([decimal.Decimal("1.5"), decimal.Decimal("2.5")], pa.decimal128(5, 1)),
            "s": ["x", "y"],
            "when": pa.array([1, 2], pa.date32()),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    rec = _run(compose_cfg, tmp_path, tmp_path / "t.parquet", "task=regression", "model.hidden=[]")
    assert rec["input"]["feature_names"] == ["f", "i", "flag", "d"]
    assert rec["input"]["excluded_columns"] == {"s": "type string", "when": "type date32[day]"}
    out = read_table(tmp_path / "run" / "outputs.csv")
    torch.manual_seed(42)
    x = torch.tensor([[0.5, 1, 1, 1.5], [1.5, 2, 0, 2.5]])
    expected = nn.Linear(4, 1)(x).detach().numpy()[:, 0]
    np.testing.assert_allclose(np.asarray(out["output"], np.float32), expected, rtol=1e-6)


def test_a_named_string_feature_in_parquet_is_refused(compose_cfg, tmp_path):
    pq.write_table(pa.table({"a": [1.0], "s": ["x"]}), tmp_path / "t.parquet")
    line = _fails(compose_cfg, tmp_path, tmp_path / "t.parquet", "data.features=[a,s]")
    path = tmp_path / "t.parquet"
    assert line == (
        f"data.features: {path}: column 's', row 1: type string is not numeric (numeric columns)"
    )


def test_id_and_label_like_feature_names_are_noted(compose_cfg, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fpexp")
    path = tmp_path / "named.csv"
    names = ["Unnamed: 0", "patient_id", "x", "Label", "Class", "ID"]
    path.write_text(",".join(names) + "\n" + "0,7,0.5,1,0,3\n1,8,0.25,0,1,4\n")
    rec = _run(compose_cfg, tmp_path, path, "task=regression")
    notes = [
        "column 'Unnamed: 0' is used as a feature; set data.id=Unnamed: 0 if it holds row ids",
        "column 'patient_id' is used as a feature; set data.id=patient_id if it holds row ids",
        "column 'Label' is used as a feature; set data.label=Label if it holds labels",
        "column 'Class' is used as a feature; set data.label=Class if it holds labels",
        "column 'ID' is used as a feature; set data.id=ID if it holds row ids",
    ]
    assert rec["input"]["notes"] == notes
    assert _console(caplog) == [f"features (6): {', '.join(names)}", *(f"note: {n}" for n in notes)]


def test_declared_id_and_label_are_not_noted(compose_cfg, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fpexp")
    path = tmp_path / "ok.csv"
    path.write_text("id,x,label\nr1,0.5,1\nr2,0.25,0\n")
    rec = _run(compose_cfg, tmp_path, path, "data.id=id", "data.label=label")
    assert rec["input"]["notes"] == [] and rec["input"]["excluded_columns"] == {}
    assert _console(caplog) == ["features (1): x"]


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ([], "features (6): hair, feathers, eggs, milk, legs, tail"),
        (["data=synthetic", "data.n_features=3"], "features (3): x0, x1, x2"),
        (
            ["data=synthetic", "data.n_features=30"],
            "features (30): x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, ... "
            "(all in run.json's input.feature_names)",
        ),
    ],
)
def test_every_source_says_which_columns_are_features(
    compose_cfg, tmp_path, caplog, overrides, line
):
    caplog.set_level(logging.INFO, logger="fpexp")
    (tmp_path / "run").mkdir()
    run_experiment(compose_cfg(*overrides), tmp_path / "run", {"cwd": str(tmp_path)})
    assert _console(caplog) == [line]
    names = record(tmp_path / "run")["input"]["feature_names"]
    assert len(names) == int(line.split("(")[1].split(")")[0])


def test_missing_labels_are_dropped_and_counted_under_nan_drop(compose_cfg, tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("a,y\n1,0.5\n2,\n3,NaN\n4,2.0\n")
    rec = _run(compose_cfg, tmp_path, path, "data.label=y", "task=regression", "data.nan=drop")
    assert rec["status"] == "completed"
    assert rec["input"]["rows_dropped"] == 2 and rec["metrics"]["n"] == 2
    out = read_table(tmp_path / "run" / "outputs.csv")
    assert list(out["id"]) == ["0", "3"]
    y = np.array([0.5, 2.0])
    mse = float(np.mean((np.asarray(out["output"], np.float64) - y) ** 2))
    assert rec["metrics"]["mse"] == pytest.approx(mse, rel=1e-6)


def test_a_header_of_numbers_is_noted(compose_cfg, tmp_path, caplog):
    """A CSV without a header loses its first row to the header: the console says so."""
    caplog.set_level(logging.INFO, logger="fpexp")
    path = tmp_path / "headerless.csv"
    path.write_text("1,2.5\n3,4\n5,6\n")
    rec = _run(compose_cfg, tmp_path, path, "task=regression")
    note = "every column name is a number: is the first line data? (it was read as the header)"
    assert rec["input"]["notes"] == [note] and rec["input"]["rows"] == 2
    assert _console(caplog) == ["features (2): 1, 2.5", f"note: {note}"]
