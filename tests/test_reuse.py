"""reuse=true and the content key: a finished run is never recomputed, and never reused when
its files changed since; a rerun always recomputes."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import call_fpexp

import fpexp
from fpexp.catalog import shown
from fpexp.cli import main
from fpexp.content_key import EXCLUDED, content_key, key_of_record

BASE = ("data=file", "data.path=x.npy", "model.weights=w.safetensors", "model.width=3")


def _record(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "run.json").read_text())


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """A working directory with an input (x.npy) and weights that fit it (w.safetensors)."""
    here = tmp_path_factory.mktemp("reuse_files")
    rng = np.random.default_rng(0)
    np.save(here / "x.npy", rng.standard_normal((40, 4)).astype(np.float32))
    old = Path.cwd()
    os.chdir(here)
    try:
        seeded = fpexp.run("data=file", "data.path=x.npy", "model.width=3", root="seed")
    finally:
        os.chdir(old)
    (here / "w.safetensors").write_bytes((seeded.dir / "weights.safetensors").read_bytes())
    return here


def _key(cwd: Path, *overrides: str, name: str) -> str:
    run_dir = cwd / "keys" / name
    old = Path.cwd()
    os.chdir(cwd)
    try:
        assert main([*overrides, f"hydra.run.dir={run_dir}"]) == 0
    finally:
        os.chdir(old)
    rec = _record(run_dir)
    assert key_of_record(rec) == rec["content_key"]  # the record alone gives its key
    return rec["content_key"]


def _changed_copy(src: Path, dst: Path, offset: int) -> None:
    data = bytearray(src.read_bytes())
    data[offset] ^= 0x01  # one bit of a float: another value, the same size
    dst.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def base_key(files) -> str:
    first = _key(files, *BASE, name="base")
    assert _key(files, *BASE, name="base_again") == first  # stable across runs
    return first


SEEDED = ("data=file", "data.path=x.npy", "model.width=3")  # no weights file: any width fits
SIBLINGS = {
    "seed": ["seed=7"],
    "model": [*SEEDED, "model.width=5"],
    "output.format": ["output.format=parquet"],
    "data file bytes": ["data.path=x_changed.npy"],
    "weights bytes": ["model.weights=w_changed.safetensors"],
}


@pytest.mark.parametrize("name", sorted(SIBLINGS))
def test_a_determining_value_changes_the_key(files, base_key, name):
    _changed_copy(files / "x.npy", files / "x_changed.npy", -1)
    _changed_copy(files / "w.safetensors", files / "w_changed.safetensors", -1)
    base = base_key if name != "model" else _key(files, *SEEDED, name="seeded")
    changed = SIBLINGS[name] if name == "model" else [*BASE, *SIBLINGS[name]]
    assert _key(files, *changed, name=name.replace(" ", "_")) != base


LOCATIONS = {
    "progress": ["progress=false"],
    "reuse": ["reuse=false"],
    "data.path (same bytes)": ["data.path=copy/x.npy"],
    "model.weights (same bytes)": ["model.weights=copy/w.safetensors"],
}


@pytest.mark.parametrize("name", sorted(LOCATIONS))
def test_locations_and_presentation_leave_the_key(files, base_key, name):
    (files / "copy").mkdir(exist_ok=True)
    for file in ("x.npy", "w.safetensors"):
        (files / "copy" / file).write_bytes((files / file).read_bytes())
    assert _key(files, *BASE, *LOCATIONS[name], name=name.split()[0]) == base_key


def test_the_excluded_keys_are_exactly_these():
    assert sorted(EXCLUDED) == ["data.path", "model.weights", "progress", "reuse"]
    parts = {
        "input_sha256": "a",
        "input_format": None,
        "weights_sha256": None,
        "device": "cpu",
        "versions": {"fpexp": "1", "torch": "2", "numpy": "3", "pyarrow": "4", "safetensors": "5"},
        "source": "f00d",
    }
    config = {"seed": 1, "device": "auto", "progress": True, "output": {"format": "csv"}}
    key = content_key(config, parts)
    assert content_key({**config, "progress": False, "device": "cpu"}, parts) == key
    assert content_key({**config, "output": {"format": "npy"}}, parts) != key
    assert content_key(config, {**parts, "device": "cuda"}) != key
    assert content_key(config, {**parts, "versions": {**parts["versions"], "torch": "9"}}) != key
    assert content_key(config, {**parts, "source": "beef"}) != key  # fpexp's code edited
    for package in ("pyarrow", "safetensors"):  # they write the files' bytes
        assert (
            content_key(config, {**parts, "versions": {**parts["versions"], package: "9"}}) != key
        )
    ordered = {"seed": 1, "args": {"a": 1.0, "b": 100.0}}  # a module may depend on the order
    assert content_key(ordered, parts) != content_key(
        {**ordered, "args": {"b": 100.0, "a": 1.0}}, parts
    )


# Found by a hostile review: a non-finite float or a key that is not text crashed every run
# (reuse or not), and layers from a user's module were reused after that module changed.
UNKEYABLE = {
    "an infinite argument": (
        [
            "model=layers",
            "task=regression",
            "model.layers=[{_target_:torch.nn.Linear,"
            "in_features:6,out_features:3},{_target_:torch.nn.Hardtanh,min_val:-inf,max_val:1.0},"
            "{_target_:torch.nn.Linear,in_features:3,out_features:1}]",
        ],
        "model.layers.1.min_val is -inf (recorded as null)",
    ),
}


@pytest.mark.parametrize("case", UNKEYABLE)
def test_a_config_that_cannot_be_keyed_exactly_runs_and_is_never_reused(tmp_path, capsys, case):
    overrides, why = UNKEYABLE[case]
    first = fpexp.run(*overrides, root=tmp_path)
    assert first.status == "completed" and first.record["content_key"] is None
    assert f"content_key: none, {why}: never reused, nor reusing" in first.record["notes"]
    capsys.readouterr()
    again = fpexp.run(*overrides, "reuse=true", root=tmp_path)
    assert "reused_from" not in again.record and "forward" in again.record["phases_s"]
    assert "not reused: this run has no content key (see its notes)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("config", "why"),
    [
        ({"model": {"layers": [{"_target_": "mypkg.Block"}]}}, "model.layers.0._target_ is mypkg"),
        ({"model": {"scales": {1: 1.0}}}, "model.scales.1 is a key that is not text"),
        ({"x": [float("nan")]}, "x.0 is nan (recorded as null)"),
        ({"model": {"layers": [{"_target_": "torch.nn.ReLU"}]}}, None),
    ],
)
def test_what_cannot_be_keyed(config, why):
    from fpexp.content_key import unkeyable

    found = unkeyable(config)
    assert (found is None) if why is None else found.startswith(why)


def _run(root: Path, *overrides: str) -> fpexp.Run:
    return fpexp.run("data=synthetic", "data.n_rows=30", *overrides, root=root)


def test_an_intact_run_is_reused_not_recomputed(tmp_path, capsys):
    first = _run(tmp_path)
    capsys.readouterr()
    again = _run(tmp_path, "reuse=true")
    out = capsys.readouterr().out
    rec = again.record
    assert rec["status"] == "completed"
    assert rec["reused_from"] == str(first.dir.resolve())
    assert rec["content_key"] == first.record["content_key"]
    assert "forward" not in rec["phases_s"] and "reuse" in rec["phases_s"]
    line = f"reused {shown(first.dir)} (same content key {rec['content_key'][:12]}…; "
    assert line + "its files hard-linked, every sha256 verified)" in out.splitlines()
    for name, meta in first.record["outputs"].items():
        assert os.path.samefile(first.dir / name, again.dir / name)
        assert rec["outputs"][name] == meta
    assert (again.dir / ".hydra" / "config.yaml").is_file()
    np.testing.assert_array_equal(again.outputs(), first.outputs())
    for taken in ("results", "layers", "model", "weights", "classes"):
        assert rec[taken] == first.record[taken]
    assert main(["runs", str(tmp_path), "--json", "--columns", "reused_from,note"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0] == {
        "reused_from": str(first.dir.resolve()),
        "note": f"reused from {shown(first.dir)}",
    }
    assert listed[1] == {"reused_from": None, "note": None}


def test_files_are_copied_where_hard_links_fail(tmp_path, monkeypatch):
    first = _run(tmp_path)

    def no_links(*args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    again = _run(tmp_path, "reuse=true")
    assert again.record["reused_from"] == str(first.dir.resolve())
    assert sorted(again.record["reused_copies"]) == sorted(first.record["outputs"])
    for name in first.record["outputs"]:
        assert not os.path.samefile(first.dir / name, again.dir / name)
        assert (first.dir / name).read_bytes() == (again.dir / name).read_bytes()


def _flip_byte(run_dir: Path) -> str:
    path = run_dir / "outputs.csv"
    data = bytearray(path.read_bytes())
    data[-3] = ord("7") if data[-3] != ord("7") else ord("8")
    path.write_bytes(bytes(data))
    return "outputs.csv changed since the run (sha256 "


def _remove(run_dir: Path) -> str:
    (run_dir / "layers.csv").unlink()
    return "layers.csv is missing since the run"


def _forge(run_dir: Path) -> str:
    rec = _record(run_dir)
    rec["content_key_parts"]["versions"]["torch"] = "0.0.1"  # the key no longer follows
    (run_dir / "run.json").write_text(json.dumps(rec, indent=2))
    return "its record does not give its content key"


@pytest.mark.parametrize("damage", [_flip_byte, _remove, _forge], ids=lambda f: f.__name__)
def test_a_run_whose_files_changed_is_never_reused(tmp_path, capsys, damage):
    first = _run(tmp_path)
    said = damage(first.dir)
    capsys.readouterr()
    again = _run(tmp_path, "reuse=true")
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("not reused: ")]
    assert len(lines) == 1 and said in lines[0] and "computing afresh" in out.splitlines()
    assert "reused_from" not in again.record and "forward" in again.record["phases_s"]
    for name in again.record["outputs"]:
        assert os.stat(again.dir / name).st_nlink == 1  # its own files, none linked


def test_the_newest_intact_run_of_several_is_taken(tmp_path, capsys):
    older = _run(tmp_path)
    newer = _run(tmp_path)
    _flip_byte(newer.dir)
    capsys.readouterr()
    again = _run(tmp_path, "reuse=true")
    out = capsys.readouterr().out
    assert again.record["reused_from"] == str(older.dir.resolve())
    assert out.count("not reused: ") == 1
    assert newer.dir.name in out.split("not reused: ")[1].splitlines()[0]


def test_a_run_that_did_not_complete_is_no_candidate(tmp_path, capsys):
    first = _run(tmp_path)
    failed = tmp_path / "failed"
    shutil.copytree(first.dir, failed)  # the same key, newer, but failed: never a result
    rec = {**_record(failed), "status": "failed", "outputs": {}, "error": "it failed"}
    rec["started_at"] = "2099-01-01T00:00:00.000+00:00"
    (failed / "run.json").write_text(json.dumps(rec, indent=2))
    capsys.readouterr()
    again = _run(tmp_path, "reuse=true")
    assert again.record["reused_from"] == str(first.dir.resolve())
    assert "not reused" not in capsys.readouterr().out


def test_a_sweep_with_reuse_takes_every_job_and_its_summary_says_so(tmp_path):
    args = ("data=synthetic", "data.n_rows=30", "model.width=2,3")
    first = fpexp.sweep(*args, root=tmp_path)
    again = fpexp.sweep(*args, "reuse=true", root=tmp_path)
    taken = [Path(row["reused_from"]).name for row in again.summary]
    assert taken == ["0", "1"]
    for run, original in zip(again.runs, first.runs, strict=True):
        assert run.record["reused_from"] == str(original.dir.resolve())
        np.testing.assert_array_equal(run.outputs(), original.outputs())
    assert "reused_from" in (again.dir / "summary.csv").read_text().splitlines()[0]
    assert "reused_from" not in (first.dir / "summary.csv").read_text().splitlines()[0]


def test_rerun_check_of_a_reused_run_recomputes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _run(tmp_path / "outputs")
    reused = _run(tmp_path / "outputs", "reuse=true")
    assert "reused_from" in reused.record
    capsys.readouterr()
    assert main(["rerun", str(reused.dir), "--check"]) == 0
    out = capsys.readouterr().out
    assert "reproduced: identical" in out
    new_dir = Path(out.split("rerun:")[1].split()[0])
    rec = _record(new_dir)
    assert "reused_from" not in rec and "forward" in rec["phases_s"]
    assert rec["config"]["reuse"] is False
    assert main(["rerun", str(reused.dir), "reuse=true"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "fpexp: error: reuse: a rerun always recomputes (taking the original's files would "
        "prove nothing) (leave reuse out of a rerun's overrides)"
    )


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib"])
def test_a_sweep_with_reuse_under_the_parallel_launchers(tmp_path, launcher):
    args = ("data=synthetic", "data.n_rows=30", "model.width=2,3,4")
    first = fpexp.sweep(*args, root=tmp_path, launcher=launcher)
    again = fpexp.sweep(*args, "reuse=true", root=tmp_path, launcher=launcher)
    assert [r["status"] for r in again.summary] == ["completed"] * 3
    for run, original in zip(again.runs, first.runs, strict=True):
        assert run.record["reused_from"] == str(original.dir.resolve())
        np.testing.assert_array_equal(run.outputs(), original.outputs())


def test_under_your_own_run_dirs_only_their_folder_is_looked_at_and_no_index_written(
    tmp_path, capsys
):
    """Found by a hostile review: hydra.run.dir=/tmp/x made all of /tmp the root (26 s, a
    13 MB index there, and a run from an unrelated tree reused)."""
    mine, deep = tmp_path / "mine", tmp_path / "mine" / "a" / "b" / "c"
    args = ("data=synthetic", "data.n_rows=30")
    for where in (deep / "r0", mine / "r1"):  # r0: deeper, not looked at
        assert call_fpexp([*args, f"hydra.run.dir={where}"], tmp_path).returncode == 0
    done = call_fpexp([*args, "reuse=true", f"hydra.run.dir={mine / 'r2'}"], tmp_path)
    assert done.returncode == 0 and "reused mine/r1 (" in done.stdout, done.stdout
    record = json.loads((mine / "r2" / "run.json").read_text())
    assert record["reused_from"] == str((mine / "r1").resolve())
    assert not list(tmp_path.rglob(".fpexp-index.sqlite"))


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give a file to another user")
def test_a_run_another_user_owns_is_never_reused(tmp_path, capsys):
    first = _run(tmp_path)
    os.chown(first.dir / "run.json", 12345, 12345)  # a shared folder: someone else's record
    capsys.readouterr()
    again = _run(tmp_path, "reuse=true")
    assert "reused_from" not in again.record
    out = capsys.readouterr().out
    assert "its run.json is not yours (owner uid 12345)" in out
