"""Issue 9, model side: no silent wrong result from the weights, the head, the class names or
the config, and no run that cannot fit in memory. In-process unless the process is the point."""

from __future__ import annotations

import csv
import importlib
import logging
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import call_fpexp, run_into
from safetensors.torch import load_file, save_file
from support import NON_DENSE, RUN_BOOKKEEPING, non_strided, record
from torch import nn

from fpexp import cli
from fpexp.app import run_experiment
from fpexp.config import sizes
from fpexp.errors import UsageError
from fpexp.heads import Head
from fpexp.layer_stats import LayerStats
from fpexp.tables import read_table

# --------------------------------------------------------------------------- helpers


def run_ok(compose_cfg, tmp_path: Path, *overrides: str, name: str = "run") -> Path:
    run_dir = tmp_path / name
    run_dir.mkdir()
    rec = run_experiment(compose_cfg(*overrides), run_dir, {"cwd": str(tmp_path)})
    assert rec.data["status"] == "completed"
    return run_dir


def refused(compose_cfg, tmp_path: Path, *overrides: str, name: str = "run") -> list[str]:
    """The error lines of a run that must fail; it leaves only its ``failed`` record."""
    run_dir = tmp_path / name
    run_dir.mkdir()
    with pytest.raises(UsageError) as info:
        run_experiment(compose_cfg(*overrides), run_dir, {"cwd": str(tmp_path)})
    assert record(run_dir)["status"] == "failed"
    assert {p.name for p in run_dir.iterdir()} == {"run.json"}
    return info.value.lines()


def lesson_state(dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 1), nn.Sigmoid())
    return {k: v.to(dtype) for k, v in model.state_dict().items()}


def save_state(state: dict[str, torch.Tensor], path: Path) -> Path:
    if path.suffix == ".pt":
        torch.save(state, path)
    else:
        save_file(state, str(path))
    return path


# --------------------------------------------------------------------------- 1. weights

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}
# bad value -> (the file's dtype, the value, the model dtypes in which it is still finite)
VALUES = {
    "nan": (torch.float32, float("nan"), ()),
    "inf": (torch.float32, float("inf"), ()),
    "-inf": (torch.float64, float("-inf"), ()),
    "1e300": (torch.float64, 1e300, ("float64",)),  # inf in float32 and bfloat16
    "3.4e38": (torch.float32, 3.4e38, ("float32", "float64")),  # inf in bfloat16
}


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
@pytest.mark.parametrize("value", list(VALUES))
@pytest.mark.parametrize("dtype", list(DTYPES))
def test_weights_are_checked_after_the_cast_to_the_model_dtype(
    compose_cfg, tmp_path, dtype, value, suffix
):
    file_dtype, x, finite_in = VALUES[value]
    state = lesson_state(file_dtype)
    state["1.weight"][0, 2] = x
    path = save_state(state, tmp_path / f"w{suffix}")
    args = (f"model.weights={path}", f"dtype={dtype}")
    if dtype in finite_in:  # used exactly as cast: never through float32 on the way
        run_dir = run_ok(compose_cfg, tmp_path, *args)
        saved = load_file(run_dir / "weights.safetensors")
        for key, tensor in state.items():
            assert torch.equal(saved[key], tensor.to(DTYPES[dtype])), key
        return
    (line,) = refused(compose_cfg, tmp_path, *args)
    if value in ("nan", "inf", "-inf"):
        what = "non-finite values (NaN or inf) in 1.weight"
    else:
        what = f"values beyond the model dtype's range in 1.weight (|{x:.3g}| is inf in {dtype})"
    assert line == (
        f"fpexp: error: model.weights: {path}: {what} (finite weights in the model's dtype)"
    )


NOT_REAL_FLOAT = [torch.int64, torch.int32, torch.uint8, torch.bool, torch.complex64]


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
@pytest.mark.parametrize("bad", NOT_REAL_FLOAT, ids=str)
def test_integer_bool_and_complex_weights_are_refused_not_cast(compose_cfg, tmp_path, bad, suffix):
    state = lesson_state()
    state["0.bias"] = state["0.bias"].to(bad)
    path = save_state(state, tmp_path / f"w{suffix}")
    (line,) = refused(compose_cfg, tmp_path, f"model.weights={path}")
    name = str(bad).removeprefix("torch.")
    assert line == (
        f"fpexp: error: model.weights: {path}: 0.bias is {name}, not a real floating-point "
        "tensor (dense float16/bfloat16/float32/float64 tensors (to_dense(), dequantize()))"
    )


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("kind", "what"), NON_DENSE)
def test_non_dense_tensors_in_a_pt_are_one_line(compose_cfg, tmp_path, kind, what):
    state = lesson_state()
    state["0.weight"] = non_strided(kind, state["0.weight"])
    path = save_state(state, tmp_path / "w.pt")
    (line,) = refused(compose_cfg, tmp_path, f"model.weights={path}")
    assert line.startswith(f"fpexp: error: model.weights: {path}: 0.weight is {what} (dense ")


@pytest.mark.slow
def test_sparse_tensor_in_a_pt_is_one_line_from_the_real_cli(tmp_path):
    state = lesson_state()
    state["0.weight"] = state["0.weight"].to_sparse()
    save_state(state, tmp_path / "w.pt")
    done, _ = run_into(tmp_path, "model.weights=w.pt")
    assert done.returncode == 2
    assert done.stderr == (
        f"fpexp: error: model.weights: {tmp_path}/w.pt: 0.weight is a sparse_coo tensor "
        "(dense float16/bfloat16/float32/float64 tensors (to_dense(), dequantize()))\n"
    )


def test_weights_that_do_not_fit_name_the_features_the_data_gave(compose_cfg, tmp_path):
    (tmp_path / "d.csv").write_text("a,b,c,d,e\n1,2,3,4,5\n")
    path = save_state(lesson_state(), tmp_path / "w.safetensors")
    args = (
        "data=file",
        f"data.path={tmp_path / 'd.csv'}",
        f"model.weights={path}",
        "model.width=4",
    )
    (line,) = refused(compose_cfg, tmp_path, *args)
    assert line == (
        f"fpexp: error: model.weights: {path} does not fit the model: "
        "0.weight expected [4, 5] got [4, 6]; the data gave 5 features: a, b, c, d, e "
        "(a state dict of this model)"
    )


def test_a_long_feature_list_in_the_fit_message_is_capped(compose_cfg, tmp_path):
    path = save_state(lesson_state(), tmp_path / "w.pt")
    args = ("data=synthetic", "data.n_features=25", "data.n_rows=2", f"model.weights={path}")
    args = (*args, "model.width=4")  # given widths: the fit message (read widths: test_weights)
    (line,) = refused(compose_cfg, tmp_path, *args)
    names = ", ".join(f"x{i}" for i in range(20))
    assert f"; the data gave 25 features: {names}, ... (5 more) (a state" in line


# --------------------------------------------------------------------------- 3. columns

CLASHES = [
    ("binary", ["neg", "id"], "'id'"),
    ("binary", ["id", "pos"], "'id'"),
    ("binary", ["prediction", "pos"], "'prediction'"),
    ("binary", ["neg", "label"], "'label'"),
    ("multiclass", ["a", "id", "c"], "'id'"),
    ("multiclass", ["prediction", "label", "c"], "'prediction', 'label'"),
]


@pytest.mark.parametrize(
    ("kind", "classes", "positions"),
    [("multiclass", ["a\x00b", "c", "a\x00z"], "0, 2"), ("binary", ["no", "yes\x00"], "1")],
)
def test_class_names_holding_a_nul_are_refused(compose_cfg, tmp_path, kind, classes, positions):
    """numpy drops a trailing NUL ('a\\0' would be written 'a') and pyarrow ends a name at
    its first one: two classes could be written as one (found by the hostile review)."""
    names = ",".join(f"'{c}'" for c in classes)
    assert refused(compose_cfg, tmp_path, f"task={kind}", f"task.classes=[{names}]") == [
        f"fpexp: error: task.classes: class name at position {positions} holds a NUL character "
        "(names without NUL characters)"
    ]


def test_a_label_holding_a_nul_is_refused_not_read_as_another_class(tmp_path):
    """numpy's ``astype(str)`` drops a trailing NUL: the label 'a\\0' was read as class 'a'."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "in.parquet"
    columns = {"f1": [0.1, 0.3, 0.5], "f2": [0.2, 0.4, 0.6], "label": ["a", "c", "a\x00"]}
    pq.write_table(pa.table(columns), data)
    run_dir = tmp_path / "run"
    args = [f"data.path={data}", "data.label=label", "task.classes=[a,c,d]", "progress=false"]
    done = call_fpexp(["data=file", "task=multiclass", *args, f"hydra.run.dir={run_dir}"], tmp_path)
    assert done.returncode == 2 and "run directory" not in done.stdout, done.stderr
    assert done.stderr == (
        "fpexp: error: data.label: 'a\\x00' (row 3) holds a NUL character (labels without NUL)\n"
    )
    assert record(run_dir)["status"] == "failed"


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npy"])
@pytest.mark.parametrize(("kind", "classes", "names"), CLASHES)
def test_class_names_that_would_collide_with_a_column_are_refused(
    compose_cfg, tmp_path, kind, classes, names, fmt
):
    args = (f"task={kind}", f"task.classes=[{','.join(classes)}]", f"output.format={fmt}")
    plural = "s" if "," in names else ""
    assert refused(compose_cfg, tmp_path, *args) == [
        f"fpexp: error: task.classes: class name{plural} {names} would collide with output table "
        "columns (other names; reserved: id, prediction, label)"
    ]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npy"])
@pytest.mark.parametrize(
    ("kind", "classes"),
    [("binary", ["output", "p"]), ("multiclass", ["output", "p", "prediction_0"])],
)
def test_every_table_keeps_distinct_columns_and_the_row_ids(
    compose_cfg, tmp_path, kind, classes, fmt
):
    args = (f"task={kind}", f"task.classes=[{','.join(classes)}]", f"output.format={fmt}")
    run_dir = run_ok(compose_cfg, tmp_path, *args, "data=synthetic", "data.n_rows=5")
    outputs_cols = classes[1:] if kind == "binary" else classes
    files = record(run_dir)["outputs"]
    assert files[f"outputs.{fmt}"]["columns"] == (
        outputs_cols if fmt == "npy" else ["id", *outputs_cols]
    )
    assert files[f"predictions.{fmt}"]["columns"] == (
        ["prediction"] if fmt == "npy" else ["id", "prediction", "label"]
    )
    if fmt == "npy":
        assert np.load(run_dir / "outputs.npy").shape == (5, len(outputs_cols))
        return
    outputs = read_table(run_dir / f"outputs.{fmt}")
    preds = read_table(run_dir / f"predictions.{fmt}")
    rows = ["0", "1", "2", "3", "4"]
    assert list(outputs["id"]) == rows and list(preds["id"]) == rows
    assert [classes[int(i)] for i in preds["prediction"]] == list(preds["label"])


# --------------------------------------------------------------------------- 4. class names


@pytest.mark.parametrize(
    ("classes", "lesson", "names", "origin"),
    [
        (None, None, ("0", "1"), "class indices"),
        (("a", "b"), None, ("a", "b"), "task.classes"),
        (None, {"binary": ("n", "y")}, ("n", "y"), "the lesson data"),
        (("a", "b"), {"binary": ("n", "y")}, ("a", "b"), "task.classes"),
        (None, {"multiclass": ("x", "y", "z")}, ("0", "1"), "class indices"),
    ],
)
def test_head_names_its_classes_and_says_where_from(classes, lesson, names, origin):
    head = Head.of("binary", 1, 0.5, classes).named(lesson)
    assert (head.classes, head.classes_from) == (names, origin)
    assert head.record() == {"names": list(names), "from": origin}
    assert Head.of("regression", 1, None, None).named(lesson).record() is None


def test_lesson_names_that_do_not_fit_the_head_are_an_error():
    with pytest.raises(UsageError) as info:
        Head.of("multiclass", 4, None, None).named({"multiclass": ("a", "b", "c")})
    assert info.value.lines() == [
        "fpexp: error: task.classes: the lesson data has 3 classes (a, b, c) but "
        "task.out_features is 4 (task.out_features=3, or 4 names in task.classes)"
    ]


@pytest.mark.parametrize(
    ("kind", "names"),
    [("binary", ["not_mammal", "mammal"]), ("multiclass", ["mammal", "bird", "reptile"])],
)
def test_the_lesson_data_keeps_its_names_and_console(compose_cfg, tmp_path, caplog, kind, names):
    caplog.set_level(logging.INFO, logger="fpexp")
    run_dir = run_ok(compose_cfg, tmp_path, f"task={kind}")
    assert record(run_dir)["classes"] == {"names": names, "from": "the lesson data"}
    assert record(run_dir)["config"]["task"]["classes"] is None
    (note,) = [r for r in caplog.records if r.getMessage().startswith("classes:")]
    assert note.getMessage() == f"classes: {', '.join(names)} (from the lesson data)"
    assert note.console is False  # fpexp.log only: the lesson's console is as it always was
    rows = [r.getMessage() for r in caplog.records if r.getMessage().startswith("dog ")]
    if kind == "binary":
        assert rows == ["dog       p(mammal)=0.7343  -> mammal (1)   true: mammal"]


BREAST = "radius,texture,diagnosis\n17.99,10.38,1\n13.54,14.36,0\n20.57,17.77,1\n"


@pytest.mark.parametrize(
    ("kind", "data", "columns"),
    [
        ("binary", ("data=synthetic", "data.n_rows=4"), ["1"]),
        ("multiclass", ("data=synthetic", "data.n_rows=4"), ["0", "1", "2"]),
        ("binary", ("data=file", "data.path=cancer.csv", "data.label=diagnosis"), ["1"]),
    ],
)
def test_other_data_names_classes_by_index(compose_cfg, tmp_path, caplog, kind, data, columns):
    (tmp_path / "cancer.csv").write_text(BREAST)
    caplog.set_level(logging.INFO, logger="fpexp")
    run_dir = run_ok(compose_cfg, tmp_path, f"task={kind}", *data)
    n = 2 if kind == "binary" else 3
    indices = [str(i) for i in range(n)]
    assert record(run_dir)["classes"] == {"names": indices, "from": "class indices"}
    assert list(read_table(run_dir / "outputs.csv")) == ["id", *columns]
    assert set(read_table(run_dir / "predictions.csv")["label"]) <= set(indices)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "mammal" not in text and "mammal" not in (run_dir / "outputs.csv").read_text()
    (note,) = [r for r in caplog.records if r.getMessage().startswith("classes:")]
    assert note.getMessage() == (
        f"classes: {', '.join(indices)} (class indices; name them with task.classes=[...])"
    )
    assert getattr(note, "console", True) is True


def test_task_classes_name_another_datas_classes(compose_cfg, tmp_path, caplog):
    (tmp_path / "cancer.csv").write_text(BREAST)
    caplog.set_level(logging.INFO, logger="fpexp")
    args = ("data=file", "data.path=cancer.csv", "data.label=diagnosis")
    run_dir = run_ok(compose_cfg, tmp_path, *args, "task.classes=[benign,malignant]")
    assert record(run_dir)["classes"] == {"names": ["benign", "malignant"], "from": "task.classes"}
    assert list(read_table(run_dir / "outputs.csv")) == ["id", "malignant"]
    assert "classes: benign, malignant (from task.classes)" in caplog.messages


def test_string_labels_that_are_not_class_names_suggest_task_classes(compose_cfg, tmp_path):
    (tmp_path / "pets.csv").write_text("a,b,kind\n1,2,cat\n3,4,dog\n")
    args = ("data=file", "data.path=pets.csv", "data.label=kind")
    assert refused(compose_cfg, tmp_path, *args) == [
        "fpexp: error: data.label: 'cat' (row 1) is not a class (class indices 0, 1; "
        "to use names, give them in task.classes=[...])"
    ]
    run_ok(compose_cfg, tmp_path, *args, "task.classes=[dog,cat]", name="named")


def test_lesson_multiclass_with_another_width_is_one_line(compose_cfg, tmp_path):
    assert refused(compose_cfg, tmp_path, "task=multiclass", "task.out_features=4") == [
        "fpexp: error: task.classes: the lesson data has 3 classes (mammal, bird, reptile) but "
        "task.out_features is 4 (task.out_features=3, or 4 names in task.classes)"
    ]


# --------------------------------------------------------------------------- 5. + additions

MODEL_KEYS = (
    "hidden, width, depth, activation, bias, in_features, weights, layers, norm, dropout, "
    "weights_key, weights_prefix"
)
ADDITIONS = [
    (["+model.dropuot=0.5"], f"model.dropuot: unknown key (allowed keys: {MODEL_KEYS})"),
    (["++model.dropuot=0.5"], f"model.dropuot: unknown key (allowed keys: {MODEL_KEYS})"),
    (
        ["+task.margin=1"],
        "task.margin: unknown key (allowed keys: kind, out_features, threshold, classes)",
    ),
    (["+data.n_rows=3"], "data.n_rows: unknown key for data=animals (allowed keys: source)"),
    (
        ["data=synthetic", "+data.path=x.csv"],
        "data.path: unknown key for data=synthetic "
        "(allowed keys: source, n_rows, n_features, seed)",
    ),
    (["+output.compression=zstd"], "output.compression: unknown key (allowed keys: format)"),
    (
        ["+epochs=3"],
        "epochs: unknown key (allowed keys: task, model, data, device, dtype, seed, batch_size, "
        "progress, output, reuse)",
    ),
]


@pytest.mark.parametrize(("overrides", "line"), ADDITIONS)
def test_added_keys_the_schema_does_not_know_fail_the_run(compose_cfg, tmp_path, overrides, line):
    assert refused(compose_cfg, tmp_path, *overrides) == [f"fpexp: error: {line}"]


@pytest.mark.parametrize(("overrides", "line"), ADDITIONS)
def test_added_keys_are_refused_before_any_run_directory(tmp_path, capsys, overrides, line):
    run_dir = tmp_path / "run"
    assert cli.main([*overrides, f"hydra.run.dir={run_dir}"]) == 2
    assert capsys.readouterr().err == f"fpexp: error: {line}\n"
    assert not run_dir.exists()


def test_a_sweep_with_an_unknown_added_key_never_starts(tmp_path, capsys):
    args = ["-m", "data=animals,synthetic", "+data.n_rows=3", f"hydra.sweep.dir={tmp_path / 's'}"]
    assert cli.main(args) == 2
    assert capsys.readouterr().err == (
        "fpexp: error: data.n_rows: unknown key for data=animals (allowed keys: source)\n"
    )
    assert not (tmp_path / "s").exists()


def test_each_sweep_job_refuses_an_unknown_key_the_preflight_missed(tmp_path, monkeypatch):
    from fpexp.config import additions

    monkeypatch.setattr(additions, "preflight", lambda args: [])
    sweep_dir = tmp_path / "s"
    args = ["-m", "seed=1,2", "+model.dropuot=0.5", f"hydra.sweep.dir={sweep_dir}"]
    assert cli.main(args) != 0
    for job in ("0", "1"):
        rec = record(sweep_dir / job)
        assert rec["status"] == "failed"
        assert rec["error"] == f"model.dropuot: unknown key (allowed keys: {MODEL_KEYS})"
        assert not (sweep_dir / job / "outputs.csv").exists()


def test_hydra_settings_may_still_be_added(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert cli.main(["+hydra.job.env_set.FPEXP_T=1", f"hydra.run.dir={run_dir}"]) == 0
    assert record(run_dir)["status"] == "completed"


# --------------------------------------------------------------------------- 6. size guards

GiB = 2**30


@pytest.fixture
def sixteen_gib(monkeypatch):
    """The memory available, fixed, so the guard's messages are exact on any machine."""
    monkeypatch.setattr(sizes, "available_memory", lambda: 16 * GiB)

    def never(*args, **kwargs):
        raise AssertionError("allocated before the size guard")

    import fpexp.builder
    import fpexp.data.synthetic

    monkeypatch.setattr(fpexp.builder, "build_model", never)
    monkeypatch.setattr(fpexp.data.synthetic, "load", never)


TOO_BIG = [
    (
        ["model.width=1000000000"],
        "model.width: a model of 8,000,000,001 parameters needs at least 29.8 GiB, more than "
        "the 16.0 GiB of memory available (a smaller model.width or model.depth)",
    ),
    (
        ["model.hidden=[100000,100000,100000]"],
        "model.hidden: a model of 20,001,000,001 parameters needs at least 74.5 GiB, more than "
        "the 16.0 GiB of memory available (fewer or narrower hidden layers)",
    ),
    (
        ["model.depth=1000000000", "dtype=float64"],
        "model.depth: a model of 20,000,000,013 parameters needs at least 149.0 GiB, more than "
        "the 16.0 GiB of memory available (a smaller model.width or model.depth)",
    ),
    (
        ["data=synthetic", "data.n_rows=1000000000000"],
        "data.n_rows: 1,000,000,000,000 rows x 6 features of synthetic data needs at least "
        "29.1 TiB, more than the 16.0 GiB of memory available (fewer data.n_rows or "
        "data.n_features)",
    ),
    (
        ["data=synthetic", "data.n_rows=100000", "model.width=100000"],
        "batch_size: a batch of 65,536 rows through the 6 -> 100,000 layer (float32) needs at "
        "least 24.4 GiB, more than the 16.0 GiB of memory available (a smaller batch_size)",
    ),
    (
        ["data=synthetic", "data.n_rows=400000000", "data.n_features=8", "model.width=40000"],
        "data.n_rows: together (a model of 400,001 parameters 1.5 MiB, a batch of 65,536 "
        "rows through the 8 -> 40,000 layer (float32) 9.8 GiB, 400,000,000 rows x 8 features of "
        "synthetic data 14.9 GiB) the run needs at least 24.7 GiB, more than the 16.0 GiB of "
        "memory available (fewer data.n_rows or data.n_features)",
    ),
]


@pytest.mark.parametrize(("overrides", "line"), TOO_BIG)
def test_a_run_that_cannot_fit_is_refused_before_allocating(
    compose_cfg, tmp_path, sixteen_gib, overrides, line
):
    assert refused(compose_cfg, tmp_path, *overrides) == [f"fpexp: error: {line}"]
    assert "build" not in record(tmp_path / "run")["phases_s"]


def test_the_guard_uses_the_datas_own_width_and_rows(compose_cfg, tmp_path, monkeypatch):
    monkeypatch.setattr(sizes, "available_memory", lambda: 1 * GiB)
    np.save(tmp_path / "wide.npy", np.zeros((3, 50_000), dtype=np.float32))
    args = ("data=file", f"data.path={tmp_path / 'wide.npy'}", "task=regression")
    (line,) = refused(compose_cfg, tmp_path, *args, "model.width=10000")
    assert line.startswith("fpexp: error: model.width: a model of 500,020,001 parameters")
    # the same width fits for 3 rows of 50 features: the batch is the data's 3 rows
    np.save(tmp_path / "narrow.npy", np.zeros((3, 50), dtype=np.float32))
    small = ("data=file", f"data.path={tmp_path / 'narrow.npy'}", "task=regression")
    run_ok(compose_cfg, tmp_path, *small, "model.width=10000", name="fits")


def test_sweep_jobs_that_cannot_fit_fail_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(sizes, "available_memory", lambda: 16 * GiB)
    sweep_dir = tmp_path / "s"
    args = ["-m", "model.width=4,1000000000", f"hydra.sweep.dir={sweep_dir}"]
    assert cli.main(args) == 2  # a job refused for bad input
    assert record(sweep_dir / "0")["status"] == "completed"
    failed = record(sweep_dir / "1")
    assert failed["status"] == "failed" and failed["error"].startswith(
        "model.width: a model of 8,000,000,001 parameters needs at least 29.8 GiB"
    )


def test_available_memory_is_read_from_the_system():
    available = sizes.available_memory()
    assert available is not None and available > 0
    if Path("/proc/meminfo").exists():
        kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemAvailable:")
        )
        # the least of this and the process's and cgroup's limits, read moments apart
        assert available < kib * 1024 + 4 * GiB


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 bytes"), (1023, "1023 bytes"), (1536, "1.5 KiB"), (29 * GiB, "29.0 GiB")],
)
def test_size_text(n, text):
    assert sizes.size_text(n) == text


@pytest.mark.slow
def test_an_impossible_model_is_one_line_from_the_real_cli(tmp_path):
    done, run_dir = run_into(tmp_path, "model.width=1000000000000")
    assert done.returncode == 2
    assert done.stderr.startswith(
        "fpexp: error: model.width: a model of 8,000,000,000,001 parameters needs at least 29.1 TiB"
    )
    assert len(done.stderr.splitlines()) == 1  # the largest part only: the model
    assert {p.name for p in run_dir.iterdir()} == RUN_BOOKKEEPING


# --------------------------------------------------------------------------- hostile review


def _weights_path(kind: str, tmp_path: Path) -> tuple[Path, str]:
    """A model.weights path that is not a readable regular file, and what it is instead."""
    path = tmp_path / "w.pt"
    if kind == "directory":
        path.mkdir()
        return path, "is a directory, not a file"
    if kind == "fifo":
        os.mkfifo(path)
        return path, "is a FIFO (named pipe), not a file"
    if kind == "loop":
        path.symlink_to(path)
        return path, "a symlink loop"
    if kind == "dev_zero":
        path.symlink_to("/dev/zero")
        return path, "is a character device, not a file"
    save_state(lesson_state(), path).chmod(0)
    return path, "permission denied (not readable)"


@pytest.mark.parametrize("kind", ["directory", "fifo", "loop", "dev_zero", "unreadable"])
def test_weights_that_are_not_a_readable_file_say_what_they_are(compose_cfg, tmp_path, kind):
    if kind == "unreadable" and os.geteuid() == 0:
        pytest.skip("root reads any file")
    path, what = _weights_path(kind, tmp_path)
    assert refused(compose_cfg, tmp_path, f"model.weights={path}") == [
        f"fpexp: error: model.weights: {path}: {what} (a state dict saved as .safetensors or .pt)"
    ]


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
@pytest.mark.parametrize("bad", [torch.float8_e4m3fn, torch.float8_e5m2], ids=str)
def test_float8_weights_are_refused_as_the_message_says(compose_cfg, tmp_path, bad, suffix):
    state = lesson_state()
    state["0.bias"] = state["0.bias"].to(bad)
    path = save_state(state, tmp_path / f"w{suffix}")
    name = str(bad).removeprefix("torch.")
    assert refused(compose_cfg, tmp_path, f"model.weights={path}") == [
        f"fpexp: error: model.weights: {path}: 0.bias is {name}, not one of the supported float "
        "dtypes (dense float16/bfloat16/float32/float64 tensors (to_dense(), dequantize()))"
    ]


@pytest.mark.parametrize(
    ("kind", "classes", "shown"),
    [
        ("binary", "['',yes]", "position 0 of ['', 'yes']"),
        ("binary", "[no,'  ']", "position 1 of ['no', '  ']"),
        ("multiclass", "[a,' ','']", "position 1, 2 of ['a', ' ', '']"),
    ],
)
def test_empty_or_blank_class_names_are_refused(compose_cfg, tmp_path, kind, classes, shown):
    assert refused(compose_cfg, tmp_path, f"task={kind}", f"task.classes={classes}") == [
        f"fpexp: error: task.classes: empty or blank class name at {shown} (non-blank names, "
        "e.g. [no, yes])"
    ]


NUMERIC = "a,b,label\n1,2,0\n3,4,0\n5,6,1\n"


@pytest.mark.parametrize(
    ("kind", "classes", "clash"),
    [
        ("binary", "[1,0]", "'1' at index 0, '0' at index 1"),
        ("binary", "['1',yes]", "'1' at index 0"),
        ("multiclass", "[a,'2.5',c]", "'2.5' at index 1"),
        ("multiclass", "[2,1,0]", "'2' at index 0, '0' at index 2"),
    ],
)
def test_numeric_labels_with_numbers_for_class_names_are_ambiguous(
    compose_cfg, tmp_path, kind, classes, clash
):
    (tmp_path / "d.csv").write_text(NUMERIC)
    args = ("data=file", "data.path=d.csv", "data.label=label", f"task={kind}")
    n = 2 if kind == "binary" else 3
    assert refused(compose_cfg, tmp_path, *args, f"task.classes={classes}") == [
        f"fpexp: error: task.classes: numeric labels are class indices, but task.classes names "
        f"{clash}: a label could mean the index or the name (class names that are not numbers "
        "(task.classes=[no, yes]), or labels as names)"
    ]
    # numbers that are their own index are not ambiguous
    same = "[0,1]" if n == 2 else "[0,1,2]"
    run_ok(compose_cfg, tmp_path, *args, f"task.classes={same}", name="same")


@pytest.mark.parametrize(
    ("kind", "classes", "trues"),
    [
        ("binary", "[no,yes]", ["no", "no", "yes"]),
        ("multiclass", "[a,b,c]", ["a", "a", "b"]),
        ("binary", None, ["0", "0", "1"]),
    ],
)
def test_console_shows_the_class_name_of_an_index_label(
    compose_cfg, tmp_path, caplog, kind, classes, trues
):
    (tmp_path / "d.csv").write_text(NUMERIC)
    caplog.set_level(logging.INFO, logger="fpexp")
    args = ["data=file", "data.path=d.csv", "data.label=label", f"task={kind}"]
    run_ok(compose_cfg, tmp_path, *args, *([f"task.classes={classes}"] if classes else []))
    rows = [m for m in caplog.messages if "   true: " in m]
    assert [m.rsplit("   true: ", 1)[1] for m in rows] == trues


OVERFLOW = "a,b,y\n3e38,3e38,1\n-3e38,3e38,2\n1,1,3\n"


def test_outputs_that_overflow_from_finite_inputs_are_said(compose_cfg, tmp_path, caplog):
    (tmp_path / "o.csv").write_text(OVERFLOW)
    caplog.set_level(logging.INFO, logger="fpexp")
    args = ("data=file", "data.path=o.csv", "data.label=y", "task=regression", "model.hidden=[64]")
    run_dir = run_ok(compose_cfg, tmp_path, *args)
    line = (
        "2 rows of finite inputs gave NaN or inf outputs (first: row 1, id 0); the model "
        "overflowed its dtype, so figures from these rows are NaN or inf"
    )
    assert f"warning: {line}" in caplog.messages
    rec = record(run_dir)
    assert line in rec["notes"] and rec["results"]["nonfinite_output_rows"] == 2
    assert list(rec)[-3:] == ["notes", "outputs", "error"]
    with open(run_dir / "layers.csv", newline="") as fh:
        layers = list(csv.DictReader(fh))
    out = np.asarray(read_table(run_dir / "outputs.csv")["output"], dtype=float)
    assert np.isinf(out[0]) and np.isnan(out[1]) and np.isfinite(out[2])
    # the output layer's min and max: over the values that are not NaN, inf included
    assert float(layers[1]["min"]) == pytest.approx(out[2], rel=1e-6)
    assert float(layers[1]["max"]) == math.inf


def test_finite_outputs_give_no_overflow_warning(compose_cfg, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fpexp")
    run_dir = run_ok(compose_cfg, tmp_path)
    assert not [m for m in caplog.messages if m.startswith("warning:")]
    assert "nonfinite_output_rows" not in record(run_dir)["results"]


INF, NAN = math.inf, math.nan


@pytest.mark.parametrize(
    ("batches", "low", "high"),
    [
        ([[1.0, INF, NAN, -2.0]], -2.0, INF),
        ([[NAN, -INF], [5.0, 3.0]], -INF, 5.0),
        ([[NAN, NAN], [3.0, 4.0]], 3.0, 4.0),  # a batch of NaN only changes nothing
        ([[NAN, NAN]], NAN, NAN),  # nothing but NaN: no min or max
        ([[1.0, 2.0], [-1.0, 0.5]], -1.0, 2.0),
    ],
)
def test_layer_min_and_max_leave_out_nan_and_keep_inf(batches, low, high):
    stats = LayerStats(nn.Sequential(nn.Identity()))
    for values in batches:
        stats.model(torch.tensor([values]).T)
    (row,) = stats.table()
    got = (row["min"], row["max"])
    assert [math.isnan(v) for v in got] == [math.isnan(low), math.isnan(high)]
    if not math.isnan(low):
        assert got == (low, high)


@pytest.mark.parametrize("fmt", ["npy", "csv", "parquet"])
@pytest.mark.parametrize("value", [1e300, -1e300])
def test_inputs_beyond_float32_are_one_line_without_numpy_warnings(
    compose_cfg, tmp_path, fmt, value
):
    arr = np.array([[value, 1.0], [1.0, 2.0]])
    path = tmp_path / f"big.{fmt}"
    if fmt == "npy":
        np.save(path, arr)
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"x0": arr[:, 0], "x1": arr[:, 1]}), path)
    else:
        path.write_text(f"x0,x1\n{value!r},1.0\n1.0,2.0\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning would be stderr lines
        (line,) = refused(compose_cfg, tmp_path, "data=file", f"data.path={path}")
    assert line.startswith(f"fpexp: error: data.path: {path}: column 'x0', row 1: ")
    assert "inf is not a finite number" in line


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("a,b,label\n1,2,0\n,4,1\n5,6,1\n", "dropped 1 row (data.nan=drop)"),
        ("a,b,label\n1,2,0\n,4,1\n5,,1\n7,8,\n", "dropped 3 rows (data.nan=drop)"),
        ("a,b,label\n1,2,0\n3,4,1\n", None),
    ],
)
def test_rows_dropped_by_data_nan_are_said_on_the_console(
    compose_cfg, tmp_path, caplog, text, said
):
    (tmp_path / "n.csv").write_text(text)
    caplog.set_level(logging.INFO, logger="fpexp")
    args = ("data=file", "data.path=n.csv", "data.label=label", "data.nan=drop")
    run_ok(compose_cfg, tmp_path, *args)
    dropped = [r for r in caplog.records if r.getMessage().startswith("dropped ")]
    assert [r.getMessage() for r in dropped] == ([said] if said else [])
    assert all(getattr(r, "console", True) for r in dropped)


def test_available_memory_respects_process_and_cgroup_limits(monkeypatch, tmp_path):
    import resource

    limits = {resource.RLIMIT_AS: 6 * GiB, resource.RLIMIT_DATA: resource.RLIM_INFINITY}
    monkeypatch.setattr(resource, "getrlimit", lambda which: (limits[which], limits[which]))
    monkeypatch.setattr(sizes, "_status_bytes", lambda field: 2 * GiB)
    monkeypatch.setattr(sizes, "_system_memory", lambda: 16 * GiB)
    monkeypatch.setattr(sizes, "_cgroup_room", lambda: None)
    assert sizes.available_memory() == 4 * GiB  # 6 GiB of address space, 2 GiB used
    limits[resource.RLIMIT_DATA] = 3 * GiB
    assert sizes.available_memory() == 1 * GiB
    monkeypatch.setattr(sizes, "_cgroup_room", lambda: GiB // 2)
    assert sizes.available_memory() == GiB // 2


@pytest.mark.parametrize(("limit", "room"), [("3000\n", 2000), ("max\n", None), ("x", None)])
def test_cgroup_room_is_its_limit_less_its_use(tmp_path, limit, room):
    (tmp_path / "memory.max").write_text(limit)
    (tmp_path / "memory.current").write_text("1000\n")
    assert sizes._cgroup_room(str(tmp_path)) == room


def test_the_guard_refuses_what_the_process_limit_cannot_hold(compose_cfg, tmp_path, monkeypatch):
    monkeypatch.setattr(sizes, "_process_room", lambda: [1 * GiB])
    (line,) = refused(compose_cfg, tmp_path, "model.width=20000", "model.depth=3")
    assert line.startswith("fpexp: error: model.width: a model of 800,")
    assert line.endswith(
        "more than the 1.0 GiB of memory available (a smaller model.width or model.depth)"
    )


ALLOC = (
    "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
    "you tried to allocate 3200000000 bytes. Error code 12 (Cannot allocate memory)"
)


@pytest.mark.parametrize(
    ("where", "step"),
    [
        ("fpexp.builder.build_model", "while building the model"),
        ("fpexp.runner.forward", "during the forward pass"),
    ],
)
@pytest.mark.parametrize(
    "error", [MemoryError(), RuntimeError(ALLOC)], ids=["MemoryError", "torch"]
)
def test_an_allocation_that_fails_anyway_is_one_line_exit_1(
    tmp_path, monkeypatch, capsys, where, step, error
):
    module, name = where.rsplit(".", 1)

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(importlib.import_module(module), name, fail)
    run_dir = tmp_path / "r"
    assert cli.main([f"hydra.run.dir={run_dir}"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"fpexp: error: {run_dir}: out of memory {step} (the process could not allocate what "
        "it needed; try a smaller model.width, model.depth, model.hidden or batch_size, or free "
        "memory) (run.json says failed, no outputs kept)\n"
    )
    assert record(run_dir)["status"] == "failed"


def test_other_runtime_errors_are_not_called_out_of_memory(compose_cfg, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr("fpexp.runner.forward", fail)
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        run_experiment(compose_cfg(), run_dir, {"cwd": str(tmp_path)})
