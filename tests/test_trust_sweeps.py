"""Run and sweep directories, and sweep faults: reused or unusable directories are refused
before anything is written; killed, exiting, failing and interrupted jobs leave the rest of the
sweep running and are listed in the summary; job records are read as untrusted input."""

from __future__ import annotations

import csv
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fpexp.app
import fpexp.sweep_tracking
from fpexp.cli import main
from fpexp.summary import write_summary

ALLOWED = "(a new or empty directory that fpexp can write; fpexp never mixes runs)"
OUTPUTS = {"model.txt", "weights.safetensors", "outputs.csv", "predictions.csv", "layers.csv"}


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones too), by relative path, with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def rows(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "summary.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _no_renderer() -> None:
    raise OSError("no helper process: the summary plots in-process")


@pytest.fixture
def undrawn(monkeypatch):
    """summary.png not drawn (the tests that use this do not look at it; test_sweep does)."""
    monkeypatch.setattr("fpexp.summary_plot.Renderer", _no_renderer)
    monkeypatch.setattr("fpexp.summary_plot.plot_summary", lambda *a: None)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A completed single run and a completed two-job sweep (in-process), made once for the
    module: the tests that use it must leave it byte-identical, and check that they did."""
    root = tmp_path_factory.mktemp("finished")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setattr("fpexp.summary_plot.Renderer", _no_renderer)
        mp.setattr("fpexp.summary_plot.plot_summary", lambda *a: None)
        assert main([f"hydra.run.dir={root / 'run'}"]) == 0
        assert main(["-m", "seed=1,2", f"hydra.sweep.dir={root / 'sweep'}"]) == 0
    return root


# -- 1. reusing a directory --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "key", "target"),
    [
        ([], "hydra.run.dir", "run"),  # a single run into a finished run
        ([], "hydra.run.dir", "sweep/0"),  # ... into a finished sweep's job
        ([], "hydra.run.dir", "sweep"),  # ... into a finished sweep's root
        (["-m", "seed=3,4"], "hydra.sweep.dir", "sweep"),  # a sweep into a finished sweep
        (["-m", "seed=3,4"], "hydra.sweep.dir", "run"),  # ... into a finished run
    ],
)
def test_a_used_directory_is_refused_and_left_byte_identical(finished, capsys, args, key, target):
    before = snapshot(finished)
    capsys.readouterr()
    path = finished / target
    assert main([*args, f"{key}={path}"]) == 2
    out, err = capsys.readouterr()
    entries = sorted(os.listdir(path))
    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    assert err.splitlines() == [
        f"fpexp: error: {key}: {path} is not empty: it holds {shown} {ALLOWED}"
    ]
    assert "summary" not in out
    assert snapshot(finished) == before  # nothing written, overwritten, deleted or summarised


@pytest.mark.usefixtures("undrawn")
def test_an_existing_empty_directory_is_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "sweep").mkdir()
    assert main([f"hydra.run.dir={tmp_path / 'run'}"]) == 0
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "completed"
    assert main(["-m", "seed=1", f"hydra.sweep.dir={tmp_path / 'sweep'}"]) == 0
    assert rows(tmp_path / "sweep")[0]["status"] == "completed"


# -- 2. a directory that cannot be one ---------------------------------------------------------


def _file(tmp: Path) -> Path:
    (tmp / "a_file").write_text("not a directory\n")
    return tmp / "a_file"


TARGETS = {
    "existing file": (_file, "is an existing file, not a directory"),
    "under a file": (lambda t: _file(t) / "run", "lies under a file, not a directory"),
    "under /proc": (lambda t: Path("/proc/fpexp-no-such/run"), "cannot be created ("),
    "under /sys": (lambda t: Path("/sys/fpexp-no-such"), "cannot be "),
    "name too long": (lambda t: t / ("a" * 300), "cannot be created (File name too long)"),
    "under a loop of links": (
        lambda t: _loop(t) / "run",
        "cannot be created (Too many levels of symbolic links)",
    ),
}


def _loop(tmp: Path) -> Path:
    (tmp / "l1").symlink_to(tmp / "l2")
    (tmp / "l2").symlink_to(tmp / "l1")
    return tmp / "l1"


@pytest.mark.parametrize("mode", ["run", "sweep"])
@pytest.mark.parametrize("kind", list(TARGETS))
def test_an_unusable_directory_is_one_line_naming_key_and_path(
    tmp_path, monkeypatch, capsys, mode, kind
):
    monkeypatch.chdir(tmp_path)
    make, what = TARGETS[kind]
    path = make(tmp_path)
    before = snapshot(tmp_path)
    args = (
        [f"hydra.run.dir={path}"]
        if mode == "run"
        else ["-m", "seed=1,2", f"hydra.sweep.dir={path}"]
    )
    assert main(args) == 2
    out, err = capsys.readouterr()
    key = f"hydra.{mode}.dir"
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"fpexp: error: {key}: {path} {what}")
    assert err.rstrip().endswith(ALLOWED)
    assert "Traceback" not in out + err
    assert snapshot(tmp_path) == before
    assert not os.path.lexists(path) or path.is_file()


# -- 3. a killed parallel job ------------------------------------------------------------------


@pytest.mark.slow  # loky's worker processes
@pytest.mark.usefixtures("undrawn")
@pytest.mark.parametrize("when", ["mid", "start"])
def test_a_killed_joblib_job_fails_alone_and_the_others_complete(
    tmp_path, monkeypatch, capsys, when
):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "sweep"
    code = main(
        [
            "-m",
            "seed=1,2,3",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            "+hydra.callbacks.fault._target_=sweep_hooks.KillJob",
            "+hydra.callbacks.fault.job=1",
            f"+hydra.callbacks.fault.when={when}",
            f"hydra.sweep.dir={root}",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1, err
    table = rows(root)
    assert [r["status"] for r in table] == ["completed", "failed", "completed"]
    assert [r["seed"] for r in table] == ["1", "", "3"] if when == "start" else ["1", "2", "3"]
    assert [r["overrides"] for r in table] == ["seed=1", "seed=2", "seed=3"]
    assert "was killed by SIGKILL" in table[1]["error"]
    rec = json.loads((root / "1" / "run.json").read_text())
    assert rec["status"] == "failed" and "killed by SIGKILL" in rec["error"]
    assert rec["outputs"] == {}
    assert not OUTPUTS & {p.name for p in (root / "1").iterdir()}
    assert not list((root / "1").glob(".*.tmp"))
    for job in (0, 2):
        assert {p.name for p in (root / str(job)).iterdir()} >= OUTPUTS
    assert "3 jobs, 1 not completed" in out
    assert "job 1 failed: the job's process (pid" in err
    assert "Traceback" not in out + err


@pytest.mark.slow  # loky's worker processes
@pytest.mark.usefixtures("undrawn")
def test_a_killed_joblib_worker_ends_the_sweep_with_a_full_summary(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "sweep"
    code = main(
        [
            "-m",
            "seed=1,2,3,4",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            "+hydra.callbacks.fault._target_=sweep_hooks.KillJob",
            "+hydra.callbacks.fault.job=1",
            "+hydra.callbacks.fault.when=worker",
            f"hydra.sweep.dir={root}",
        ]
    )
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    table = rows(root)
    assert [r["job"] for r in table] == ["0", "1", "2", "3"]
    # none lost as "not run"; a job whose forked process loky's teardown killed before its
    # record existed is "failed" (the job stopped before run.json): timing decides which
    assert {r["status"] for r in table} <= {"completed", "stale", "failed"}
    for r in table:  # which jobs finished depends on timing; the summary says which did
        record = root / r["job"] / "run.json"
        done = record.is_file() and json.loads(record.read_text())["status"] == "completed"
        assert (r["status"] == "completed") == done
    assert table[1]["status"] == "completed"  # the job outlives its worker
    assert table[3]["status"] == "completed"  # rerun in a fresh pool
    died = "a joblib worker process died (A worker process managed by the executor"
    assert died in out + err and "the jobs not started run again" in out + err
    failed = sum(r["status"] != "completed" for r in table)
    assert f"4 jobs, {failed} not completed" in out and code == (1 if failed else 0)


# -- 4. every job in the summary, 6. one job's exit or exception does not stop the sweep -------


def _faulty(monkeypatch, faults):
    """Make the Nth run (1-based) of this process raise ``faults[N]``."""
    calls = []
    real = fpexp.app.execute

    def execute(cfg, record, *args):
        calls.append(1)
        fault = faults.get(len(calls))
        if fault is not None:
            raise fault
        return real(cfg, record, *args)

    monkeypatch.setattr(fpexp.app, "execute", execute)


@pytest.mark.usefixtures("undrawn")
def test_sys_exit_and_unexpected_exceptions_fail_one_job_each(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _faulty(monkeypatch, {2: SystemExit(3), 3: RuntimeError("boom\nsecond line")})
    root = tmp_path / "sweep"
    assert main(["-m", "seed=1,2,3,4", f"hydra.sweep.dir={root}"]) == 1
    out, err = capsys.readouterr()
    table = rows(root)
    assert [(r["job"], r["status"]) for r in table] == [
        ("0", "completed"),
        ("1", "failed"),
        ("2", "failed"),
        ("3", "completed"),
    ]
    assert [r["error"] for r in table[1:3]] == ["SystemExit: 3", "RuntimeError: boom\nsecond line"]
    assert "job 1 failed: SystemExit: 3" in err
    assert "Traceback" not in out + err
    assert "Traceback" in (root / "2" / "fpexp.log").read_text()  # the details, for the author


@pytest.mark.usefixtures("undrawn")
def test_ctrl_c_mid_sweep_lists_the_jobs_that_never_ran(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _faulty(monkeypatch, {2: KeyboardInterrupt()})
    root = tmp_path / "sweep"
    assert main(["-m", "model.width=2,4", "seed=1,2", f"hydra.sweep.dir={root}"]) == 130
    out, err = capsys.readouterr()
    table = rows(root)
    assert [(r["job"], r["status"], r["overrides"]) for r in table] == [
        ("0", "completed", "model.width=2 seed=1"),
        ("1", "interrupted", "model.width=2 seed=2"),
        ("2", "not run", "model.width=4 seed=1"),
        ("3", "not run", "model.width=4 seed=2"),
    ]
    assert not (root / "2").exists()
    plan = json.loads((root / "sweep.json").read_text())
    assert [j["overrides"] for j in plan["jobs"]] == [
        ["model.width=2", "seed=1"],
        ["model.width=2", "seed=2"],
        ["model.width=4", "seed=1"],
        ["model.width=4", "seed=2"],
    ]
    assert "job 2 not run: the job never started" in err
    assert "4 jobs, 3 not completed" in out


def test_a_bad_sweep_value_stops_with_one_line_and_no_table(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "sweep"
    assert main(["-m", "model.bias=true,maybe", f"hydra.sweep.dir={root}"]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "fpexp: error: model.bias: maybe has the wrong type (expected true or false)"
    ]
    assert "sweep summary" not in out and not (root / "summary.csv").exists()


@pytest.mark.usefixtures("undrawn")
def test_jobs_in_custom_subdirectories_are_summarised(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "sweep"
    subdir = "hydra.sweep.subdir=job${hydra.job.num}_${hydra.job.override_dirname}"
    assert main(["-m", "seed=1,2", subdir, f"hydra.sweep.dir={root}"]) == 0
    table = rows(root)
    assert [(r["job"], r["status"], r["run_dir"]) for r in table] == [
        ("0", "completed", "job0_seed=1"),
        ("1", "completed", "job1_seed=2"),
    ]
    assert "2 jobs, 0 not completed" in capsys.readouterr().out


# -- 5. job records are untrusted input --------------------------------------------------------

GOOD = {
    "status": "completed",
    "config": {"seed": 1},
    "model": {"parameters": 33},
    "results": {"output_mean": {"mammal": 0.5}, "output_std": {"mammal": 0.1}},
    "metrics": {"accuracy": 0.4},
    "layers": [{"type": "Linear", "std": 0.2}, {"type": "Sigmoid", "std": 0.1}],
    "duration_s": 0.1,
    "error": None,
}


def _with(**fields):
    return json.dumps({**GOOD, "config": {"seed": 2}, **fields}).encode()


MALFORMED = {
    "a list": (b"[1, 2]", "run.json holds a JSON list, not an object"),
    "a string": (b'"completed"', "run.json holds a JSON str, not an object"),
    "truncated": (_with()[:40], "run.json is not valid JSON ("),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\xff", "run.json is not UTF-8 text"),
    "empty": (b"", "run.json is not valid JSON ("),
    "no status": (json.dumps({"config": {}}).encode(), "run.json has no status"),
    "unknown status": (_with(status="done"), 'run.json field status is "done", not one of'),
    "results a string": (_with(results="fine"), 'run.json field results is "fine", not an object'),
    "layers a dict": (_with(layers={"type": "Linear"}), "run.json field layers is"),
    "layer without type": (_with(layers=[{"std": 1}]), "run.json field layers is"),
    "metrics not numbers": (_with(metrics={"bce": "low"}), "run.json field metrics is"),
    "metrics a bool": (_with(metrics={"bce": True}), "run.json field metrics is"),
    "means a list": (_with(results={"output_mean": [1]}), "run.json field results.output_mean"),
    "counts negative": (
        _with(results={"predicted_counts": {"a": -1}}),
        'run.json field results.predicted_counts is {"a": -1}, not an object of counts',
    ),
    "parameters a string": (_with(model={"parameters": "33"}), "run.json field model.parameters"),
    "config a list": (_with(config=[1]), "run.json field config is [1], not an object"),
    "error a number": (_with(error=7), "run.json field error is 7, not a string or null"),
    "duration a string": (_with(duration_s="1s"), "run.json field duration_s"),
    "nested too deeply": (b"[" * 100000 + b"]" * 100000, "run.json is nested too deeply"),
    "a huge integer": (
        b'{"status": "completed", "duration_s": ' + b"9" * 5000 + b"}",
        "run.json is not valid JSON (Exceeds the limit",
    ),
}


def _sweep_with(tmp_path: Path, content: bytes | None) -> Path:
    root = tmp_path / "sweep"
    for job, data in ((0, json.dumps(GOOD).encode()), (1, content)):
        (root / str(job)).mkdir(parents=True)
        if data is not None:
            (root / str(job) / "run.json").write_bytes(data)
    return root


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_job_record_is_an_unreadable_row(tmp_path, monkeypatch, case):
    monkeypatch.setattr("fpexp.summary_plot.plot_summary", lambda *a: None)  # drawn elsewhere
    content, reason = MALFORMED[case]
    root = _sweep_with(tmp_path, content)
    _, table = write_summary(root)
    assert [r["status"] for r in table] == ["completed", "unreadable"]
    assert table[1]["error"].startswith(reason), table[1]["error"]
    assert table[0]["accuracy"] == 0.4 and table[0]["params"] == 33
    assert [r["status"] for r in rows(root)] == ["completed", "unreadable"]
    assert "unreadable" in (root / "summary.md").read_text()


@pytest.mark.parametrize("kind", ["fifo", "directory", "device link"])
def test_a_job_record_that_is_not_a_file_is_unreadable_without_blocking(
    tmp_path, monkeypatch, kind
):
    monkeypatch.setattr("fpexp.summary_plot.plot_summary", lambda *a: None)
    root = _sweep_with(tmp_path, None)
    record = root / "1" / "run.json"
    {"fifo": os.mkfifo, "directory": os.mkdir, "device link": lambda p: p.symlink_to("/dev/zero")}[
        kind
    ](record)
    _, table = write_summary(root)
    assert table[1]["status"] == "unreadable"
    assert table[1]["error"] == "run.json is not a regular file"


def test_record_text_cannot_break_the_table_or_the_terminal(tmp_path, capsys):
    hostile = "\x1b]0;owned\x07 | \n| job | x |"
    root = _sweep_with(tmp_path, _with(status="failed", error=hostile, metrics={"st|atus": 1}))
    _, table = write_summary(root)
    assert table[1]["status"] == "failed" and table[1]["error"] == hostile
    md = (root / "summary.md").read_text()
    assert "\x1b" not in md and "\x07" not in md
    assert len(md.splitlines()) == 4  # header, rule, two rows
    assert "\\x1b]0;owned\\x07 \\| \\n\\| job \\| x \\|" in md


# -- 6. job directories, summaries after signals and full disks --------------------------------

SUBDIR_ALLOWED = (
    "(one directory name inside hydra.sweep.dir that contains ${hydra.job.num} or "
    "${hydra.job.id}, so that each job has a directory of its own)"
)


@pytest.mark.parametrize(
    "subdir, what",
    [
        ("same", "gives every job the same directory"),
        ("${hydra.job.override_dirname}", "gives every job the same directory"),
        ("../escaped/${hydra.job.num}", "is not a directory directly inside the sweep directory"),
        ("${hydra.job.num}/..", "is not a directory directly inside the sweep directory"),
        ("a/${hydra.job.num}", "is not a directory directly inside the sweep directory"),
        ("", "is not a directory directly inside the sweep directory"),
        ("/abs/${hydra.job.num}", "is an absolute path"),
    ],
)
def test_a_job_subdir_that_is_shared_or_outside_the_sweep_is_refused_before_any_write(
    tmp_path, monkeypatch, capsys, subdir, what
):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "sweep"
    args = ["-m", "output.format=csv,npy", f"hydra.sweep.dir={root}"]
    assert main([*args, f"hydra.sweep.subdir={subdir}"]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"fpexp: error: hydra.sweep.subdir: {subdir!r} {what} {SUBDIR_ALLOWED}"
    ]
    assert list(tmp_path.iterdir()) == [] and "sweep summary" not in out


@pytest.mark.usefixtures("undrawn")
@pytest.mark.parametrize("subdir", ["run_${hydra.job.num}", "${hydra.job.id}"])
def test_a_job_subdir_of_its_own_lists_every_job(tmp_path, monkeypatch, capsys, subdir):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "sweep"
    args = ["-m", "seed=1,2", f"hydra.sweep.dir={root}", f"hydra.sweep.subdir={subdir}"]
    assert main(args) == 0
    table = [(r["job"], r["status"], r["run_dir"]) for r in rows(root)]
    dirs = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [(job, status) for job, status, _ in table] == [("0", "completed"), ("1", "completed")]
    assert [d for _, _, d in table] == dirs and len(set(dirs)) == 2
    assert "2 jobs, 0 not completed" in capsys.readouterr().out


@pytest.mark.slow  # a fresh interpreter: which modules it imports
def test_writing_a_summary_imports_no_torch(tmp_path):
    """After a signal torch may be half-imported: importing it again crashes the summary."""
    code = (
        "import sys, pathlib; from fpexp.summary import write_summary; import fpexp.cli; "
        f"write_summary(pathlib.Path({str(tmp_path)!r}), [['seed=1']]); "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'torch'], 'torch imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "not run" in (tmp_path / "summary.md").read_text()


@pytest.mark.parametrize("name", ["summary.csv", "summary.md", "summary.png"])
def test_a_full_disk_while_writing_the_summary_is_one_line_and_the_table_still_shows(
    tmp_path, monkeypatch, capsys, name
):
    import fpexp.summary
    import fpexp.summary_plot

    monkeypatch.chdir(tmp_path)
    real = fpexp.summary.write_text

    def full(path, text, *a, **k):
        if Path(path).name == name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, text, *a, **k)

    def full_png(path, *a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(fpexp.summary, "write_text", full)
    if name == "summary.png":
        monkeypatch.setattr(fpexp.summary_plot, "plot_summary", full_png)
        monkeypatch.setattr(fpexp.summary_plot, "Renderer", _no_renderer)
    root = tmp_path / "sweep"
    assert main(["-m", "seed=1,2", f"hydra.sweep.dir={root}"]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"fpexp: error: sweep: no space left on device (while writing {name})"
    ]
    assert "| completed" in out and "sweep summary" not in out
    assert not (root / name).exists()


SIGNAL_IN = """
import importlib.abc, os, signal, sys
from pathlib import Path

class SignalOn(importlib.abc.MetaPathFinder):
    '''Send {sig} to this process as {module} starts importing (once).'''
    fired = False
    def find_spec(self, name, path=None, target=None):
        if name == {module!r} and not SignalOn.fired:
            SignalOn.fired = True
            os.kill(os.getpid(), signal.{sig})
        return None

sys.meta_path.insert(0, SignalOn())
from fpexp.cli import main
code = main({args!r})
print('torch' in sys.modules, file=sys.stderr)
sys.exit(code)
"""


def _signalled(tmp_path: Path, sig: str, module: str, args: list[str]):
    script = SIGNAL_IN.format(sig=sig, module=module, args=args)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_first_job_imports_torch_still_writes_the_summary(tmp_path, sig):
    root = tmp_path / "sweep"
    done = _signalled(tmp_path, sig, "torch.nn", ["-m", "seed=1,2,3", f"hydra.sweep.dir={root}"])
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "fpexp: interrupted" in done.stderr
    statuses = [r["status"] for r in rows(root)]
    assert statuses[1:] == ["not run", "not run"] and statuses[0] != "completed"
    assert "3 jobs, 3 not completed" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("module", ["fpexp.app", "torch"])
def test_a_sigterm_before_the_runs_record_exists_exits_130(tmp_path, module):
    done = _signalled(tmp_path, "SIGTERM", module, [f"hydra.run.dir={tmp_path / 'run'}"])
    assert done.returncode == 130, done.stderr
    assert "fpexp: interrupted" in done.stderr and "Traceback" not in done.stderr
    record = tmp_path / "run" / "run.json"
    if module == "fpexp.app":  # stopped before the record exists
        assert not record.exists()
    else:  # torch: in the run's import phase
        assert json.loads(record.read_text())["status"] == "interrupted"
