"""The Python API (``fpexp.run``, ``load``, ``runs``, ``Run``), in-process except where the
process is the point (``import fpexp`` cost, the CLI's files to compare with)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

import fpexp
from fpexp.cli import main

ANIMALS = Path(fpexp.__file__).parent / "data" / "animals.csv"
API = ["Run", "RunFailed", "UsageError", "load", "run", "runs"]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> fpexp.Run:
    root = tmp_path_factory.mktemp("api") / "outputs"
    return fpexp.run(root=root)


def _cli(args: list[str], cwd: Path) -> tuple[int, str]:
    err, cwd0 = io.StringIO(), os.getcwd()
    os.chdir(cwd)
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(err):
            code = main(args)
    finally:
        os.chdir(cwd0)
    return code, err.getvalue()


def _hashes(run_dir: Path) -> dict[str, str]:
    skip = {"run.json", "fpexp.log", ".hydra/hydra.yaml", ".hydra/overrides.yaml"}
    return {
        str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and str(p.relative_to(run_dir)) not in skip
    }


def test_import_is_cheap_and_exports_exactly_the_api():
    code = (
        "import sys, time; t = time.perf_counter(); import fpexp; dt = time.perf_counter() - t;"
        "heavy = [m for m in ('torch', 'hydra', 'pyarrow', 'omegaconf', 'numpy')"
        " if m in sys.modules];"
        "print(dt, heavy, sorted(fpexp.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, heavy, names = out.stdout.split(" ", 2)
    assert heavy == "[]" and names.strip() == repr(API)
    assert float(seconds) < 0.5
    for name in API:
        assert getattr(fpexp, name).__doc__ and "xample" in getattr(fpexp, name).__doc__
    with pytest.raises(AttributeError):
        fpexp.nothing  # noqa: B018


def test_run_gives_the_run_as_python_objects(made):
    assert made.status == "completed" and made.dir.is_dir() and made.dir.is_absolute()
    date, stamp = made.dir.parent.name, made.dir.name
    assert (
        len(date) == 10
        and len(stamp) == len("HH-MM-SS.mmm-xxxxxx")
        and made.dir.parent.parent.name == "outputs"
    )
    assert made.record == json.loads((made.dir / "run.json").read_text())
    assert made.config == made.record["config"] and made.config["task"]["kind"] == "binary"
    assert made.metrics == made.record["metrics"] and made.metrics["n"] == 5
    outputs = made.outputs()
    assert outputs.shape == (5, 1) and outputs.dtype == np.float32
    table = made.table("outputs")
    assert table.column_names == ["id", "mammal"] and table.num_rows == 5
    assert table.column("id").to_pylist()[0] == "dog"
    np.testing.assert_array_equal(outputs[:, 0], table.column("mammal").to_numpy().astype("f4"))
    assert made.predictions().tolist() == made.table("predictions").column("prediction").to_pylist()
    assert "fpexp.Run(" in repr(made)


def test_model_reproduces_the_outputs(made):
    import torch

    model = made.model()
    assert not model.training
    with ANIMALS.open() as f:
        reader = csv.reader(f)
        next(reader)
        rows = [[float(v) for v in r[1:-1]] for r in reader]
    with torch.inference_mode():
        got = model(torch.tensor(rows, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(got, made.outputs(), rtol=1e-6)


@pytest.mark.parametrize("fmt", ["parquet", "npy"])
def test_tables_have_ids_whatever_the_format(fmt, tmp_path):
    run = fpexp.run("task=multiclass", f"output.format={fmt}", root=tmp_path)
    table = run.table("outputs")
    assert table.column_names[0] == "id" and table.num_rows == 5
    assert run.outputs().shape == (5, run.config["task"]["out_features"])
    assert run.predictions().shape == (5,)


def test_bad_table_role_is_a_usage_error(made):
    with pytest.raises(fpexp.UsageError, match="unknown table 'weights'"):
        made.table("weights")


def test_load_and_runs_take_cli_references(made):
    root = made.dir.parent.parent
    assert fpexp.load("@latest", root=root).dir == made.dir
    assert fpexp.load(made.dir).dir == made.dir
    assert [r.dir for r in fpexp.runs(root)] == [made.dir]
    with pytest.raises(ValueError, match="there are only 1 runs"):
        fpexp.load("@-2", root=root)


BAD = [["seed=abc", "task=nope"], ["+model.nonsense=1"], ["model.hidden=[0]"], ["nokey=1"]]


@pytest.mark.parametrize("args", BAD)
def test_usage_error_lines_equal_the_clis(args, tmp_path):
    code, err = _cli([*args, f"hydra.run.dir={tmp_path / 'cli'}"], tmp_path)
    assert code == 2
    with redirect_stderr(io.StringIO()), pytest.raises(fpexp.UsageError) as caught:
        fpexp.run(*args, root=tmp_path / "py")
    assert isinstance(caught.value, ValueError)
    assert [f"fpexp: error: {p}" for p in caught.value.problems] == err.splitlines()


@pytest.mark.parametrize(
    ("raised", "expected", "status"),
    [
        (RuntimeError("boom inside"), fpexp.RunFailed, "failed"),
        (KeyboardInterrupt(), KeyboardInterrupt, "interrupted"),
    ],
)
def test_a_run_that_fails_or_is_stopped_raises_after_its_record_says_so(
    raised, expected, status, tmp_path, monkeypatch
):
    import fpexp.builder

    def fail(*args, **kwargs):
        raise raised

    monkeypatch.setattr(fpexp.builder, "build", fail)
    err = io.StringIO()
    with redirect_stderr(err), pytest.raises(expected) as caught:
        fpexp.run(root=tmp_path)
    assert "Traceback" not in err.getvalue()
    (record,) = [json.loads(p.read_text()) for p in tmp_path.rglob("run.json")]
    assert record["status"] == status
    if expected is fpexp.RunFailed:
        assert str(caught.value) == "RuntimeError: boom inside"
        assert caught.value.run.status == "failed" and caught.value.run.record == record


def test_run_failed_carries_the_run():
    err = fpexp.RunFailed("why", None)
    assert err.run is None and str(err) == "why" and isinstance(err, RuntimeError)


def test_caller_state_is_restored_after_good_and_failing_runs(tmp_path):
    root_logger = logging.getLogger()
    before = (os.getcwd(), list(sys.argv), list(root_logger.handlers), root_logger.level)
    fpexp.run(root=tmp_path)
    assert (os.getcwd(), list(sys.argv), list(root_logger.handlers), root_logger.level) == before
    with redirect_stderr(io.StringIO()), pytest.raises(fpexp.UsageError):
        fpexp.run("seed=abc", root=tmp_path)
    assert (os.getcwd(), list(sys.argv), list(root_logger.handlers), root_logger.level) == before


def test_same_files_as_the_cli(made, tmp_path):
    cli_dir = tmp_path / "cli"
    code, _ = _cli([f"hydra.run.dir={cli_dir}"], tmp_path)
    assert code == 0
    assert _hashes(cli_dir) == _hashes(made.dir)
    assert {".hydra/config.yaml", "outputs.csv", "weights.safetensors"} <= set(_hashes(made.dir))


def test_a_python_run_is_listed_and_reproduced_by_the_cli(made, tmp_path):
    root = made.dir.parent.parent
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["runs", str(root)]) == 0
    assert made.dir.name in out.getvalue()
    code, err = _cli(
        ["rerun", str(made.dir), "--check", f"hydra.run.dir={tmp_path / 're'}"], tmp_path
    )
    assert code == 0, err


@pytest.mark.parametrize(
    ("dtype", "numpy_dtype"), [("float64", "float64"), ("bfloat16", "float32")]
)
def test_outputs_are_in_the_runs_dtype_bfloat16_as_float32(dtype, numpy_dtype, tmp_path):
    run = fpexp.run(f"dtype={dtype}", root=tmp_path)
    assert run.outputs().dtype == np.dtype(numpy_dtype)
    assert next(run.model().parameters()).dtype == getattr(__import__("torch"), dtype)


def test_model_of_a_record_naming_another_module_is_refused_unimported(made, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(made.dir, copy)
    record = json.loads((copy / "run.json").read_text())
    record["model"]["layers"][0]["target"] = "evil_module_xyz.Layer"
    (copy / "run.json").write_text(json.dumps(record))
    with pytest.raises(fpexp.UsageError, match="would import 'evil_module_xyz'"):
        fpexp.load(copy).model()
    assert "evil_module_xyz" not in sys.modules


def test_runs_are_named_as_the_cli_names_them_and_never_share_a_directory(tmp_path):
    from fpexp.api import _run_dir

    first, second = _run_dir(tmp_path), _run_dir(tmp_path)
    assert second != first and second.parent == first.parent
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d/\d\d-\d\d-\d\d\.\d{3}-[0-9a-f]{6}", str(first.relative_to(tmp_path))
    )
