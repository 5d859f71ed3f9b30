"""``fpexp resume SWEEP_DIR``: the jobs of a sweep that did not complete run again with their
own numbers and overrides, with the sweep's launcher, into the same sweep directory; completed
jobs stay byte-for-byte as they were; a bad sweep directory is refused with one line."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import call_fpexp, start_fpexp

from fpexp.liveness import process_info
from fpexp.resume_launch import SelectiveLauncher

SWEPT = ("model.hidden=[1],[2],[3],[4]", "data=animals")


def _sweep(where: Path, *args: str) -> Path:
    done = call_fpexp(["-m", *args, f"hydra.sweep.dir={where}"], where.parent, timeout=300)
    assert done.returncode == 0, done.stderr
    return where


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A completed 4-job sweep, copied by each test that changes one."""
    return _sweep(tmp_path_factory.mktemp("resume") / "sweep", *SWEPT)


@pytest.fixture
def copy(finished: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "sweep", symlinks=True))


def files(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root`` with its bytes and modification time (ns)."""
    found = (p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in found}


def record(job: Path) -> dict:
    return json.loads((job / "run.json").read_text())


def summary(root: Path) -> list[dict[str, str]]:
    """summary.csv without what differs between two runs of a job (its duration)."""
    with open(root / "summary.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k != "duration_s"} for row in csv.DictReader(fh)]


def resume(root: Path, *flags: str, cwd: Path | None = None):
    return call_fpexp(["resume", str(root), *flags], cwd or root.parent)


def _fail(job: Path, error: str = "RuntimeError: boom") -> None:
    rec = record(job)
    rec.update(status="failed", error=error)
    (job / "run.json").write_text(json.dumps(rec))


def test_failed_and_never_started_jobs_rerun_and_completed_jobs_stay_untouched(finished, copy):
    _fail(copy / "1")
    shutil.rmtree(copy / "3")
    kept = {n: files(copy / n) for n in ("0", "2")}
    done = resume(copy, cwd=finished.parent)  # where the sweep ran: hydra.runtime.cwd
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"{copy}: 2 of 4 jobs did not complete" in out
    assert "job 1 (model.hidden=[2] data=animals): failed: RuntimeError: boom" in out
    assert "job 3 (model.hidden=[4] data=animals): never started" in out
    assert f"note: hydra.sweep.dir={finished} is now hydra.sweep.dir={copy}" in out
    assert f"sweep summary: {copy}/summary.md (4 jobs, 0 not completed)" in out
    assert {n: files(copy / n) for n in ("0", "2")} == kept  # bytes and mtimes
    for n in (1, 3):  # the same job: number, overrides, results, Hydra config
        new, old = record(copy / str(n)), record(finished / str(n))
        assert new["status"] == "completed" and new["command"]["job_num"] == n
        assert new["outputs"] == old["outputs"] and new["config"] == old["config"]
        assert new["command"]["overrides"] == old["command"]["overrides"]
        for name in ("hydra.yaml", "overrides.yaml", "config.yaml"):
            text = (finished / str(n) / ".hydra" / name).read_text()
            assert (copy / str(n) / ".hydra" / name).read_text() == text.replace(
                str(finished), str(copy)
            )
    (aside,) = (copy / ".resumed").iterdir()  # the failed job's directory, kept
    assert aside.name.startswith("1-") and record(aside)["error"] == "RuntimeError: boom"
    assert summary(copy) == summary(finished)
    assert (copy / "multirun.yaml").read_bytes() == (finished / "multirun.yaml").read_bytes()
    assert (copy / "sweep.json").read_bytes() == (finished / "sweep.json").read_bytes()


def test_the_python_api_resumes_as_the_cli_does(finished, copy, monkeypatch, capsys):
    import fpexp

    _fail(copy / "1")
    shutil.rmtree(copy / "3")
    kept = files(copy / "0")
    assert fpexp.resume(copy, dry_run=True).dir == copy  # says it, changes nothing
    assert "job 1 (model.hidden=[2] data=animals): failed: RuntimeError: boom" in (
        capsys.readouterr().out
    )
    assert not (copy / "3").exists()
    monkeypatch.chdir(finished.parent)  # where the sweep ran: hydra.runtime.cwd
    made = fpexp.resume(fpexp.Sweep(copy))
    assert [r.status for r in made.runs] == ["completed"] * 4 and files(copy / "0") == kept
    assert [r.record["outputs"] for r in made.runs] == [
        record(finished / str(n))["outputs"] for n in range(4)
    ]
    assert summary(copy) == summary(finished)
    with pytest.raises(fpexp.UsageError) as refused:
        fpexp.resume(copy / "0")
    (problem,) = refused.value.problems
    assert (problem.key, problem.what) == (
        f"{copy / '0' / 'sweep.json'}",
        "is missing: no plan of the sweep's jobs to resume",
    )
    with pytest.raises(fpexp.UsageError, match="not a sweep directory but a int"):
        fpexp.resume(3)


def test_dry_run_says_what_it_would_rerun_and_changes_nothing(copy):
    (copy / "2" / "run.json").write_text("{not json")
    ended = subprocess.Popen(["true"])
    ended.wait()  # reaped: its pid names no process
    rec, dead = record(copy / "0"), {**process_info(), "pid": ended.pid, "start_ticks": None}
    rec.update(status="running", process=dead)  # a SIGKILLed job: its record says running
    (copy / "0" / "run.json").write_text(json.dumps(rec))
    before = files(copy)
    done = resume(copy, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "sweep: 2 of 4 jobs did not complete" in done.stdout
    assert "job 0 (model.hidden=[1] data=animals): stale: its process died while it ran" in (
        done.stdout
    )
    assert "job 2 (model.hidden=[3] data=animals): unreadable: run.json is not valid JSON" in (
        done.stdout
    )
    assert files(copy) == before


@pytest.mark.parametrize("swap", ["directories", "overrides"])
def test_a_job_directory_holding_another_jobs_run_is_rerun_not_believed(finished, copy, swap):
    """Two job directories swapped (or a record naming other overrides): their values would be
    listed under the other job's overrides and resume would keep them as completed."""
    if swap == "directories":
        (copy / "1").rename(copy / "x")
        (copy / "2").rename(copy / "1")
        (copy / "x").rename(copy / "2")
        why = {1: "job 2's run, not job 1's", 2: "job 1's run, not job 2's"}
    else:
        for n, hidden in ((1, "[7]"), (2, "[8]")):
            rec = record(copy / str(n))
            rec["command"]["overrides"] = [f"model.hidden={hidden}", "data=animals"]
            (copy / str(n) / "run.json").write_text(json.dumps(rec))
        why = {n: f"other overrides than job {n}'s plan" for n in (1, 2)}
    done = resume(copy, cwd=finished.parent)
    assert done.returncode == 0, done.stderr
    for n, hidden in ((1, "[2]"), (2, "[3]")):
        assert (
            f"job {n} (model.hidden={hidden} data=animals): unreadable: its run.json records"
            in (done.stdout)
        )
        assert why[n] in done.stdout
        new, old = record(copy / str(n)), record(finished / str(n))
        assert new["outputs"] == old["outputs"] and new["command"]["job_num"] == n
    assert len(list((copy / ".resumed").iterdir())) == 2  # both kept aside, nothing lost
    assert summary(copy) == summary(finished)
    listed = call_fpexp(["runs", str(copy), "--json"], copy.parent)
    assert sorted(Path(r["run"]).name for r in json.loads(listed.stdout)) == ["0", "1", "2", "3"]
    aside = call_fpexp(["runs", str(copy / ".resumed"), "--json"], copy.parent)
    assert len(json.loads(aside.stdout)) == 2  # listed where they were put


def _swap(copy: Path) -> None:
    (copy / "1").rename(copy / "x")
    (copy / "2").rename(copy / "1")
    (copy / "x").rename(copy / "2")


SWAPPED = "unreadable run: its run.json records job 2's run, not job 1's"


@pytest.mark.parametrize(
    "args",
    [
        ["diff", "{s}:1", "{s}:0"],
        ["compare", "{s}:1", "{s}:0"],
        ["rerun", "{s}:1"],
        ["report", "{s}:1", "{s}:0", "-o", "{s}/../r.html"],  # listed, with why
    ],
)
def test_every_command_sees_a_swapped_job_directory_as_another_jobs_run(copy, args):
    """Found by a hostile review: compare SWEEP saw the swap, but SWEEP:N, diff, report and
    runs believed the directory (the one check is now in catalog.load_run)."""
    _swap(copy)
    done = call_fpexp([a.format(s=copy) for a in args], copy.parent)
    if args[0] == "report":
        assert done.returncode == 0, done.stderr
        page = (copy.parent / "r.html").read_text()
        assert '<tr class="unreadable">' in page and "records job 2&#x27;s run" in page
    else:
        assert (done.returncode, done.stdout) == (2, ""), done.stdout
        assert done.stderr.startswith(f"fpexp: error: sweep/1: {SWAPPED}"), done.stderr
    listed = json.loads(call_fpexp(["runs", str(copy), "--json"], copy.parent).stdout)
    notes = {Path(r["run"]).name: r.get("note") for r in listed if r["status"] == "unreadable"}
    assert notes == {
        "1": "its run.json records job 2's run, not job 1's",
        "2": "its run.json records job 1's run, not job 2's",
    }


def test_nothing_to_resume_says_so_and_touches_nothing(copy):
    before = files(copy)
    done = resume(copy)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "nothing to resume: all 4 jobs of sweep completed\n"
    assert files(copy) == before and not (copy / ".resumed").exists()


def test_a_job_that_fails_again_fails_the_resume_as_the_sweep_did_then_completes(tmp_path):
    import fpexp

    animals = (Path(fpexp.__file__).parent / "data" / "animals.csv").read_text()
    data = [tmp_path / "a.csv", tmp_path / "b.csv"]
    data[0].write_text(animals)
    data[1].write_text(animals.replace(",1,", ",x,", 1))  # a feature that is not a number
    args = ("data=file", "data.id=name", f"data.path={data[0]},{data[1]}")
    root = tmp_path / "sweep"
    first = call_fpexp(["-m", *args, f"hydra.sweep.dir={root}"], tmp_path)
    assert first.returncode == 2 and record(root / "1")["status"] == "failed"
    kept = files(root / "0")
    again = resume(root)
    assert again.returncode == first.returncode, again.stderr  # exit code as fpexp -m's
    assert "sweep summary: sweep/summary.md (2 jobs, 1 not completed)" in again.stdout
    assert "job 1 failed: data.path: " in again.stderr and "is not a number" in again.stderr
    data[1].write_text(animals)
    done = resume(root)
    assert done.returncode == 0, done.stderr
    assert record(root / "1")["status"] == "completed" and files(root / "0") == kept
    assert [r["status"] for r in summary(root)] == ["completed", "completed"]
    aside = sorted((root / ".resumed").iterdir())  # both failed attempts, kept
    assert [p.name[:2] for p in aside] == ["1-", "1-"]
    assert all(record(p)["status"] == "failed" for p in aside)


TIMES = {"started_at", "ended_at", "duration_s", "phases_s", "process"}


def test_a_rerun_job_records_what_the_uninterrupted_sweep_recorded_apart_from_times(tmp_path):
    root = _sweep(tmp_path / "sweep", "seed=1,2")
    reference = tmp_path / "reference"
    shutil.copytree(root / "1", reference)
    shutil.rmtree(root / "1")
    assert resume(root).returncode == 0
    new, old = record(root / "1"), record(reference)
    assert {k: v for k, v in new.items() if k not in TIMES} == {
        k: v for k, v in old.items() if k not in TIMES
    }
    for name in ("hydra.yaml", "config.yaml", "overrides.yaml"):
        assert (root / "1" / ".hydra" / name).read_bytes() == (
            reference / ".hydra" / name
        ).read_bytes()


def test_jobs_rerun_in_the_directory_the_sweep_ran_in(tmp_path):
    import fpexp

    ran, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    ran.mkdir(), elsewhere.mkdir()
    shutil.copy(Path(fpexp.__file__).parent / "data" / "animals.csv", ran / "a.csv")
    args = ["-m", "seed=1,2", "data=file", "data.id=name", "data.path=a.csv"]
    assert call_fpexp([*args, "hydra.sweep.dir=sweep"], ran).returncode == 0
    reference = record(ran / "sweep" / "1")
    shutil.rmtree(ran / "sweep" / "1")
    done = resume(ran / "sweep", cwd=elsewhere)  # a.csv is relative to the project
    assert done.returncode == 0, done.stderr
    assert f"note: jobs run in {ran}, the working directory the sweep ran in" in done.stdout
    rec = record(ran / "sweep" / "1")
    assert rec["outputs"] == reference["outputs"] and rec["command"] == reference["command"]


def _no_plan(root: Path) -> str:
    (root / "sweep.json").unlink()
    return "sweep/sweep.json: is missing: no plan of the sweep's jobs to resume"


def _not_a_sweep(root: Path) -> str:
    (root / "multirun.yaml").unlink()
    return "sweep/multirun.yaml: is missing: not a sweep directory (a directory of fpexp -m)"


def _linked_job(root: Path) -> str:
    shutil.rmtree(root / "2")
    (root / "2").symlink_to(root / "0")
    return "sweep/2: is a link, not a job directory its sweep made (a directory)"


def _alive(root: Path) -> str:
    rec = record(root / "1")
    rec.update(status="running", process=process_info())  # this test's own process
    (root / "1" / "run.json").write_text(json.dumps(rec))
    return "job 1: is still running (wait for it, or stop its process first)"


def _hostile_hydra(root: Path) -> str:
    text = (root / "multirun.yaml").read_text()
    hostile = "    - hydra.callbacks.x._target_=os.system\n"
    (root / "multirun.yaml").write_text(text.replace("    hydra:\n", "    hydra:\n" + hostile, 1))
    return "hydra.callbacks.x._target_: not resumed from a sweep record"


def _launcher_writes_elsewhere(root: Path) -> str:
    text = (root / "multirun.yaml").read_text()
    hostile = "    - hydra.launcher.temp_folder=/tmp/elsewhere\n"
    (root / "multirun.yaml").write_text(text.replace("    hydra:\n", "    hydra:\n" + hostile, 1))
    return "hydra.launcher.temp_folder: '/tmp/elsewhere' is outside the sweep directory"


def _hostile_job(root: Path) -> str:
    plan = json.loads((root / "sweep.json").read_text())
    plan["jobs"][0]["overrides"].append("model.layers=[{_target_:os.system,command:ls}]")
    (root / "sweep.json").write_text(json.dumps(plan))
    return "model.layers[0]._target_: 'os.system' from a record would import 'os'"


def _sweep_alive(root: Path) -> str:
    rec = record(root / "0")
    rec["process"] = {**process_info(), "pid": os.getppid(), "start_ticks": None}
    (root / "0" / "run.json").write_text(json.dumps(rec))  # completed; its sweep still runs
    return f"job 0: the process that ran it (pid {os.getppid()}) still runs"


def _aside_link(root: Path) -> str:
    (root / ".resumed").symlink_to(root.parent)  # old job dirs would leave the sweep
    return "sweep/.resumed: is not a directory the resume made (a directory, or nothing)"


def _other_plan(root: Path) -> str:
    plan = json.loads((root / "sweep.json").read_text())
    plan["jobs"][3]["overrides"][0] = "model.hidden=[9]"  # valid, but not what the sweep ran
    (root / "sweep.json").write_text(json.dumps(plan))
    where = root / "sweep.json"  # shown from where the jobs run: the sweep's own directory
    return f"{where}: Hydra expands the sweep's command line into other jobs than this plan"


@pytest.mark.parametrize(
    "damage",
    [
        *(_no_plan, _not_a_sweep, _linked_job, _alive, _sweep_alive),
        *(_hostile_hydra, _hostile_job, _aside_link, _other_plan, _launcher_writes_elsewhere),
    ],
)
def test_a_sweep_that_cannot_be_resumed_is_refused_with_one_line(copy, damage):
    _fail(copy / "3")
    expected = damage(copy)
    before = files(copy)
    done = resume(copy)
    assert done.returncode == 2
    assert done.stdout == "" or damage is _other_plan  # found once Hydra expands the sweep
    assert done.stderr.startswith(f"fpexp: error: {expected}"), done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    assert files(copy) == before


def test_a_path_that_is_not_a_directory_is_refused(tmp_path):
    (tmp_path / "sweep").write_text("")
    done = resume(tmp_path / "sweep")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "fpexp: error: sweep: is not a directory (a sweep directory of fpexp -m)\n"
    )


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[list[list[str]], int]] = []

    def launch(self, batch, initial_job_idx):
        self.calls.append(([list(b) for b in batch], initial_job_idx))
        return [f"ran {initial_job_idx + i}" for i in range(len(batch))]


def test_only_the_chosen_jobs_are_launched_consecutive_ones_together_with_their_numbers():
    inner, moved = _Recorder(), []
    launcher = SelectiveLauncher(inner, {5, 6, 8, 20}, moved.append)
    batch = [[f"seed={n}"] for n in range(4, 10)]  # jobs 4..9 of a sweep, one batch
    assert launcher.launch(batch, initial_job_idx=4) == ["ran 5", "ran 6", "ran 8"]
    assert inner.calls == [([["seed=5"], ["seed=6"]], 5), ([["seed=8"]], 8)]
    assert moved == [5, 6, 8]
    assert launcher.launch([["seed=0"]], initial_job_idx=0) == []


# In-process (not slow): the sweep and the resume share loky's worker pool, as the other joblib
# tests of a test worker do (two processes took 18 s, each starting loky's workers cold).
def test_a_joblib_sweep_resumes_with_joblib(tmp_path):
    root = _sweep(tmp_path / "sweep", "seed=1,2,3", "hydra/launcher=joblib")
    reference = {n: record(root / str(n))["outputs"] for n in range(3)}
    _fail(root / "0")
    shutil.rmtree(root / "2")
    done = resume(root)
    assert done.returncode == 0, done.stderr
    log = (root / "0" / "fpexp.log").read_text() + done.stdout + done.stderr
    assert "is launching 1 jobs, each in a process of its own" in log, log
    assert {n: record(root / str(n))["outputs"] for n in range(3)} == reference
    hydra = (root / "2" / ".hydra" / "hydra.yaml").read_text()
    assert "IsolatingJoblibLauncher" in hydra and "- hydra/launcher=joblib" in hydra


TWELVE = "model.hidden=" + ",".join(f"[{n}]" for n in range(1, 13))


@pytest.mark.slow  # the sweep's own process, killed
def test_a_sigkilled_sweep_resumed_equals_an_uninterrupted_sweep(tmp_path):
    killed = tmp_path / "killed"
    proc = start_fpexp(tmp_path, "-m", TWELVE, "data=animals", f"hydra.sweep.dir={killed}")
    deadline, status = time.monotonic() + 60, {}
    while time.monotonic() < deadline and proc.poll() is None:
        status = {p.parent.name: p.read_text() for p in killed.glob("*/run.json")}
        completed = sum('"completed"' in text for text in status.values())
        running = any('"running"' in text for text in status.values())
        if completed >= 6 and (running or completed >= 8):  # mid-job, if caught there
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert not (killed / "summary.csv").exists() and not (killed / "11").exists()
    left = [n for n in range(12) if '"completed"' not in status.get(str(n), "")]
    kept = {n: files(killed / str(n)) for n in range(12) if n not in left}
    resumed = resume(killed)
    assert resumed.returncode == 0, resumed.stderr
    lines = resumed.stdout.splitlines()
    reruns = [int(line.split()[1]) for line in lines if line.startswith("job ") and " (" in line]
    assert reruns == left and f"killed: {len(left)} of 12 jobs did not complete" in resumed.stdout
    assert {n: files(killed / str(n)) for n in kept} == kept
    first, last = record(killed / "0")["command"], record(killed / "11")["command"]
    assert last == {**first, "overrides": ["model.hidden=[12]", "data=animals"], "job_num": 11}
    whole = _sweep(tmp_path / "whole", TWELVE, "data=animals")
    for n in range(12):
        assert record(killed / str(n))["outputs"] == record(whole / str(n))["outputs"], n
    assert summary(killed) == summary(whole)


def _add_to_command_line(root: Path, *entries: str) -> None:
    import yaml

    master = yaml.safe_load((root / "multirun.yaml").read_text())
    master["hydra"]["overrides"]["task"] += list(entries)
    (root / "multirun.yaml").write_text(yaml.safe_dump(master))


# Found by a hostile review: Hydra settings in the recorded command line left the jobs as
# sweep.json says (the check passed) but ran: a callback truncated a completed job's outputs.
@pytest.mark.parametrize(
    "entries, key",
    [
        (
            ["+hydra.callbacks.x._target_=builtins.open", "+hydra.callbacks.x._args_=[a,w]"],
            "hydra.callbacks.x._target_",
        ),
        (["hydra.sweep.dir=elsewhere"], "hydra.sweep.dir"),
        (["hydra/launcher=joblib"], "hydra/launcher"),
    ],
    ids=["callback", "sweep-dir", "launcher"],
)
def test_hydra_settings_in_the_recorded_command_line_are_refused(copy, entries, key):
    _fail(copy / "1")
    _add_to_command_line(copy, *entries)
    before = files(copy)
    done = resume(copy)
    assert done.returncode == 2
    assert f"fpexp: error: {key}: a Hydra setting in the sweep's job overrides is not resumed" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr
    assert files(copy) == before


def test_a_sweep_path_hydra_would_interpolate_is_refused(finished, tmp_path):
    odd = Path(shutil.copytree(finished, tmp_path / "sw ${oc.env:HOME}", symlinks=True))
    _fail(odd / "1")
    before = files(odd)
    done = resume(odd)
    assert done.returncode == 2
    assert "which Hydra would read as an interpolation" in done.stderr
    assert files(odd) == before


def test_a_second_resume_of_the_same_sweep_is_refused_while_one_runs(copy):
    import fcntl

    _fail(copy / "1")
    held = os.open(copy, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # another resume holds it
        done = resume(copy)
    finally:
        os.close(held)
    assert done.returncode == 2
    assert done.stderr.strip().endswith("another fpexp resume of it is running")
    assert record(copy / "1")["status"] == "failed"  # nothing moved or rerun
    assert resume(copy).returncode == 0  # released: the next one runs
    assert record(copy / "1")["status"] == "completed"


def test_a_multirun_yaml_nested_too_deeply_is_one_line(copy):
    (copy / "multirun.yaml").write_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    done = resume(copy, "--dry-run")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().endswith("multirun.yaml: unreadable (nested too deeply)")
