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
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from conftest import call_fpexp
from support import RESIDUAL_MODULE

import fpexp

ANIMALS = Path(fpexp.__file__).parent / "data" / "animals.csv"
API = [
    "NotReproduced",
    "Run",
    "RunFailed",
    "Sweep",
    "UsageError",
    "compare",
    "diff",
    "export_mlflow",
    "load",
    "rerun",
    "resume",
    "run",
    "runs",
    "sweep",
]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> fpexp.Run:
    root = tmp_path_factory.mktemp("api") / "outputs"
    return fpexp.run(root=root)


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
    done = call_fpexp([*args, f"hydra.run.dir={tmp_path / 'cli'}"], tmp_path)
    assert done.returncode == 2
    with redirect_stderr(io.StringIO()), pytest.raises(fpexp.UsageError) as caught:
        fpexp.run(*args, root=tmp_path / "py")
    assert isinstance(caught.value, ValueError)
    assert [f"fpexp: error: {p}" for p in caught.value.problems] == done.stderr.splitlines()


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
    assert call_fpexp([f"hydra.run.dir={cli_dir}"], tmp_path).returncode == 0
    assert _hashes(cli_dir) == _hashes(made.dir)
    assert {".hydra/config.yaml", "outputs.csv", "weights.safetensors"} <= set(_hashes(made.dir))


def test_a_python_run_is_listed_and_reproduced_by_the_cli(made, tmp_path):
    root = made.dir.parent.parent
    listed = call_fpexp(["runs", str(root)], tmp_path)
    assert listed.returncode == 0 and made.dir.name in listed.stdout
    done = call_fpexp(
        ["rerun", str(made.dir), "--check", f"hydra.run.dir={tmp_path / 're'}"], tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "reproduced: identical"


@pytest.mark.parametrize(
    ("dtype", "numpy_dtype"), [("float64", "float64"), ("bfloat16", "float32")]
)
def test_outputs_are_in_the_runs_dtype_bfloat16_as_float32(dtype, numpy_dtype, tmp_path):
    run = fpexp.run(f"dtype={dtype}", root=tmp_path)
    assert run.outputs().dtype == np.dtype(numpy_dtype)
    assert next(run.model().parameters()).dtype == getattr(__import__("torch"), dtype)


def test_model_of_a_record_naming_another_module_is_refused_unimported(made, tmp_path):

    copy = tmp_path / "copy"
    shutil.copytree(made.dir, copy)
    record = json.loads((copy / "run.json").read_text())
    record["model"]["layers"][0]["target"] = "evil_module_xyz.Layer"
    (copy / "run.json").write_text(json.dumps(record))
    with pytest.raises(fpexp.UsageError, match="would import 'evil_module_xyz'"):
        fpexp.load(copy).model()
    assert "evil_module_xyz" not in sys.modules


def test_runs_are_named_as_the_cli_names_them_and_never_share_a_directory(tmp_path):
    from fpexp.api import new_dir

    first, second = new_dir(tmp_path), new_dir(tmp_path)
    assert second != first and second.parent == first.parent
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d/\d\d-\d\d-\d\d\.\d{3}-[0-9a-f]{6}", str(first.relative_to(tmp_path))
    )


# --- fpexp.sweep, fpexp.Sweep -------------------------------------------------------------

SWEEP = ["model.hidden=[2],[4]", "data=file", "data.id=name"]  # + data.path=ANIMALS,missing
SKIP_IN_SUMMARY = {"duration_s"}  # per run, like the files in _hashes' skip list


def _sweep_args(base: Path) -> list[str]:
    return [*SWEEP, f"data.path={ANIMALS},{base / 'missing.csv'}"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> fpexp.Sweep:
    """Four jobs: hidden [2] and [4], each on animals.csv (completes) and on a file that
    does not exist (fails inside the run, with a record)."""
    base = tmp_path_factory.mktemp("sweep")
    with redirect_stderr(io.StringIO()):
        return fpexp.sweep(*_sweep_args(base), root=base / "outputs")


def _csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text())))


def test_sweep_runs_every_job_in_order_failed_ones_included(swept):
    assert swept.dir.is_absolute() and swept.dir.parent.parent.name == "multirun"
    assert re.fullmatch(r"\d\d-\d\d-\d\d\.\d{3}-[0-9a-f]{6}", swept.dir.name)
    assert "fpexp.Sweep(" in repr(swept)
    runs = swept.runs
    assert [r.dir for r in runs] == [swept.dir / str(n) for n in range(4)]
    assert [r.status for r in runs] == ["completed", "failed", "completed", "failed"]
    assert [r.record["status"] for r in runs] == [r.status for r in runs]
    assert [r.config["model"]["hidden"] for r in runs] == [[2], [2], [4], [4]]
    assert "missing.csv: no such file" in runs[1].record["error"]
    assert runs[2].outputs().shape == (5, 1) and runs[2].metrics == {}
    with pytest.raises(fpexp.UsageError, match="the run is failed, not completed"):
        runs[1].outputs()


def test_summary_is_summary_csv_with_typed_values(swept):
    from fpexp.summary import to_csv

    summary = swept.summary
    columns = list(summary[0])
    assert all(list(row) == columns for row in summary)
    assert columns == _csv_rows(swept.dir / "summary.csv")[0]
    assert to_csv(columns, summary) == (swept.dir / "summary.csv").read_text()
    assert [row["job"] for row in summary] == [0, 1, 2, 3]
    assert [row["status"] for row in summary] == [r.status for r in swept.runs]
    assert [row["model.hidden"] for row in summary] == [[2], [2], [4], [4]]
    assert summary[0]["params"] == 17 and summary[1]["params"] is None
    assert isinstance(summary[0]["mean[1]"], float) and summary[1]["mean[1]"] is None
    assert summary[0]["run_dir"] == "0" and "no such file" in summary[1]["error"]


def test_a_sweep_from_python_is_the_clis_sweep(swept, tmp_path):
    """Same summary.csv (but durations) and the same files in every job as
    ``python -m fpexp -m`` with the same overrides."""
    base = swept.dir.parents[3]
    cli_dir = tmp_path / "cli"
    done = call_fpexp(["-m", *_sweep_args(base), f"hydra.sweep.dir={cli_dir}"], tmp_path)
    assert done.returncode == 2  # a job refused its value: exit 2, the sweep went on
    ours, theirs = _csv_rows(swept.dir / "summary.csv"), _csv_rows(cli_dir / "summary.csv")
    assert ours[0] == theirs[0]
    keep = [i for i, c in enumerate(ours[0]) if c not in SKIP_IN_SUMMARY]
    assert [[r[i] for i in keep] for r in ours] == [[r[i] for i in keep] for r in theirs]
    for job in range(4):
        assert _hashes(swept.dir / str(job)) == _hashes(cli_dir / str(job))
    assert "outputs.csv" in _hashes(swept.dir / "0")
    assert fpexp.Sweep(cli_dir).summary[2]["params"] == swept.summary[2]["params"]


def test_sweep_jobs_are_run_references(swept):
    root = swept.dir.parents[2]
    assert fpexp.load(f"{swept.dir}:2").dir == swept.dir / "2"
    relative = swept.dir.relative_to(root)
    assert fpexp.load(f"{relative}:3", root=root).status == "failed"
    assert {r.dir for r in fpexp.runs(root)} == {r.dir for r in swept.runs}


def test_sweep_of_a_directory_that_is_not_one_is_refused(tmp_path):
    with pytest.raises(fpexp.UsageError, match="is not a sweep directory"):
        fpexp.Sweep(tmp_path)


BAD_SWEEPS = [["task=binary,nope"], ["seed=abc,1"], ["+model.nonsense=1,2"]]


@pytest.mark.parametrize("args", BAD_SWEEPS)
def test_bad_sweep_overrides_raise_the_clis_lines(args, tmp_path):
    done = call_fpexp(["-m", *args, f"hydra.sweep.dir={tmp_path / 'cli'}"], tmp_path)
    assert done.returncode == 2
    with redirect_stderr(io.StringIO()), pytest.raises(fpexp.UsageError) as caught:
        fpexp.sweep(*args, root=tmp_path / "py")
    assert [f"fpexp: error: {p}" for p in caught.value.problems] == done.stderr.splitlines()


def test_launchers_are_hydras_options_and_an_unknown_one_is_refused(tmp_path):
    from fpexp.api_sweep import launchers
    from fpexp.errors import Problem

    available = launchers()
    assert {"basic", "joblib"} <= set(available)
    with pytest.raises(fpexp.UsageError) as caught:
        fpexp.sweep("seed=1,2", launcher="nope", root=tmp_path)
    allowed = "one of: " + ", ".join(available)
    assert caught.value.problems == [Problem("launcher", "unknown launcher 'nope'", allowed)]
    with pytest.raises(fpexp.UsageError, match="launcher: given twice"):
        fpexp.sweep("seed=1,2", "hydra/launcher=basic", launcher="joblib", root=tmp_path)
    with pytest.raises(fpexp.UsageError, match="-m: not an override"):
        fpexp.sweep("-m", "seed=1,2", root=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_joblib_launcher_gives_the_basic_launchers_results(tmp_path):
    base = fpexp.sweep("seed=1,2", root=tmp_path / "basic")
    par = fpexp.sweep("seed=1,2", launcher="joblib", root=tmp_path / "joblib")
    assert [r.status for r in par.runs] == ["completed", "completed"]
    assert "joblib" in (par.dir / "multirun.yaml").read_text().lower()
    for a, b in zip(base.runs, par.runs, strict=True):
        np.testing.assert_array_equal(a.outputs(), b.outputs())


def test_ctrl_c_in_a_sweep_raises_after_the_records_say_interrupted(tmp_path, monkeypatch):
    import fpexp.builder

    build, calls = fpexp.builder.build, []

    def second_is_stopped(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return build(*args, **kwargs)

    monkeypatch.setattr(fpexp.builder, "build", second_is_stopped)
    with redirect_stderr(io.StringIO()), pytest.raises(KeyboardInterrupt):
        fpexp.sweep("seed=1,2,3", root=tmp_path)
    (sweep_dir,) = (tmp_path / "multirun").glob("*/*")
    statuses = [row["status"] for row in fpexp.Sweep(sweep_dir).summary]
    assert statuses == ["completed", "interrupted", "not run"]
    assert [r[3] for r in _csv_rows(sweep_dir / "summary.csv")[1:]] == statuses
    assert json.loads((sweep_dir / "1" / "run.json").read_text())["status"] == "interrupted"
    assert fpexp.Sweep(sweep_dir).runs[2].status == "not run"
    (sweep_dir / "0" / "outputs.csv").write_text("damaged")  # a record's word is not taken
    assert fpexp.Sweep(sweep_dir).runs[0].status == "unreadable"
    # A job directory replaced by a link to a run elsewhere is not that run (a crafted sweep)
    elsewhere = fpexp.run("seed=9", root=tmp_path / "elsewhere")
    (sweep_dir / "2").symlink_to(elsewhere.dir, target_is_directory=True)
    linked = fpexp.Sweep(sweep_dir)
    assert linked.runs[2].status == linked.summary[2]["status"] == "unreadable"
    assert (
        linked.summary[2]["error"]
        == "the job directory is a link, not the directory its sweep made"
    )
    with pytest.raises(fpexp.UsageError):
        linked.runs[2].record  # noqa: B018


# --- fpexp.diff ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["run", "path", "reference"])
def test_diff_is_what_diff_json_prints(form, swept, made, monkeypatch):
    cwd = swept.dir.parents[3]
    a, b = swept.runs[0], swept.runs[2]
    done = call_fpexp(["diff", str(a.dir), str(b.dir), "--json"], cwd)
    assert done.returncode == 0, done.stderr
    monkeypatch.chdir(cwd)
    refs = {
        "run": (a, b),
        "path": (a.dir, str(b.dir)),
        "reference": (f"{swept.dir}:0", f"{swept.dir.relative_to(cwd / 'outputs')}:2"),
    }[form]
    got = fpexp.diff(*refs, root=cwd / "outputs")
    assert got == json.loads(done.stdout)
    assert got["config"]["changed"] and got["empty"] is False
    assert fpexp.diff(made, made)["empty"] is True


def test_diff_of_a_run_that_cannot_be_found_is_a_usage_error(made, tmp_path):
    with pytest.raises(fpexp.UsageError, match="no such run"):
        fpexp.diff(made, tmp_path / "nothing")


# --- fpexp.rerun, fpexp.NotReproduced -----------------------------------------------------


def test_a_cli_run_is_reproduced_by_rerun_check(tmp_path):
    cli_dir = tmp_path / "cli"
    assert call_fpexp(["task=multiclass", f"hydra.run.dir={cli_dir}"], tmp_path).returncode == 0
    new = fpexp.rerun(cli_dir, check=True, root=tmp_path / "outputs")
    assert new.status == "completed" and new.dir.parent.parent == tmp_path / "outputs"
    assert new.record["command"]["rerun_of"] == str(cli_dir)
    assert _hashes(new.dir) == _hashes(cli_dir)


def test_rerun_applies_overrides_and_takes_any_reference(made, tmp_path):
    with pytest.raises(fpexp.NotReproduced) as caught:  # the line: new weights
        fpexp.rerun(made, "seed=7", check=True, root=tmp_path)
    new = caught.value.run
    assert "  weights.safetensors: differs" in caught.value.differences
    assert new.config["seed"] == 7 and new.config["task"] == made.config["task"]
    assert new.record["command"]["rerun_of"] == str(made.dir)
    again = fpexp.rerun("@latest", root=tmp_path)  # the seed=7 run
    assert again.record["command"]["rerun_of"] == str(new.dir) and again.config["seed"] == 7


def test_not_reproduced_when_an_output_changed(made, tmp_path):

    copy = tmp_path / "copy"
    shutil.copytree(made.dir, copy)
    outputs = copy / "outputs.csv"
    outputs.write_text(outputs.read_text().replace("0.", "1.", 1))
    with pytest.raises(fpexp.NotReproduced) as caught:
        fpexp.rerun(copy, check=True, root=tmp_path / "py")
    err = caught.value
    assert isinstance(err, RuntimeError) and not isinstance(err, fpexp.RunFailed)
    assert err.original.dir == copy and err.run.status == "completed"
    assert err.run.dir.parent.parent == tmp_path / "py"
    assert str(err) == f"{copy} not reproduced: differs"
    done = call_fpexp(["rerun", str(copy), "--check", f"hydra.run.dir={tmp_path / 'cli'}"], copy)
    assert done.returncode == 1
    printed = done.stdout.splitlines()[-len(err.differences) :]
    shown_new = [line for line in printed if line.startswith("rerun:")]
    assert [line for line in printed if not line.startswith("rerun:")] == [
        line.replace(str(copy), ".") if line.startswith("original:") else line
        for line in err.differences
        if not line.startswith("rerun:")
    ]
    assert shown_new and "reproduced: differs" in err.differences
    assert any("outputs.csv: changed since the run" in d for d in err.differences)


def test_rerun_of_a_run_recorded_before_fpexp_sweep_was_renamed(made, tmp_path):
    """Runs made before ``fpexp/sweep.py`` became ``fpexp/sweep_tracking.py`` name
    ``fpexp.sweep.SweepTracker`` in ``.hydra/hydra.yaml``; they still rerun and reproduce."""

    old = tmp_path / "old"
    shutil.copytree(made.dir, old)
    hydra_yaml = old / ".hydra" / "hydra.yaml"
    text = hydra_yaml.read_text()
    assert "_target_: fpexp.sweep_tracking.SweepTracker" in text
    hydra_yaml.write_text(text.replace("fpexp.sweep_tracking.", "fpexp.sweep."))
    new = fpexp.rerun(old, check=True, root=tmp_path / "py")
    assert "fpexp.sweep_tracking.SweepTracker" in (new.dir / ".hydra/hydra.yaml").read_text()
    done = call_fpexp(["rerun", str(old), "--check", f"hydra.run.dir={tmp_path / 'c'}"], tmp_path)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "reproduced: identical"


def test_rerun_errors_are_the_clis(swept, made, tmp_path):
    with pytest.raises(fpexp.UsageError, match="rerun: takes Hydra overrides only"):
        fpexp.rerun(made, "-m")
    with pytest.raises(fpexp.UsageError, match="@-9: there are only"):
        fpexp.rerun("@-9", root=made.dir.parent.parent)
    failed = swept.runs[1]
    done = call_fpexp(
        ["rerun", str(failed.dir), "--check", f"hydra.run.dir={tmp_path / 'c'}"], tmp_path
    )
    assert done.returncode == 2
    out = io.StringIO()
    with (
        redirect_stdout(out),
        redirect_stderr(io.StringIO()),
        pytest.raises(fpexp.UsageError) as caught,
    ):
        fpexp.rerun(failed, check=True, root=tmp_path / "py")
    errors = [line for line in done.stderr.splitlines() if line.startswith("fpexp: error: ")]
    assert [f"fpexp: error: {p}" for p in caught.value.problems] == errors
    assert (
        out.getvalue().splitlines()[0] == done.stdout.splitlines()[0]
    )  # "original: ... is failed"


# --- hostile use: crafted run directories, hostile arguments ------------------------------


def _copy(run: fpexp.Run, to: Path) -> Path:

    shutil.copytree(run.dir, to)
    return to


def _same_size_edit(path: Path) -> None:
    """One byte of ``path`` changed, its size kept (the cheap size check cannot see it)."""
    data = bytearray(path.read_bytes())
    if path.suffix == ".csv":
        i = max(i for i, c in enumerate(data) if chr(c).isdigit())
        data[i] = ord("1") if data[i] != ord("1") else ord("2")
    else:  # safetensors: the last byte is inside the last tensor's data
        data[-1] ^= 0x40
    path.write_bytes(bytes(data))


READERS = {
    "outputs": ("outputs.csv", lambda r: r.outputs()),
    "predictions": ("predictions.csv", lambda r: r.predictions()),
    "table": ("outputs.csv", lambda r: r.table("outputs")),
    "model": ("weights.safetensors", lambda r: r.model()),
}


@pytest.mark.parametrize("reader", READERS)
def test_a_file_changed_since_the_run_is_refused_not_read(reader, made, tmp_path):
    name, read = READERS[reader]
    copy = _copy(made, tmp_path / "copy")
    _same_size_edit(copy / name)
    run = fpexp.load(copy)
    with pytest.raises(fpexp.UsageError, match=f"{name} changed since the run"):
        read(run)


@pytest.mark.parametrize("dtype", ["int8", "object", "<U8", 7, None])
@pytest.mark.parametrize("reader", ["outputs", "model"])
def test_a_record_with_a_dtype_fpexp_never_writes_is_refused(dtype, reader, made, tmp_path):
    copy = _copy(made, tmp_path / "copy")
    record = json.loads((copy / "run.json").read_text())
    record["dtype"] = dtype
    (copy / "run.json").write_text(json.dumps(record))
    with pytest.raises(fpexp.UsageError, match=r"^dtype: "):
        READERS[reader][1](fpexp.load(copy))


@pytest.mark.parametrize("reader", ["outputs", "predictions", "table"])
def test_a_record_pointing_a_role_at_another_file_is_refused(reader, made, tmp_path):
    copy = _copy(made, tmp_path / "copy")
    record = json.loads((copy / "run.json").read_text())
    roles = {"outputs": "predictions", "predictions": "outputs"}
    for meta in record["outputs"].values():
        meta["role"] = roles.get(meta["role"], meta["role"])
    (copy / "run.json").write_text(json.dumps(record))
    with pytest.raises(fpexp.UsageError, match="is not the run's"):
        READERS[reader][1](fpexp.load(copy))


def _api_call(name: str, made: fpexp.Run, root: Path, *overrides: object) -> object:
    if name == "rerun":
        return fpexp.rerun(made, *overrides, root=root)  # type: ignore[arg-type]
    return getattr(fpexp, name)(*overrides, root=root)


@pytest.mark.parametrize("call", ["run", "rerun"])
def test_hydra_mode_is_refused_where_one_run_is_made(call, made, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with redirect_stderr(io.StringIO()), pytest.raises(fpexp.UsageError, match=r"^hydra\.mode: "):
        _api_call(call, made, tmp_path / "root", "hydra.mode=MULTIRUN")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "not a str"),
        (7, "not a str"),
        (b"seed=1", "not a str"),
        (Path("seed=1"), "not a str"),
        ("seed=1\n", "line break or NUL"),
        ("seed=1\rtask=binary", "line break or NUL"),
        ("task=binary\x00", "line break or NUL"),
    ],
)
@pytest.mark.parametrize("call", ["run", "sweep", "rerun"])
def test_an_override_that_is_not_a_str_is_refused(call, value, why, made, tmp_path):
    with pytest.raises(fpexp.UsageError, match=why):
        _api_call(call, made, tmp_path, value)
    assert not tmp_path.joinpath("root").exists()


ROOTS = ["a b", "ünï cødé", "it's", "a,b=c[1]"]


@pytest.mark.parametrize("name", ROOTS)
@pytest.mark.parametrize("call", ["run", "rerun", "sweep"])
def test_a_root_with_any_characters_is_used_as_it_is(call, name, made, tmp_path):
    root = tmp_path / name
    with redirect_stdout(io.StringIO()):
        made_now = _api_call(call, made, root)
    assert made_now.dir.parent.parent == (root / "multirun" if call == "sweep" else root)


@pytest.mark.parametrize("name", ["${oc.env:HOME}", "a\\${x}", "back\\slash"])
@pytest.mark.parametrize("call", ["run", "rerun", "sweep"])
def test_a_root_hydra_would_resolve_elsewhere_is_refused(call, name, made, tmp_path):
    with pytest.raises(fpexp.UsageError, match=r"^root: a backslash or \$\{"):
        _api_call(call, made, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("reader", READERS)
def test_a_failed_run_has_no_result(reader, swept):
    failed = swept.runs[1]
    assert failed.status == "failed" and failed.record.get("dtype") is None
    with pytest.raises(fpexp.UsageError, match="the run is failed, not completed: it has no"):
        READERS[reader][1](failed)


@pytest.mark.parametrize("status", ["failed", "interrupted", "running"])
@pytest.mark.parametrize("reader", READERS)
def test_a_record_not_completed_has_no_result_whatever_files_it_lists(
    reader, status, made, tmp_path
):
    copy = _copy(made, tmp_path / "copy")
    record = json.loads((copy / "run.json").read_text())
    (copy / "run.json").write_text(json.dumps({**record, "status": status}))
    run = fpexp.load(copy)
    with pytest.raises(fpexp.UsageError, match=f"the run is {status}, not completed"):
        READERS[reader][1](run)


@pytest.mark.parametrize(
    ("key", "value"),
    [("out_features", "x"), ("out_features", True), ("out_features", 0), ("args", [1, 2])],
)
def test_model_of_a_record_with_crafted_values_is_a_usage_error(key, value, made, tmp_path):
    copy = _copy(made, tmp_path / "copy")
    record = json.loads((copy / "run.json").read_text())
    if key == "args":
        record["model"]["layers"][0]["args"] = value
    else:
        record["config"]["task"][key] = value
    (copy / "run.json").write_text(json.dumps(record))
    with pytest.raises(fpexp.UsageError):
        fpexp.load(copy).model()


def test_model_checks_a_records_layer_sizes_against_the_weights_before_allocating(made, tmp_path):
    copy = _copy(made, tmp_path / "copy")
    record = json.loads((copy / "run.json").read_text())
    record["model"]["layers"][0]["args"]["out_features"] = 10**12  # 24 TB if allocated
    (copy / "run.json").write_text(json.dumps(record))
    with pytest.raises(fpexp.UsageError, match=r"^weights.safetensors: does not fit the model"):
        fpexp.load(copy).model()


REFS = {
    "load": lambda ref, made: fpexp.load(ref),
    "diff a": lambda ref, made: fpexp.diff(ref, made),
    "diff b": lambda ref, made: fpexp.diff(made, ref),
    "rerun": lambda ref, made: fpexp.rerun(ref),
}


@pytest.mark.parametrize("call", ["load", "diff a", "diff b"])  # rerun: its own test
def test_every_call_taking_a_run_takes_a_run_object(call, made):
    found = REFS[call](made, made)
    assert found.dir == made.dir if call == "load" else found["empty"] is True


@pytest.mark.parametrize("ref", [None, 7, b"@latest"])
@pytest.mark.parametrize("call", REFS)
def test_a_run_reference_of_another_type_is_a_usage_error(call, ref, made):
    with pytest.raises(fpexp.UsageError, match="not a run reference but a"):
        REFS[call](ref, made)


ROOT_CALLS = {
    "run": lambda root, made: fpexp.run(root=root),
    "sweep": lambda root, made: fpexp.sweep(root=root),
    "rerun": lambda root, made: fpexp.rerun(made, root=root),
    "load": lambda root, made: fpexp.load("@latest", root=root),
    "runs": lambda root, made: fpexp.runs(root=root),
    "diff": lambda root, made: fpexp.diff("@latest", made, root=root),
}


@pytest.mark.parametrize("root", [None, 7, b"outputs"])
@pytest.mark.parametrize("call", ROOT_CALLS)
def test_a_root_that_is_not_a_path_is_a_usage_error(call, root, made):
    with pytest.raises(fpexp.UsageError, match=r"^root: not a directory path but a"):
        ROOT_CALLS[call](root, made)


@pytest.mark.parametrize("part", ["record", "config", "metrics"])
def test_changing_what_a_run_returned_changes_nothing_of_the_run(part, tmp_path):
    run = fpexp.run("task=multiclass", root=tmp_path)
    before, outputs = json.dumps(getattr(run, part)), run.outputs()
    got = getattr(run, part)
    for value in got.values():
        if isinstance(value, dict):
            value.clear()  # a nested dict: a shallow copy shares it
    got.clear()
    if part == "record":
        got["dtype"] = "float16"
    assert json.dumps(getattr(run, part)) == before
    assert np.array_equal(run.outputs(), outputs) and run.outputs().dtype == np.float32


def test_help_of_run_is_enough_to_use_it():
    """It names every option of every config group and everything a Run offers."""
    import pydoc

    from fpexp.config.store import config_dir

    text = pydoc.render_doc(fpexp.run, renderer=pydoc.plaintext)
    groups = [p for p in Path(config_dir()).iterdir() if p.is_dir() and p.name != "hydra"]
    options = [f"{g.name}=" + "|".join(sorted(o.stem for o in g.glob("*.yaml"))) for g in groups]
    public = [n for n in vars(fpexp.Run) if not n.startswith("_")]
    missing = [o for o in options if o not in text.replace("\n", " ")]
    missing += [n for n in public if f".{n}" not in text]
    assert missing == []


@pytest.mark.parametrize(
    ("call", "key"),
    [("run", "hydra.run.dir"), ("rerun", "hydra.run.dir"), ("sweep", "hydra.sweep.dir")],
)
@pytest.mark.parametrize("form", ["{}={}", "++{}={}", "+{}={}"])
def test_the_directory_root_decides_is_not_an_override(call, key, form, made, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    with pytest.raises(fpexp.UsageError, match=f"^{re.escape(key)}: is named by the call"):
        _api_call(call, made, tmp_path / "root", form.format(key, elsewhere))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", [None, 7, b"outputs"])
def test_sweep_of_a_path_of_another_type_is_a_usage_error(path):
    with pytest.raises(fpexp.UsageError, match="not a directory path but a"):
        fpexp.Sweep(path)  # type: ignore[arg-type]


@pytest.mark.parametrize("modules", ["torchvision", b"x", [7], None])
def test_rerun_allow_modules_is_a_list_of_names(modules, made, tmp_path):
    with pytest.raises(fpexp.UsageError, match=r"^allow_modules: "):
        fpexp.rerun(made, root=tmp_path, allow_modules=modules)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("form", ["hydra.mode=MULTIRUN", "++hydra.mode=MULTIRUN"])
def test_cli_rerun_refuses_hydra_mode_as_it_refuses_m(form, made, tmp_path, monkeypatch):
    from fpexp.cli import main

    monkeypatch.chdir(tmp_path)
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        code = main(["rerun", str(made.dir), form, f"hydra.run.dir={tmp_path / 'new'}"])
    assert code == 2 and err.getvalue().startswith("fpexp: error: hydra.mode: a rerun is one run")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("call", ["run", "rerun", "sweep", "Sweep"])
def test_a_root_whose_name_is_too_long_is_an_error_of_the_api(call, made, tmp_path):
    root = tmp_path / ("x" * 300)
    err = io.StringIO()
    with redirect_stderr(err), pytest.raises((fpexp.RunFailed, fpexp.UsageError)):
        if call == "Sweep":
            fpexp.Sweep(root)
        else:
            _api_call(call, made, root)
    assert "Traceback" not in err.getvalue()


@pytest.mark.parametrize("call", ["run", "rerun", "sweep"])
def test_a_root_that_cannot_hold_runs_is_named_root(call, made, tmp_path):
    with redirect_stderr(io.StringIO()), pytest.raises(fpexp.UsageError) as caught:
        _api_call(call, made, Path(os.devnull))
    assert str(caught.value).startswith(f"root: {os.devnull}/")
    assert "lies under a file, not a directory" in str(caught.value)


PYTHON_ERRORS_IN_HYDRAS_PARSER = {
    "huge int": "seed=" + "9" * 5000,
    "deep brackets": "model.hidden=" + "[" * 3000 + "]" * 3000,
}


@pytest.mark.parametrize("how", ["api", "cli"])
@pytest.mark.parametrize("case", PYTHON_ERRORS_IN_HYDRAS_PARSER)
def test_an_override_hydras_parser_chokes_on_is_a_usage_error(case, how, tmp_path):
    arg = PYTHON_ERRORS_IN_HYDRAS_PARSER[case]
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        if how == "api":
            with pytest.raises(fpexp.UsageError, match="cannot parse override"):
                fpexp.run(arg, root=tmp_path)
        else:
            from fpexp.cli import main

            assert main([arg, f"hydra.run.dir={tmp_path / 'r'}"]) == 2
    lines = [line for line in err.getvalue().splitlines() if line]
    assert len(lines) == 1 and "cannot parse override" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_a_later_call_hashes_its_input_afresh(tmp_path):
    """An input rewritten in place between two calls (same size, inode and mtime: a coarse
    clock) is recorded with its new sha256, not the one kept from the earlier call."""
    data = tmp_path / "in.csv"
    data.write_text("a,b\n1,2\n3,4\n")
    stamp = data.stat().st_mtime_ns
    args = ("data=file", f"data.path={data}", "task=regression")
    with redirect_stdout(io.StringIO()):
        first = fpexp.run(*args, root=tmp_path / "out")
        with data.open("r+") as f:  # the same inode and size
            f.write("a,b\n5,6\n7,8\n")
        os.utime(data, ns=(stamp, stamp))
        second = fpexp.run(*args, root=tmp_path / "out")
    new = hashlib.sha256(data.read_bytes()).hexdigest()
    assert first.record["input"]["sha256"] != new == second.record["input"]["sha256"]


def test_a_root_with_a_tilde_is_under_the_home_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    with redirect_stdout(io.StringIO()):
        made = fpexp.run("data=synthetic", "data.n_rows=4", root="~/runs")
    assert made.dir.parent.parent == tmp_path / "home" / "runs"
    assert not (tmp_path / "~").exists()
    assert [r.dir for r in fpexp.runs(root="~/runs")] == [made.dir]
    assert fpexp.load("@latest", root="~/runs").dir == made.dir


def test_model_of_a_users_own_layer_needs_its_module_named(tmp_path, monkeypatch):
    import torch

    (tmp_path / "fpexp_test_blocks.py").write_text(RESIDUAL_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    layers = (
        "model.layers=[{_target_:torch.nn.Linear,in_features:6,out_features:8},"
        "{_target_:fpexp_test_blocks.Residual,width:8},"
        "{_target_:torch.nn.Linear,in_features:8,out_features:1}]"
    )
    with redirect_stdout(io.StringIO()):
        made = fpexp.run(layers, root=tmp_path / "out")
    with pytest.raises(fpexp.UsageError, match="fpexp_test_blocks"):
        made.model()
    for wrong in ("fpexp_test_blocks", [1], None):  # a str would allow each letter
        with pytest.raises(fpexp.UsageError, match="allow_modules"):
            made.model(allow_modules=wrong)
    model = made.model(allow_modules=["fpexp_test_blocks"])
    assert type(model[1]).__name__ == "Residual" and not model.training
    features = torch.tensor(np.loadtxt(ANIMALS, delimiter=",", skiprows=1, usecols=range(1, 7)))
    with torch.inference_mode():
        np.testing.assert_array_equal(model(features.float()).numpy(), made.outputs())
