"""fpexp runs / diff / rerun, driven as a user does, on real runs."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest
from conftest import call_fpexp
from support import record


def hashes(run_dir: Path) -> dict[str, str]:
    return {k: v["sha256"] for k, v in record(run_dir)["outputs"].items()}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A working directory with a 4-job sweep, then a single run with another seed."""
    ws = tmp_path_factory.mktemp("ws")
    done = call_fpexp(["-m", "model.width=2,4", "task=binary,multiclass"], ws)
    assert done.returncode == 0, done.stderr
    done = call_fpexp(["seed=7", "model.activation=relu"], ws)
    assert done.returncode == 0, done.stderr
    return ws


def sweep_jobs(ws: Path) -> list[Path]:
    (sweep,) = (ws / "outputs" / "multirun").glob("*/*")
    return sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def test_runs_lists_everything_newest_first(workspace):
    done = call_fpexp(["runs", "--json"], workspace)
    rows = json.loads(done.stdout)
    assert len(rows) == 5
    assert [r["started_at"] for r in rows] == sorted((r["started_at"] for r in rows), reverse=True)
    newest = rows[0]
    assert newest["run"].startswith("outputs/2") and newest["model.activation"] == "relu"
    assert {r["task.kind"] for r in rows} == {"binary", "multiclass"}
    assert all(r["status"] == "completed" for r in rows)
    text = call_fpexp(["runs"], workspace).stdout.splitlines()
    assert text[0].split()[:3] == ["when", "run", "status"]  # then what differs, then metrics
    assert {"task.kind", "model.width", "model.activation", "seed"} <= set(text[0].split())
    assert len(text) == 6 and "outputs/multirun/" in text[-1]
    assert len(call_fpexp(["runs", "--last", "2"], workspace).stdout.splitlines()) == 3


def test_runs_status_filter(tmp_path):
    assert call_fpexp(["model.hidden=[0]"], tmp_path).returncode == 2
    assert call_fpexp([], tmp_path).returncode == 0
    failed = json.loads(call_fpexp(["runs", "--json", "--status", "failed"], tmp_path).stdout)
    assert [r["status"] for r in failed] == ["failed"]
    assert "width 0 is not positive" in failed[0]["note"]
    (tmp_path / "empty").mkdir()
    assert "no runs under" in call_fpexp(["runs", str(tmp_path / "empty")], tmp_path).stdout
    assert call_fpexp(["runs", str(tmp_path / "none")], tmp_path).returncode == 2  # a typo


def test_references(workspace):
    jobs = sweep_jobs(workspace)
    latest = json.loads(call_fpexp(["runs", "--json"], workspace).stdout)[0]["run"]
    same = call_fpexp(["diff", "@latest", latest], workspace)
    assert same.returncode == 0 and same.stdout.startswith("no differences")
    second = json.loads(
        call_fpexp(["diff", "@-2", f"{jobs[0].parent}:3", "--json"], workspace).stdout
    )
    assert second["a"] == second["b"] == str(jobs[3].relative_to(workspace))
    bad = call_fpexp(["diff", "@-9", "@latest"], workspace)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("fpexp: error: @-9: there are only 5 runs (newest: outputs/")
    missing = call_fpexp(["diff", "nowhere", "@latest"], workspace)
    assert missing.returncode == 2
    assert missing.stderr.startswith("fpexp: error: nowhere: no such run (newest: ")
    assert len(missing.stderr.splitlines()) == 1


def test_diff_formats(workspace):
    jobs = sweep_jobs(workspace)
    a, b = str(jobs[0]), str(jobs[1])  # width 2: binary vs multiclass
    text = call_fpexp(["diff", a, b], workspace).stdout
    assert "task: binary → multiclass   (config group)" in text
    assert "task.out_features: 1 → 3" in text
    assert "outputs: not compared: shapes differ: [5, 1] vs [5, 3]" in text
    data = json.loads(call_fpexp(["diff", a, b, "--json"], workspace).stdout)
    assert data["groups"] == [{"group": "task", "a": "binary", "b": "multiclass"}]
    assert {c["key"] for c in data["config"]["changed"]} == {
        "task.kind",
        "task.out_features",
        "task.threshold",  # task.classes: null in both (the lesson data names the classes)
    }
    md = call_fpexp(["diff", a, b, "--md"], workspace).stdout.splitlines()
    table = [line for line in md if line.startswith("|")]
    assert table[0] == "| key | a | b |" and table[1] == "|---|---|---|"
    assert all(line.count("|") - line.count("\\|") == 4 for line in table)


def test_diff_outputs_numeric(workspace):
    jobs = sweep_jobs(workspace)
    data = json.loads(call_fpexp(["diff", str(jobs[0]), str(jobs[2]), "--json"], workspace).stdout)
    assert data["config"]["changed"] == [{"key": "model.width", "a": 2, "b": 4}]
    col = data["outputs"]["columns"]["mammal"]
    assert col["max_abs_diff"] > 0 and not col["identical"]
    assert set(data["outputs"]["flipped"]) <= {"dog", "platypus", "eagle", "tortoise", "snake"}


def test_diff_of_a_run_with_itself_is_empty(workspace):
    job = str(sweep_jobs(workspace)[1])
    rel = Path(job).relative_to(workspace)
    assert (
        call_fpexp(["diff", job, job], workspace).stdout
        == f"no differences between {rel} and {rel}\n"
    )
    data = json.loads(call_fpexp(["diff", job, job, "--json"], workspace).stdout)
    assert data["empty"] is True and data["groups"] == [] and data["environment"] == []
    assert call_fpexp(["diff", job, job, "--overrides"], workspace).stdout == ""


def test_round_trip_over_every_pair(workspace, tmp_path):
    runs = [
        *sweep_jobs(workspace),
        Path(json.loads(call_fpexp(["runs", "--json"], workspace).stdout)[0]["run"]),
    ]
    runs = [workspace / r if not r.is_absolute() else r for r in runs]
    for i, (a, b) in enumerate(itertools.permutations(runs, 2)):
        overrides = call_fpexp(["diff", str(a), str(b), "--overrides"], workspace).stdout.split()
        out = tmp_path / f"r{i}"
        done = call_fpexp(["rerun", str(a), *overrides, f"hydra.run.dir={out}"], tmp_path)
        assert done.returncode == 0, (a, b, overrides, done.stderr)
        assert record(out)["config"] == record(b)["config"], (a, b, overrides)
        assert hashes(out) == hashes(b), (a, b, overrides)
        assert record(out)["command"]["rerun_of"] == str(a.resolve())


def test_rerun_check_identical_then_tampered(workspace, tmp_path):
    original = tmp_path / "orig"
    shutil.copytree(sweep_jobs(workspace)[3], original)
    ok = call_fpexp(["rerun", str(original), "--check"], tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.rstrip().endswith("reproduced: identical")
    rerun_dir = Path(ok.stdout.split("rerun:")[1].split()[0])
    assert record(tmp_path / rerun_dir)["weights"]["origin"] == "rerun"
    outputs = original / "outputs.csv"
    lines = outputs.read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ",0.5"
    outputs.write_text("\n".join(lines) + "\n")
    bad = call_fpexp(["rerun", str(original), "--check"], tmp_path)
    assert bad.returncode == 1
    assert "outputs.csv: changed since the run" in bad.stdout
    assert "outputs.csv: differs (max abs diff" in bad.stdout
    assert "predictions.csv" not in bad.stdout.split("rerun:")[1]  # only the tampered file


def test_rerun_with_changed_seed_differs_and_check_says_so(workspace, tmp_path):
    job = str(sweep_jobs(workspace)[0])
    done = call_fpexp(["rerun", job, "seed=1", "--check"], tmp_path)
    assert done.returncode == 1
    assert "reproduced: differs" in done.stdout and "weights.safetensors: differs" in done.stdout


def test_rerun_rejects_flags(workspace):
    done = call_fpexp(["rerun", "@latest", "-m"], workspace)
    assert done.returncode == 2
    assert (
        done.stderr == "fpexp: error: rerun: unrecognized arguments: -m (see fpexp rerun --help)\n"
    )


def test_subcommand_help(tmp_path):
    for command in ("runs", "diff", "rerun", "compare"):
        done = call_fpexp([command, "--help"], tmp_path)
        assert done.returncode == 0 and f"usage: fpexp {command}" in done.stdout
