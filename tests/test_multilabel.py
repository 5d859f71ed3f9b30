"""``task=multilabel``: one sigmoid per class, each thresholded; labels a list of 0/1 columns;
per-class accuracy, subset accuracy, Hamming loss and mean BCE; every subcommand and format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file
from support import record
from torch import nn

from fpexp import cli
from fpexp.config.validate import check_config
from fpexp.data import animals
from fpexp.errors import UsageError
from fpexp.heads import Head
from fpexp.heads.multilabel import MultilabelHead
from fpexp.tables import read_table

CLASSES = ["has_hair", "lays_eggs", "flies"]
N = 13


def head(threshold: float = 0.5, classes: tuple[str, ...] = tuple(CLASSES)) -> MultilabelHead:
    named = MultilabelHead(3, threshold).named(None, classes)
    assert isinstance(named, MultilabelHead)
    return named


# --- the head ---------------------------------------------------------------------------------


def test_one_sigmoid_per_class_each_thresholded_inclusive():
    h = head()
    act = h.activation()
    assert type(act) is nn.Sigmoid  # not a softmax: rows need not sum to 1
    p = torch.tensor([[0.5, 0.4999, 1.0], [0.0, 0.7, 0.5001]])
    assert h.predict(p).tolist() == [[1, 0, 1], [0, 1, 1]]
    assert h.predict(p).dtype == torch.int64
    assert head(0.7).predict(p).tolist() == [[0, 0, 1], [0, 1, 0]]
    assert h.output_names() == CLASSES


@pytest.mark.parametrize(
    ("classes", "columns", "names", "origin"),
    [
        (None, ("a", "b", "c"), ("a", "b", "c"), "the label columns"),
        (("x", "y", "z"), ("a", "b", "c"), ("x", "y", "z"), "task.classes"),
        (None, None, ("0", "1", "2"), "class indices"),
    ],
)
def test_class_names_from_task_classes_else_the_label_columns_else_indices(
    classes, columns, names, origin
):
    named = Head.of("multilabel", 3, 0.5, classes).named({"multiclass": ("m", "n", "o")}, columns)
    assert (named.classes, named.classes_from) == (names, origin)
    assert named.record() == {"names": list(names), "from": origin}


@pytest.mark.parametrize(
    "raw",
    [
        np.array([[True, False, True], [False, False, True]]),
        np.array([[1, 0, 1], [0, 0, 1]]),
        np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]),
        np.array([["true", "False", "1"], ["0", " false", "TRUE"]], dtype=object),
    ],
)
def test_labels_are_0_1_or_true_false(raw):
    assert head().encode(raw, np.arange(1, len(raw) + 1)).tolist() == [[1, 0, 1], [0, 0, 1]]


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (2, "2 is not 0 or 1"),
        (-1, "-1 is not 0 or 1"),
        (0.5, "0.5 is not 0 or 1"),
        ("yes", "'yes' is not 0 or 1"),
        (float("nan"), "no label (empty or NaN)"),
        ("", "no label (empty or NaN)"),
    ],
)
def test_a_label_other_than_0_or_1_is_one_line_naming_column_and_row(value, what):
    raw = np.array([[1, 0, 1]] * 4, dtype=object if isinstance(value, str) else type(value))
    raw[2, 1] = value
    with pytest.raises(UsageError) as info:
        head().encode(raw, np.arange(11, 11 + len(raw)))
    assert info.value.lines() == [
        f"fpexp: error: data.label: column 'lays_eggs', row 13: {what} "
        "(0/1 or true/false in every label column)"
    ]


def test_metrics_match_torch_by_hand_over_several_batches():
    gen = torch.Generator().manual_seed(0)
    p = torch.rand(50, 3, generator=gen, dtype=torch.float64)
    p[0, 0], p[1, 1] = 0.0, 1.0  # clamped logs, as torch's BCE
    y = torch.randint(0, 2, (50, 3), generator=gen)
    h = head()
    metrics = h.metrics()
    for rows in (slice(0, 17), slice(17, 50)):
        metrics.update(p[rows], h.predict(p[rows]), y[rows].numpy())
    got = metrics.result()
    hit = (p >= 0.5).long() == y
    expected = {
        "n": 50,
        "subset_accuracy": hit.all(1).double().mean().item(),
        "hamming_loss": (~hit).double().mean().item(),
        "bce": nn.functional.binary_cross_entropy(p, y.double()).item(),
        **{f"accuracy[{c}]": hit[:, j].double().mean().item() for j, c in enumerate(CLASSES)},
    }
    assert list(got) == list(expected)
    assert got == pytest.approx(expected, rel=1e-12)


def test_flipped_rows_are_those_where_any_class_differs():
    ids = np.array(["a", "b", "c"])
    a = {"id": ids, "x": np.array([0, 1, 1]), "y": np.array([1, 1, 0])}
    b = {"id": ids, "x": np.array([0, 1, 0]), "y": np.array([1, 0, 0])}
    assert MultilabelHead.flipped(a, b).tolist() == [False, True, True]
    assert MultilabelHead.flipped(a, {"id": ids, "x": a["x"]}) is None


# --- runs through the CLI, on real CSV, Parquet and NPY files with label columns -------------

RNG = np.random.default_rng(3)
X = RNG.standard_normal((N, 6)).astype(np.float32)
Y = RNG.integers(0, 2, (N, 3))
IDS = [f"r{i}" for i in range(N)]


def write_zoo(where: Path, bad: tuple[int, int, int] | None = None) -> None:
    """``zoo.csv``/``.parquet`` (id ``name``, f0..f5, the three 0/1 columns) and ``zoo.npy``
    (the same numbers, columns x0..x8); ``bad`` (row, label column, value) spoils one label."""
    y = Y.copy()
    if bad is not None:
        y[bad[0], bad[1]] = bad[2]
    labels = {c: y[:, j] for j, c in enumerate(CLASSES)}
    table = pa.table({"name": IDS, **{f"f{j}": X[:, j] for j in range(6)}, **labels})
    pacsv.write_csv(table, where / "zoo.csv")
    pq.write_table(table, where / "zoo.parquet", row_group_size=5)
    np.save(where / "zoo.npy", np.column_stack([X, y]).astype(np.float32))


NAMES = ",".join(CLASSES)
FILE_ARGS = {
    "csv": ("data=file", "data.path=zoo.csv", "data.id=name", f"data.label=[{NAMES}]"),
    "parquet": ("data=file", "data.path=zoo.parquet", "data.id=name", f"data.label=[{NAMES}]"),
    # an .npy's columns are x0..x8: task.classes names the classes
    "npy": ("data=file", "data.path=zoo.npy", "data.label=[x6,x7,x8]", f"task.classes=[{NAMES}]"),
}


def run(where: Path, name: str, fmt: str, *overrides: str) -> Path:
    """A multilabel run on ``zoo.<fmt>``, written as ``<fmt>`` too, in batches of 5."""
    args = ["task=multilabel", *FILE_ARGS[fmt], f"output.format={fmt}", "batch_size=5"]
    assert cli.main([*args, *overrides, f"hydra.run.dir={where / name}"]) == 0
    return where / name


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """One run per file format (written in the same format, seed 42), one with seed 7."""
    ws = tmp_path_factory.mktemp("multilabel")
    write_zoo(ws)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ws)
        for fmt in FILE_ARGS:
            run(ws, fmt, fmt)
        run(ws, "seed7", "csv", "seed=7")
    return ws


def hand_model(run_dir: Path) -> nn.Sequential:
    model = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 3), nn.Sigmoid())
    model.load_state_dict(load_file(run_dir / "weights.safetensors"))
    return model


def expected(run_dir: Path, threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """The hand-built model's probabilities on the zoo, and its 0/1 predictions."""
    model, x = hand_model(run_dir), torch.from_numpy(X)
    with torch.no_grad():  # in the run's batches of 5: the same sums, the same bits
        p = torch.cat([model(x[i : i + 5]) for i in range(0, N, 5)])
    return p, (p >= threshold).long()


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npy"])
def test_every_format_holds_the_hand_built_models_outputs_and_predictions(ws, fmt):
    p, pred = expected(ws / fmt)
    rec = record(ws / fmt)
    assert rec["outputs"][f"outputs.{fmt}"]["columns"][-3:] == CLASSES
    assert rec["outputs"][f"predictions.{fmt}"]["columns"][-3:] == CLASSES
    if fmt == "npy":
        outputs, preds = np.load(ws / fmt / "outputs.npy"), np.load(ws / fmt / "predictions.npy")
        assert preds.dtype == np.int64 and preds.shape == (N, 3)
    else:
        out_t = read_table(ws / fmt / f"outputs.{fmt}")
        pred_t = read_table(ws / fmt / f"predictions.{fmt}")
        assert list(out_t) == list(pred_t) == ["id", *CLASSES]
        assert out_t["id"].tolist() == pred_t["id"].tolist() == IDS
        outputs = np.column_stack([out_t[c] for c in CLASSES]).astype(np.float32)
        preds = np.column_stack([pred_t[c] for c in CLASSES])
    assert np.array_equal(outputs, p.numpy())
    assert np.array_equal(preds, pred.numpy())


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npy"])
def test_a_run_records_metrics_computed_by_hand_and_predicted_counts(ws, fmt):
    rec = record(ws / fmt)
    p, pred = expected(ws / fmt)
    y = torch.from_numpy(Y)
    hit = pred == y
    origin = "task.classes" if fmt == "npy" else "the label columns"
    assert rec["classes"] == {"names": CLASSES, "from": origin}
    assert rec["results"]["predicted_counts"] == dict(
        zip(CLASSES, pred.sum(0).tolist(), strict=True)
    )
    assert rec["metrics"] == pytest.approx(
        {
            "n": N,
            "subset_accuracy": hit.all(1).double().mean().item(),
            "hamming_loss": (~hit).double().mean().item(),
            "bce": nn.functional.binary_cross_entropy(p.double(), y.double()).item(),
            **{f"accuracy[{c}]": hit[:, j].double().mean().item() for j, c in enumerate(CLASSES)},
        },
        rel=1e-12,
    )


def test_the_console_shows_probabilities_then_the_predicted_class_names(
    tmp_path, monkeypatch, capsys
):
    write_zoo(tmp_path)
    monkeypatch.chdir(tmp_path)
    run_dir = run(tmp_path, "run", "csv", "task.threshold=0.55")
    p = expected(run_dir)[0]
    out = capsys.readouterr().out
    for i in (0, 5, N - 1):
        probs = "  ".join(f"{c}={p[i, j].item():.4f}" for j, c in enumerate(CLASSES))
        chosen = [c for j, c in enumerate(CLASSES) if p[i, j] >= 0.55] or ["(none)"]
        true = [c for j, c in enumerate(CLASSES) if Y[i, j]] or ["(none)"]
        line = f"r{i:<3} {probs}  -> {', '.join(chosen)}   true: {', '.join(true)}"
        assert line in out.splitlines()
    assert "classes: has_hair, lays_eggs, flies (from the label columns)" in out
    assert "metrics: n=13  subset_accuracy=" in out


def test_runs_lists_the_subset_accuracy(ws, capsys):
    assert cli.main(["runs", str(ws), "--json", "--columns", "run,task.kind"]) == 0
    kinds = {Path(r["run"]).name: r["task.kind"] for r in json.loads(capsys.readouterr().out)}
    assert cli.main(["runs", str(ws), "--json"]) == 0
    rows = {Path(r["run"]).name: r for r in json.loads(capsys.readouterr().out)}
    for name in ("csv", "parquet", "npy", "seed7"):
        accuracy = record(ws / name)["metrics"]["subset_accuracy"]
        assert kinds[name] == "multilabel"
        assert rows[name]["metrics.subset_accuracy"] == accuracy


@pytest.mark.parametrize("other", ["seed7", "parquet", "npy"])
def test_diff_compares_each_class_column_and_flips_rows_where_any_class_differs(ws, other, capsys):
    cli.main(["diff", str(ws / "csv"), str(ws / other), "--json"])
    outs = json.loads(capsys.readouterr().out)["outputs"]
    pa_, pb_ = expected(ws / "csv")[1], expected(ws / other)[1]
    assert outs["comparable"] and list(outs["columns"]) == CLASSES
    flips = [IDS[i] for i in range(N) if bool((pa_[i] != pb_[i]).any())]
    assert outs["flipped_count"] == len(flips) and outs["flipped"] == flips
    identical = [c["identical"] for c in outs["columns"].values()]
    if other == "seed7":
        assert flips and not any(identical)
    else:
        assert flips == [] and all(identical)


@pytest.mark.parametrize("fmt", ["csv", "npy"])
def test_rerun_check_reproduces_a_multilabel_run(ws, fmt, monkeypatch, capsys):
    monkeypatch.chdir(ws)
    assert cli.main(["rerun", str(ws / fmt), "--check"]) == 0
    assert "reproduced: identical" in capsys.readouterr().out


def test_a_sweep_summary_row_has_every_multilabel_figure(tmp_path, monkeypatch):
    write_zoo(tmp_path)
    monkeypatch.chdir(tmp_path)
    sweep = tmp_path / "sweep"
    args = ["-m", "task=multilabel", *FILE_ARGS["parquet"], "task.threshold=0.3,0.7"]
    assert cli.main([*args, f"hydra.sweep.dir={sweep}"]) == 0
    rows = (sweep / "summary.csv").read_text().splitlines()
    header = rows[0].split(",")
    for name in ("subset_accuracy", "hamming_loss", "bce", *(f"accuracy[{c}]" for c in CLASSES)):
        assert name in header
    for j, threshold in enumerate((0.3, 0.7)):
        rec = record(sweep / str(j))
        pred = expected(sweep / str(j), threshold)[1]
        row = dict(zip(header, rows[j + 1].split(","), strict=True))
        assert row["task.threshold"] == str(threshold) and row["status"] == "completed"
        assert float(row["subset_accuracy"]) == pytest.approx(rec["metrics"]["subset_accuracy"])
        assert [int(row[f"n[{c}]"]) for c in CLASSES] == pred.sum(0).tolist()


def test_a_label_other_than_0_or_1_in_a_file_fails_the_run_in_one_line(
    tmp_path, monkeypatch, capsys
):
    write_zoo(tmp_path, bad=(7, 1, 2))
    monkeypatch.chdir(tmp_path)
    args = ["task=multilabel", *FILE_ARGS["csv"], "batch_size=5", f"hydra.run.dir={tmp_path / 'r'}"]
    assert cli.main(args) == 2
    assert capsys.readouterr().err.splitlines() == [
        "fpexp: error: data.label: column 'lays_eggs', row 8: 2.0 is not 0 or 1 "
        "(0/1 or true/false in every label column)"
    ]
    assert record(tmp_path / "r")["status"] == "failed"
    assert not list((tmp_path / "r").glob("*puts.csv"))


# --- what cannot be a multilabel run --------------------------------------------------------


def _fails(tmp_path: Path, capsys, *args: str) -> list[str]:
    assert cli.main([*args, f"hydra.run.dir={tmp_path / 'run'}"]) == 2
    assert not (tmp_path / "run" / "outputs.csv").exists()
    return capsys.readouterr().err.splitlines()


def test_a_single_label_column_with_multilabel_is_one_line(tmp_path, capsys):
    err = _fails(
        tmp_path, capsys, "task=multilabel", "data=file", "data.path=z.csv", "data.label=x"
    )
    assert err == [
        "fpexp: error: data.label: 'x' is one column, but a multilabel task reads a list of 0/1 "
        "columns (a list: data.label=[x,...])"
    ]


def test_a_label_list_with_a_one_column_head_is_one_line(tmp_path, capsys):
    err = _fails(tmp_path, capsys, "data=file", "data.path=z.csv", "data.label=[a,b]")
    assert err == [
        "fpexp: error: data.label: a list of columns [a, b], but a binary task reads one label "
        "column (one column name; a list needs task=multilabel)"
    ]


def test_as_many_outputs_as_label_columns(tmp_path, capsys):
    args = ("task=multilabel", "data=file", "data.path=z.csv", "data.label=[a,b]")
    err = _fails(tmp_path, capsys, *args)
    assert err[0] == (
        "fpexp: error: task.out_features: 3 outputs, but data.label names 2 columns (a, b) "
        "(task.out_features=2)"
    )
    assert err[1:] == [  # every problem at once: the file is missing too
        f"fpexp: error: data.path: {Path.cwd() / 'z.csv'}: no such file "
        "(an existing .csv, .parquet or .npy file)"
    ]


def test_the_embedded_animals_give_no_metrics_and_say_why(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["task=multilabel", f"hydra.run.dir={tmp_path / 'run'}"]) == 0
    rec = record(tmp_path / "run")
    note = (
        "the data's labels are class names, not 0/1 label columns: no metrics "
        "(multilabel labels come from a file: data.label=[col1,col2,...])"
    )
    assert "metrics" not in rec and rec["notes"][-1] == note
    assert rec["classes"] == {"names": ["0", "1", "2"], "from": "class indices"}
    out = capsys.readouterr().out
    assert f"note: {note}" in out and "true:" not in out
    with torch.no_grad():
        p = hand_model(tmp_path / "run")(torch.from_numpy(animals.load().features))
    assert rec["results"]["predicted_counts"] == dict(
        zip("012", (p >= 0.5).sum(0).tolist(), strict=True)
    )


def test_a_label_column_named_like_an_output_column_needs_task_classes(compose_cfg):
    args = ("task=multilabel", "data=file", "data.path=z.csv", "data.label=[id,b,label]")
    assert [str(p) for p in check_config(compose_cfg(*args))] == [
        "data.label: label columns 'id', 'label' would name a class and collide with table "
        "columns (name the classes with task.classes=[...]; reserved: id, prediction, label)"
    ]
    assert check_config(compose_cfg(*args, "task.classes=[x,y,z]")) == []
