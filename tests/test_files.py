"""File inputs (CSV, Parquet, NPY), labels and metrics, batching, output formats, bad files."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import torch
from conftest import ENV, call_fpexp, run_into, start_fpexp
from support import record
from torch import nn

from fpexp.errors import Problem, UsageError
from fpexp.tables import read_table

CLASSES = ["mammal", "bird", "reptile"]
N = 37


def make_data(tmp_path: Path, n: int = N) -> dict:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = rng.integers(0, 3, n)
    ids = [f"row{i:03d}" for i in range(n)]
    table = pa.table(
        {"name": ids, **{f"f{j}": x[:, j] for j in range(6)}, "kind": [CLASSES[k] for k in y]}
    )
    pacsv.write_csv(table, tmp_path / "data.csv")
    pq.write_table(table, tmp_path / "data.parquet", row_group_size=10)
    np.save(tmp_path / "data.npy", np.column_stack([x, y]).astype(np.float32))
    return {"x": x, "y": y, "ids": ids}


fpexp = run_into


def model_for(kind: str, out: int) -> nn.Sequential:
    torch.manual_seed(42)
    layers = [nn.Linear(6, 4), nn.Linear(4, out)]
    layers += (
        [nn.Sigmoid()] if kind == "binary" else [nn.Softmax(dim=-1)] if kind == "multiclass" else []
    )
    return nn.Sequential(*layers)


FORMAT_ARGS = {
    "csv": ["data.path=data.csv", "data.id=name", "data.label=kind"],
    "parquet": ["data.path=data.parquet", "data.id=name", "data.label=kind"],
    "npy": ["data.path=data.npy", "data.features=[x0,x1,x2,x3,x4,x5]", "data.label=x6"],
}


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npy"])
@pytest.mark.parametrize("out_fmt", ["csv", "parquet", "npy"])
def test_multiclass_end_to_end_with_exact_metrics(tmp_path, fmt, out_fmt):
    data = make_data(tmp_path)
    done, run = fpexp(
        tmp_path,
        "data=file",
        *FORMAT_ARGS[fmt],
        "task=multiclass",
        "task.classes=[mammal,bird,reptile]",  # file data names no classes
        f"output.format={out_fmt}",
        "batch_size=8",
    )
    assert done.returncode == 0, done.stderr
    rec = record(run)
    with torch.no_grad():
        probs = model_for("multiclass", 3)(torch.from_numpy(data["x"]))
    outputs = read_table(
        run / f"outputs.{out_fmt}", rec["outputs"][f"outputs.{out_fmt}"]["columns"]
    )
    got = np.column_stack([np.asarray(outputs[c], np.float32) for c in CLASSES])
    np.testing.assert_allclose(got, probs.numpy(), rtol=1e-6, atol=1e-7)
    if fmt != "npy" and out_fmt != "npy":
        assert list(outputs["id"]) == data["ids"]
    y = torch.from_numpy(data["y"])
    p = torch.from_numpy(got).double()
    m = rec["metrics"]
    assert m["n"] == N
    assert m["accuracy"] == pytest.approx(float((p.argmax(1) == y).double().mean()), abs=1e-12)
    ce = -p.gather(1, y.view(-1, 1)).log().clamp(min=-100).mean()
    assert m["cross_entropy"] == pytest.approx(float(ce), rel=1e-5)
    for k, name in enumerate(CLASSES):
        assert m[f"true[{name}]"] == int((y == k).sum())
        assert m[f"correct[{name}]"] == int(((p.argmax(1) == y) & (y == k)).sum())
    assert rec["input"]["rows"] == N and rec["input"]["format"] == fmt

    assert (
        rec["input"]["sha256"]
        == hashlib.sha256(Path(rec["input"]["path"]).read_bytes()).hexdigest()
    )
    for name, meta in rec["outputs"].items():
        assert meta["sha256"] == hashlib.sha256((run / name).read_bytes()).hexdigest()
    assert "metrics: n=37  accuracy=" in done.stdout


def test_binary_metrics_and_confusion(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 6)).astype(np.float32)
    y = rng.integers(0, 2, 50)
    pacsv.write_csv(pa.table({**{f"f{j}": x[:, j] for j in range(6)}, "y": y}), tmp_path / "b.csv")
    done, run = fpexp(tmp_path, "data=file", "data.path=b.csv", "data.label=y")
    assert done.returncode == 0, done.stderr
    with torch.no_grad():
        p = model_for("binary", 1)(torch.from_numpy(x))[:, 0].double()
    yt = torch.from_numpy(y).double()
    pred = (p.float() >= 0.5).long()
    m = record(run)["metrics"]
    bce = -(yt * p.log().clamp(min=-100) + (1 - yt) * (1 - p).log().clamp(min=-100)).mean()
    assert m["bce"] == pytest.approx(float(bce), rel=1e-5)
    assert m["accuracy"] == pytest.approx(float((pred == torch.from_numpy(y)).double().mean()))
    yy = torch.from_numpy(y)
    assert m["tp"] == int(((pred == 1) & (yy == 1)).sum()) and m["fn"] == int(
        ((pred == 0) & (yy == 1)).sum()
    )
    assert m["tp"] + m["fp"] + m["tn"] + m["fn"] == 50


def test_regression_metrics(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((30, 6)).astype(np.float32)
    t = rng.standard_normal(30)
    pq.write_table(
        pa.table({**{f"f{j}": x[:, j] for j in range(6)}, "target": t}), tmp_path / "r.parquet"
    )
    done, run = fpexp(
        tmp_path, "data=file", "data.path=r.parquet", "data.label=target", "task=regression"
    )
    assert done.returncode == 0, done.stderr
    with torch.no_grad():
        out = model_for("regression", 1)(torch.from_numpy(x))[:, 0].double()
    err = out - torch.from_numpy(t)
    m = record(run)["metrics"]
    assert m["mse"] == pytest.approx(float((err**2).mean()), rel=1e-9)
    assert m["mae"] == pytest.approx(float(err.abs().mean()), rel=1e-9)


@pytest.mark.parametrize(("n", "batch"), [(37, 10), (37, 1), (37, 1000), (40, 8)])
def test_batch_boundaries(tmp_path, n, batch):
    make_data(tmp_path, n)
    done, run = fpexp(
        tmp_path,
        "data=file",
        *FORMAT_ARGS["csv"],
        f"batch_size={batch}",
        "model.activation=relu",
        "model.hidden=[5,3]",
        "task=multiclass",
        "task.classes=[mammal,bird,reptile]",  # file data names no classes
    )
    assert done.returncode == 0, done.stderr
    _, ref_run = fpexp(
        tmp_path,
        "data=file",
        *FORMAT_ARGS["csv"],
        f"batch_size={n}",
        "model.activation=relu",
        "model.hidden=[5,3]",
        "task=multiclass",
        "task.classes=[mammal,bird,reptile]",  # file data names no classes
        name="ref",
    )
    a, b = read_table(run / "outputs.csv"), read_table(ref_run / "outputs.csv")
    assert len(a["id"]) == n and list(a["id"]) == list(b["id"])
    np.testing.assert_allclose(a["mammal"], b["mammal"], rtol=1e-6)
    for la, lb in zip(record(run)["layers"], record(ref_run)["layers"], strict=True):
        assert la["output_shape"] == lb["output_shape"] == str([n, *eval(lb["output_shape"])[1:]])
        for key in ("mean", "std", "min", "max", "zero_fraction"):
            assert la[key] == pytest.approx(lb[key], rel=1e-5, abs=1e-7)


def _bad(tmp_path, *args):
    done, run = fpexp(tmp_path, "data=file", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("fpexp: error: ")
    assert "Traceback" not in done.stderr
    if (run / "run.json").exists():
        assert record(run)["status"] == "failed"
        assert not [
            p
            for p in run.iterdir()
            if p.name.startswith(("outputs", "predictions", ".")) and p.name != ".hydra"
        ]
    return done.stderr.strip().removeprefix("fpexp: error: ")


def test_bad_files(tmp_path):
    make_data(tmp_path)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b,c\n")
    (tmp_path / "ragged.csv").write_text("a,b,c\n1,2,3\n4,5\n")
    (tmp_path / "text.csv").write_text("a,b,c\n1,2,3\n4,oops,6\n")
    (tmp_path / "nan.csv").write_text("a,b,c\n1,2,3\n4,,6\n7,8,inf\n")
    (tmp_path / "data.txt").write_text("1,2\n")
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4), dtype=np.float32))
    assert _bad(tmp_path, "data.path=missing.csv").endswith(
        "missing.csv: no such file (an existing .csv, .parquet or .npy file)"
    )
    assert "unknown file type '.txt'" in _bad(tmp_path, "data.path=data.txt")
    assert _bad(tmp_path, "data.path=empty.csv").endswith(
        "empty.csv: empty file (a table with a header and at least one row)"
    )
    assert "header.csv: no rows (header only)" in _bad(tmp_path, "data.path=header.csv")
    assert "ragged.csv: row 2 has 2 fields, the header has 3" in _bad(
        tmp_path, "data.path=ragged.csv"
    )
    assert "text.csv: column 'b', row 2: 'oops' is not a number" in _bad(
        tmp_path, "data.path=text.csv", "data.features=[a,b,c]"
    )
    assert "nan.csv: column 'b', row 2: no number (empty or NaN)" in _bad(
        tmp_path, "data.path=nan.csv", "model.in_features=3"
    )
    assert "cube.npy: array has 3 dimension(s), shape [2, 3, 4]" in _bad(
        tmp_path, "data.path=cube.npy"
    )
    assert "data.in_features" not in _bad(tmp_path, *FORMAT_ARGS["csv"], "model.in_features=5")
    assert _bad(tmp_path, *FORMAT_ARGS["csv"], "model.in_features=5").startswith(
        "model.in_features: 5 does not match the 6 features"
    )
    assert "data.label: " in _bad(tmp_path, "data.path=data.csv", "data.id=name", "data.label=nope")
    assert "no column 'nope'" in _bad(
        tmp_path, "data.path=data.csv", "data.id=name", "data.label=nope"
    )
    msg = _bad(tmp_path, *FORMAT_ARGS["csv"])  # binary task: 'bird' is not one of its classes
    assert msg.startswith("data.label: '") and "is not a class (class indices 0, 1; " in msg
    assert _bad(tmp_path).startswith("data.path: is required with data=file")


def test_non_numeric_value_later_in_the_file_names_column_and_row(tmp_path):
    rows = ["a,b"] + [f"{i},{i}" for i in range(200_000)] + ["5,x"]
    (tmp_path / "late.csv").write_text("\n".join(rows) + "\n")
    assert "late.csv: column 'b', row 200001: 'x' is not a number" in _bad(
        tmp_path, "data.path=late.csv", "task=regression"
    )


def test_nan_drop(tmp_path):
    (tmp_path / "nan.csv").write_text("a,b,c\n1,2,3\n4,,6\n7,8,inf\n0,1,2\n")
    done, run = fpexp(
        tmp_path, "data=file", "data.path=nan.csv", "data.nan=drop", "task=regression"
    )
    assert done.returncode == 0, done.stderr
    rec = record(run)
    assert rec["input"]["rows_dropped"] == 2 and rec["input"]["rows"] == 2
    assert list(read_table(run / "outputs.csv")["id"]) == ["0", "3"]


def test_nan_drop_into_npy_outputs_holds_only_the_kept_rows(tmp_path):
    """The .npy header first announces the file's 5 rows; 2 are dropped, so it is rewritten."""
    x = np.arange(15, dtype=np.float32).reshape(5, 3)
    x[1, 2], x[3, 0] = np.nan, -np.inf
    np.save(tmp_path / "x.npy", x)
    args = ("data=file", "data.path=x.npy", "data.nan=drop", "output.format=npy")
    done, run = fpexp(tmp_path, *args, "task=regression", "model.hidden=[]")
    assert done.returncode == 0, done.stderr
    outputs = np.load(run / "outputs.npy")
    assert outputs.shape == (3, 1)
    torch.manual_seed(42)
    expected = nn.Linear(3, 1)(torch.from_numpy(x[[0, 2, 4]])).detach().numpy()
    assert np.array_equal(outputs, expected)
    rec = record(run)
    assert rec["input"]["rows_dropped"] == 2 and rec["results"]["rows"] == 3
    for name in ("outputs.npy", "predictions.npy"):
        data = (run / name).read_bytes()
        assert rec["outputs"][name]["sha256"] == hashlib.sha256(data).hexdigest()


def test_every_output_format_works_with_diff_and_rerun_check(tmp_path):
    make_data(tmp_path)
    runs = {}
    for fmt in ("csv", "parquet", "npy"):
        done, runs[fmt] = fpexp(
            tmp_path,
            "data=file",
            *FORMAT_ARGS["csv"],
            "task=multiclass",
            "task.classes=[mammal,bird,reptile]",  # file data names no classes
            f"output.format={fmt}",
            name=fmt,
        )
        assert done.returncode == 0, done.stderr
        check = call_fpexp(["rerun", str(runs[fmt]), "--check"], tmp_path)
        assert check.returncode == 0 and "reproduced: identical" in check.stdout, (
            check.stdout + check.stderr
        )
    for other in ("parquet", "npy"):
        diff = call_fpexp(["diff", str(runs["csv"]), str(runs[other]), "--json"], tmp_path)
        data = json.loads(diff.stdout)
        assert all(c["identical"] for c in data["outputs"]["columns"].values()), data["outputs"]
        assert data["outputs"]["flipped"] == []


# Under a full suite's load a run here once outlived its SIGINT: the writer queue's lost wake-up,
# fixed in fpexp (tests/test_interrupt_anywhere.py tries every line of the hand-over).
@pytest.mark.slow  # a real process (forked warm), interrupted from outside
def test_interrupt_during_a_large_forward_pass(tmp_path):
    run = tmp_path / "big"
    args = ("data=synthetic", "data.n_rows=20000000", "batch_size=65536", "task=multiclass")
    proc = start_fpexp(tmp_path, *args, f"hydra.run.dir={run}")
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if "build" in record(run)["phases_s"]:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    time.sleep(0.3)  # well inside the forward pass
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # say where the run was
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"no exit 120 s after SIGINT: {record(run)}\n{err.decode()}") from None
    assert proc.returncode == 130, err
    assert "fpexp: interrupted" in err.decode()
    rec = record(run)
    assert rec["status"] == "interrupted" and rec["outputs"] == {}
    assert {p.name for p in run.iterdir()} == {".hydra", "run.json", "fpexp.log"}


@pytest.mark.slow  # a real process (forked warm) whose stderr is a terminal
def test_progress_bar_only_on_a_terminal(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(
        slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0)
    )  # a real terminal's size
    out = tmp_path / "p"
    args = ("data=synthetic", "data.n_rows=200", "batch_size=10", f"hydra.run.dir={out}")
    proc = start_fpexp(tmp_path, *args, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    assert proc.returncode == 0
    assert b"rows" in b"".join(chunks)  # tqdm drew its bar on the terminal
    done, _ = fpexp(tmp_path, "data=synthetic", "data.n_rows=200", "batch_size=10", name="q")
    assert done.stderr == ""  # not a terminal: no bar
    assert not math.isnan(record(tmp_path / "q")["results"]["output_mean"]["1"])


FEATHER_READER = """
import pyarrow.feather as feather

from fpexp.data.arrow_rows import is_numeric, table_rows
from fpexp.data.columns import Columns, settle
from fpexp.errors import Problem, UsageError


def check(path, kind):
    if kind != "an Arrow file":
        raise UsageError([Problem("data.path", f"{path}: not a Feather file, it is {kind}")])


def inspect(path, features, id_, label):
    schema = feather.read_table(path).schema
    reasons = {f.name: f"type {f.type}" for f in schema if not is_numeric(f.type)}
    feats, excluded = settle(path, schema.names, reasons, features, id_, label)
    return Columns(schema.names, feats, id_, label, None, excluded)


def read(path, columns):
    yield table_rows(feather.read_table(path), columns)
"""


def test_an_input_format_is_one_reader_module_and_one_table_entry(
    compose_cfg, tmp_path, monkeypatch
):
    """Feather, added as a user's module plus its entry: read, sniffed, listed everywhere."""
    import pyarrow.feather as feather

    from fpexp.config.help import choices_lines
    from fpexp.config.validate import check_config
    from fpexp.data import open_source
    from fpexp.data.formats import INPUT_FORMATS, InputFormat

    (tmp_path / "feather_reader.py").write_text(FEATHER_READER)
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = InputFormat((".feather",), "an Arrow file", "feather_reader", "Feather", b"ARROW1")
    monkeypatch.setitem(INPUT_FORMATS, "feather", entry)
    data = make_data(tmp_path)
    table = pa.table({"name": data["ids"], **{f"f{j}": data["x"][:, j] for j in range(6)}})
    feather.write_feather(table.append_column("a", pa.array([1] * N)), tmp_path / "d.feather")
    cfg = compose_cfg("data=file", f"data.path={tmp_path / 'd.feather'}", "data.id=name")
    source = open_source(cfg.data, tmp_path)
    batch = next(source.batches(N))
    assert source.feature_names == [*(f"f{j}" for j in range(6)), "a"]
    np.testing.assert_array_equal(batch.features[:, :6], data["x"])
    bad = compose_cfg("data=file", "data.path=d.feather", "data.format=nope")
    assert [str(p) for p in check_config(bad)] == [
        "data.format: unknown format 'nope' (one of: csv, parquet, npy, feather)"
    ]
    lines = {line.split()[0]: " ".join(line.split()[1:]) for line in choices_lines()[1:]}
    assert lines["data.format"].startswith("csv, parquet, npy, feather; null: from the file's ")
    with open(tmp_path / "x.feather", "wb") as fh:  # an .npy under the new suffix: sniffed
        np.save(fh, data["x"])
    with pytest.raises(UsageError) as err:
        open_source(compose_cfg("data=file", f"data.path={tmp_path / 'x.feather'}").data)
    assert str(err.value.problems[0]).endswith("x.feather: not a Feather file, it is an .npy array")


@pytest.mark.slow  # a fresh interpreter: which modules it imports
def test_the_registry_tables_import_no_numpy_torch_or_pyarrow():
    """--help, config validation and `fpexp runs` read the tables: they stay light."""
    code = (
        "import sys, fpexp.data, fpexp.data.sources, fpexp.data.formats, fpexp.output_formats, "
        "fpexp.config.validate, fpexp.config.help\n"
        "fpexp.config.help.choices_lines()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'torch', 'pyarrow'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert done.stdout.strip() == "[]", done.stderr


def test_validation_asks_the_source_entry_for_its_checks(compose_cfg, monkeypatch):
    from fpexp.config.validate import check_config
    from fpexp.data.sources import SOURCES, DataSource

    cfg = compose_cfg("data=synthetic", "data.n_rows=0")
    assert [p.key for p in check_config(cfg)] == ["data.n_rows"]
    mod = type(sys)("fake_source")
    mod.check_config = lambda data: [Problem("data.seed", "checked by the entry")]
    monkeypatch.setitem(sys.modules, "fake_source", mod)
    monkeypatch.setitem(
        SOURCES, "synthetic", DataSource(SOURCES["synthetic"].schema, "fake_source")
    )
    assert [str(p) for p in check_config(cfg)] == ["data.seed: checked by the entry"]
    cfg.data.source = "nope"
    assert [str(p) for p in check_config(cfg)] == [
        "data.source: unknown data source 'nope' (one of: animals, synthetic, file)"
    ]
