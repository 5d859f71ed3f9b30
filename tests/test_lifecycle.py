"""Run lifecycle: failures, interruptions and concurrency never leave a result-lookalike."""

from __future__ import annotations

import json
import os
import pstats
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import ENV, start_fpexp
from warm_python import WARM

from fpexp import runner, write_behind, writers
from fpexp.app import run_experiment
from fpexp.atomic import atomic_path
from fpexp.errors import Interrupted, UsageError
from fpexp.fast_exit import exit_process


def record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def test_plain_function_runs_without_hydra(compose_cfg, tmp_path):
    rec = run_experiment(compose_cfg("task=multiclass"), tmp_path)
    assert rec.data["status"] == "completed"
    assert record(tmp_path)["outputs"].keys() == {
        "model.txt",
        "weights.safetensors",
        "outputs.csv",
        "predictions.csv",
        "layers.csv",
    }


def test_usage_error_in_process_records_failed(compose_cfg, tmp_path):
    with pytest.raises(UsageError) as info:
        run_experiment(compose_cfg("model.hidden=[0]"), tmp_path)
    assert info.value.lines() == [
        "fpexp: error: model.hidden[0]: width 0 is not positive (integers >= 1)"
    ]
    assert record(tmp_path)["status"] == "failed"


def test_ctrl_c_during_forward_records_interrupted(compose_cfg, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "forward", boom)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(compose_cfg(), tmp_path)
    rec = record(tmp_path)
    assert rec["status"] == "interrupted" and rec["outputs"] == {}
    assert {p.name for p in tmp_path.iterdir()} == {"run.json"}


def test_sigterm_during_forward_records_interrupted(compose_cfg, tmp_path, monkeypatch):
    real = runner.forward

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "forward", terminated)
    with pytest.raises(Interrupted):
        run_experiment(compose_cfg(), tmp_path)
    assert record(tmp_path)["status"] == "interrupted"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored


def test_failure_while_writing_removes_files_already_written(compose_cfg, tmp_path, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writers, "write_layers", disk_full)
    with pytest.raises(OSError):
        run_experiment(compose_cfg(), tmp_path)
    rec = record(tmp_path)
    assert rec["status"] == "failed" and "No space left on device" in rec["error"]
    assert {p.name for p in tmp_path.iterdir()} == {"run.json"}


def test_failure_mid_stream_leaves_no_output_file(compose_cfg, tmp_path, monkeypatch):
    calls = []
    real = writers.TableWriter.write

    def fail_on_third(self, columns, array):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(5, "I/O error")
        return real(self, columns, array)

    monkeypatch.setattr(writers.TableWriter, "write", fail_on_third)
    cfg = compose_cfg("data=synthetic", "data.n_rows=1000", "batch_size=100")
    with pytest.raises(OSError):
        run_experiment(cfg, tmp_path)
    assert record(tmp_path)["status"] == "failed"
    assert {p.name for p in tmp_path.iterdir()} == {"run.json"}


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npy"])
def test_a_write_failing_on_the_write_behind_thread_fails_the_run(
    compose_cfg, tmp_path, monkeypatch, fmt
):
    calls = []
    real = write_behind.HashingFile.write

    def fail_on_second(self, data):  # CSV and Parquet reach the sink in 4 MiB pieces: few
        if self.discarding:  # an aborted writer's footer (maybe one from an earlier test)
            return real(self, data)
        calls.append(threading.current_thread().name)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(write_behind.HashingFile, "write", fail_on_second)
    cfg = compose_cfg(
        "data=synthetic", "data.n_rows=2000", "batch_size=100", f"output.format={fmt}"
    )
    with pytest.raises(OSError, match="No space left"):
        run_experiment(cfg, tmp_path)
    assert all(name.startswith("write ") for name in calls)  # written off the main thread
    assert record(tmp_path)["status"] == "failed"
    assert {p.name for p in tmp_path.iterdir()} == {"run.json"}


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole" and list(tmp_path.iterdir()) == [target]


@pytest.mark.slow
def test_twenty_runs_started_at_once_get_twenty_complete_directories(tmp_path):
    """Twenty real processes (forked from the warm interpreter: they start closer together
    than cold ones would), racing for run directory names under the same ``outputs/``."""
    procs = [start_fpexp(tmp_path, f"seed={i}", stdout=subprocess.DEVNULL) for i in range(20)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 20, errors
    run_dirs = sorted(p.parent for p in (tmp_path / "outputs").glob("*/*/run.json"))
    assert len(run_dirs) == 20
    seeds = sorted(record(d)["seed"] for d in run_dirs)
    assert seeds == list(range(20))
    for d in run_dirs:
        rec = record(d)
        assert rec["status"] == "completed"
        assert (d / "outputs.csv").exists() and (d / "predictions.csv").exists()
        assert json.loads(json.dumps(rec["config"]))["seed"] == rec["seed"]


@pytest.mark.slow
@pytest.mark.parametrize("buffered", [True, False], ids=["block-buffered", "unbuffered"])
def test_a_closed_pipe_does_not_break_the_run(tmp_path, buffered):
    """``python -m fpexp | head -1``: the run still completes, with no logging errors, also
    with a user's default block-buffered stdout (the run failed with a broken pipe)."""
    env = {k: v for k, v in ENV.items() if k != "PYTHONUNBUFFERED" or not buffered}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    args = ("data=synthetic", "data.n_rows=100", f"hydra.run.dir={tmp_path}/r")
    proc = start_fpexp(tmp_path, *args, env=env)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and "Logging error" not in err and "Traceback" not in err
    assert record(tmp_path / "r")["status"] == "completed"


@pytest.mark.slow
def test_profiling_fpexp_still_writes_the_profile(tmp_path):
    """The fast exit steps aside for profilers: ``python -m cProfile -o F -m fpexp`` writes F.
    A real process running cProfile's main; forked warm, so torch's import (most of a cold
    start's profiled calls) happened before the profiler started."""
    prof = tmp_path / "fpexp.prof"
    args = ["-o", str(prof), "-m", "fpexp", f"hydra.run.dir={tmp_path}/r"]
    done = WARM.run(args, tmp_path, ENV, module="cProfile")
    assert done.returncode == 0, done.stderr
    assert pstats.Stats(str(prof)).total_calls > 0
    assert record(tmp_path / "r")["status"] == "completed"


def test_fast_exit_leaves_the_normal_way_while_a_thread_still_works():
    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()
    try:
        with pytest.raises(SystemExit) as info:
            exit_process(3)
        assert info.value.code == 3
    finally:
        release.set()
        worker.join()


@pytest.mark.slow
def test_a_warm_process_exits_prints_and_records_as_a_cold_one(tmp_path):
    """The forked ``python -m fpexp`` the slow tests use (tests/warm_python.py) is the CLI as a
    cold start runs it: exit code, stdout, stderr and the recorded command line."""
    args = ["model.hidden=[0]"]
    cold = subprocess.run(
        [sys.executable, "-m", "fpexp", *args, f"hydra.run.dir={tmp_path}/r1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=ENV,
    )
    warm = WARM.run([*args, f"hydra.run.dir={tmp_path}/r2"], tmp_path, ENV)
    assert cold.returncode == 2 and cold.stderr.startswith("fpexp: error: model.hidden[0]")
    assert (warm.returncode, warm.stdout, warm.stderr) == (
        cold.returncode,
        cold.stdout,
        cold.stderr,
    )
    commands = [record(tmp_path / r)["command"] for r in ("r1", "r2")]
    assert commands[1]["argv"][:-1] == commands[0]["argv"][:-1]  # the last names the run dir
    assert commands[1]["argv"][0] == str(Path(sys.modules["fpexp"].__file__).parent / "__main__.py")
    assert [record(tmp_path / r)["status"] for r in ("r1", "r2")] == ["failed", "failed"]
