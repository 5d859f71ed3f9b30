"""Records and references are untrusted input: crafted, malformed, stale and changed runs.

Everything runs in-process through conftest's ``call_fpexp`` (``fpexp.cli.main`` with the exit
code, stdout and stderr a process would have): the point is what fpexp does with a run
directory, not the process around it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import call_fpexp

from fpexp.commands import COMMANDS, command_line_problem

BASE = ("data=synthetic", "data.n_rows=40", "data.seed=3")


@pytest.fixture(scope="module")
def cwd(tmp_path_factory) -> Path:
    """The working directory of the commands: one that holds no run (paths print in full)."""
    return tmp_path_factory.mktemp("cwd")


def record(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def one_error(err: str) -> str:
    """The single ``fpexp: error:`` line of ``err`` (no traceback, nothing else)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fpexp: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Callable[..., Path]:
    """``made(name, *overrides)``: a completed run, made once per module and cached."""
    root = tmp_path_factory.mktemp("runs")
    cache: dict[str, Path] = {}

    def _made(name: str, *overrides: str) -> Path:
        if name not in cache:
            out = root / name
            done = call_fpexp([*overrides, f"hydra.run.dir={out}"], root)
            assert done.returncode == 0, done.stderr
            cache[name] = out
        return cache[name]

    return _made


@pytest.fixture
def run(made, tmp_path) -> Path:
    """A private copy of a completed binary run on synthetic data (csv outputs)."""
    return Path(shutil.copytree(made("base", *BASE), tmp_path / "outputs" / "run"))


def edit_yaml(path: Path, change: Callable[[dict], None]) -> None:
    tree = yaml.safe_load(path.read_text())
    change(tree)
    path.write_text(yaml.safe_dump(tree))


def add_hydra_overrides(*overrides: str) -> Callable[[Path], None]:
    def craft(run: Path) -> None:
        edit_yaml(
            run / ".hydra" / "hydra.yaml",
            lambda t: t["hydra"]["overrides"]["hydra"].extend(overrides),
        )

    return craft


def set_config(key: str, value: object) -> Callable[[Path], None]:
    """Put ``key`` (dotted) = ``value`` into the run's .hydra/config.yaml."""

    def craft(run: Path) -> None:
        def change(tree: dict) -> None:
            *parents, leaf = key.split(".")
            for p in parents:
                tree = tree.setdefault(p, {})
            tree[leaf] = value

        edit_yaml(run / ".hydra" / "config.yaml", change)

    return craft


def set_record(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def craft(run: Path) -> None:
        data = record(run)
        change(data)
        (run / "run.json").write_text(json.dumps(data))

    return craft


# ---- 1. a crafted record never makes fpexp call anything, and is refused in one line per key


def _copy_args(run: Path) -> list[str]:
    return [str(run.parent / "secret.txt"), str(run.parent / "stolen.txt")]


CRAFTED = {
    "hydra.yaml: callbacks": (
        lambda run: add_hydra_overrides(
            "+hydra.callbacks.x._target_=shutil.copyfile",
            "+hydra.callbacks.x._args_=[" + ",".join(_copy_args(run)) + "]",
        )(run),
        "hydra.callbacks.x._target_",
        "hydra.yaml",
    ),
    "hydra.yaml: env_set": (
        add_hydra_overrides("+hydra.job.env_set.FPEXP_CRAFTED=1"),
        "hydra.job.env_set.FPEXP_CRAFTED",
        "hydra.yaml",
    ),
    "hydra.yaml: searchpath": (
        add_hydra_overrides("hydra.searchpath=[file:///tmp]"),
        "hydra.searchpath",
        "hydra.yaml",
    ),
    "hydra.yaml: log handler file": (
        lambda run: add_hydra_overrides(
            f"hydra.job_logging.handlers.file.filename={run.parent / 'stolen.txt'}"
        )(run),
        "hydra.job_logging.handlers.file.filename",
        "hydra.yaml",
    ),
    "hydra.yaml: output_subdir": (
        add_hydra_overrides("hydra.output_subdir=../../stolen"),
        "hydra.output_subdir",
        "hydra.yaml",
    ),
    "hydra.yaml: not an override": (add_hydra_overrides("a b ="), "'a b ='", "hydra.yaml"),
    "config.yaml: hydra callbacks": (
        lambda run: set_config(
            "hydra.callbacks.x", {"_target_": "shutil.copyfile", "_args_": _copy_args(run)}
        )(run),
        "hydra.callbacks.x._target_",
        "config.yaml",
    ),
    "config.yaml: _target_ in model": (
        set_config("model._target_", "shutil.copyfile"),
        "model._target_",
        "config.yaml",
    ),
    "config.yaml: a FIFO": (
        lambda r: _replace(r / ".hydra" / "config.yaml", os.mkfifo),
        "is a FIFO",
        "config.yaml",
    ),
    "config.yaml: resolver": (set_config("seed", "${oc.env:HOME}"), "seed", "config.yaml"),
    "config.yaml: unknown resolver": (
        set_config("model.weights", "${evil:1}"),
        "model.weights",
        "config.yaml",
    ),
    "config.yaml: a mapping as a value": (
        set_config("model.hidden", [{"_target_": "os.system"}]),
        "model.hidden",
        "config.yaml",
    ),
    "run.json: _target_ in config": (
        set_record(lambda d: d["config"]["model"].update(_target_="shutil.copyfile")),
        "unreadable run: run.json: config: model._target_",
        "",
    ),
    "run.json: a list as the data source": (
        set_record(lambda d: d["config"]["data"].update(source=["file"])),
        "unreadable run: run.json: config: data.source: unknown data source ['file']",
        "",
    ),
    "run.json: _args_ at the top of config": (
        set_record(lambda d: d["config"].update(_args_=["a"])),
        "unreadable run: run.json: config: _args_",
        "",
    ),
    "run.json: a group option that is not packaged": (
        set_record(lambda d: d["command"]["choices"].update(data="../../../etc")),
        "data: '../../../etc' is not an option of this group",
        "run.json",
    ),
    "run.json: an output outside the run directory": (
        set_record(lambda d: d["outputs"].update({"../../secret.txt": {"sha256": "0"}})),
        "unreadable run: run.json: outputs: '../../secret.txt'",
        "",
    ),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_rerun_refuses_a_crafted_record_and_calls_nothing(case, run, cwd, monkeypatch):
    craft, key, file = CRAFTED[case]
    (run.parent / "secret.txt").write_text("secret\n")
    craft(run)
    monkeypatch.delenv("FPEXP_CRAFTED", raising=False)
    new = run.parent / "new"
    done = call_fpexp(["rerun", str(run), f"hydra.run.dir={new}"], cwd)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and all(
        line.startswith("fpexp: error: ") for line in done.stderr.splitlines()
    )
    assert f"fpexp: error: {key}" in done.stderr or f": {key}" in done.stderr, done.stderr
    assert file in done.stderr
    assert not (run.parent / "stolen.txt").exists() and not (run.parent / "stolen").exists()
    assert not new.exists() and "FPEXP_CRAFTED" not in os.environ


@pytest.mark.parametrize("case", [c for c in CRAFTED if "config.yaml" in c or "run.json" in c])
def test_diff_overrides_refuses_a_crafted_config(case, run, made, cwd):
    craft, key, _ = CRAFTED[case]
    (run.parent / "secret.txt").write_text("secret\n")
    craft(run)
    done = call_fpexp(["diff", str(run), str(made("base", *BASE)), "--overrides"], cwd)
    assert done.returncode == 2 and done.stdout == "" and key.split(": ")[-1] in done.stderr
    assert not (run.parent / "stolen.txt").exists()


def test_rerun_keeps_allowed_hydra_settings_and_drops_where_it_ran(run, cwd):
    add_hydra_overrides("hydra.verbose=[fpexp]", "hydra/launcher=basic")(run)
    new = run.parent / "new"
    done = call_fpexp(["rerun", str(run), f"hydra.run.dir={new}"], cwd)
    assert done.returncode == 0, done.stderr
    carried = yaml.safe_load((new / ".hydra" / "hydra.yaml").read_text())["hydra"]["overrides"]
    assert "hydra.verbose=[fpexp]" in carried["hydra"]
    assert not any("launcher" in o for o in carried["hydra"])


# ---- 2. malformed records and damaged files: listed as unreadable, skipped, one line


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    def craft(run: Path) -> None:
        (run / name).write_bytes(data)

    return craft


def _truncate(name: str) -> Callable[[Path], None]:
    def craft(run: Path) -> None:
        path = run / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return craft


def _replace(path: Path, make: Callable[[Path], object]) -> None:
    path.unlink()
    make(path)


MALFORMED = {
    "run.json a list": (_write("run.json", b"[1, 2]"), "holds a list, not an object"),
    "run.json truncated": (lambda r: _truncate("run.json")(r), "is not valid JSON"),
    "run.json binary": (_write("run.json", b"\x89PNG\r\n\x1a\n\xff\xfe"), "not UTF-8"),
    "run.json empty": (_write("run.json", b""), "is not valid JSON"),
    "run.json a FIFO": (lambda r: _replace(r / "run.json", os.mkfifo), "run.json is a FIFO"),
    "run.json a broken symlink": (
        lambda r: _replace(r / "run.json", lambda p: p.symlink_to("nowhere")),
        "run.json a broken symlink",
    ),
    "config a string": (set_record(lambda d: d.update(config="x")), "config is a str"),
    "outputs a list": (set_record(lambda d: d.update(outputs=[])), "outputs is a list"),
    "started_at a number": (set_record(lambda d: d.update(started_at=5)), "started_at is a int"),
    "status unknown": (set_record(lambda d: d.update(status="done")), "status 'done'"),
    "status missing": (set_record(lambda d: d.pop("status")), "status is missing"),
    "metrics a list": (set_record(lambda d: d.update(metrics=[1])), "metrics is a list"),
    "choices a list": (
        set_record(lambda d: d["command"].update(choices=["task"])),
        "command.choices is a list",
    ),
    "output meta a string": (
        set_record(lambda d: d["outputs"].update({"model.txt": "x"})),
        "outputs.model.txt is a str",
    ),
    "outputs.csv truncated": (_truncate("outputs.csv"), "outputs.csv changed since the run"),
    "outputs.csv garbage": (_write("outputs.csv", b"\x00garbage"), "outputs.csv changed"),
    "predictions.csv deleted": (
        lambda r: (r / "predictions.csv").unlink(),
        "predictions.csv is missing",
    ),
    # a completed record lists every file a completed run writes, so none can be hidden
    "outputs entry removed": (
        set_record(lambda d: d["outputs"].pop("outputs.csv")),
        "run.json: a completed run lists no outputs file in outputs",
    ),
    "outputs key removed": (
        set_record(lambda d: d.pop("outputs")),
        "lists no outputs, predictions, model, weights, layers file in outputs",
    ),
    "weights entry removed": (
        set_record(lambda d: d["outputs"].pop("weights.safetensors")),
        "lists no weights file",
    ),
    "output sha256 removed": (
        set_record(lambda d: d["outputs"]["layers.csv"].pop("sha256")),
        "outputs.layers.csv.sha256 is missing",
    ),
    "output bytes removed": (
        set_record(lambda d: d["outputs"]["model.txt"].pop("bytes")),
        "outputs.model.txt.bytes is missing",
    ),
    "process.pid -1": (set_record(lambda d: d["process"].update(pid=-1)), "process.pid is -1"),
    "process.pid a string": (
        set_record(lambda d: d["process"].update(pid="x")),
        "process.pid is a str",
    ),
    "process.pid true": (
        set_record(lambda d: d["process"].update(pid=True)),
        "process.pid is a bool",
    ),
    "process.pid 1e20": (
        set_record(lambda d: d["process"].update(pid=1e20)),
        "process.pid is a float",
    ),
    "process.start_ticks negative": (
        set_record(lambda d: d["process"].update(start_ticks=-5)),
        "process.start_ticks is -5",
    ),
    "run.json bare NaN": (
        set_record(lambda d: d.update(duration_s=float("nan"))),
        "run.json is not strict JSON: a bare NaN",
    ),
    "run.json bare -Infinity": (
        set_record(lambda d: d["results"].update(x=float("-inf"))),
        "run.json is not strict JSON: a bare -Infinity",
    ),
}
FILE_DAMAGE = [c for c in MALFORMED if c.startswith(("outputs.", "predictions."))]


@pytest.mark.parametrize("case", list(MALFORMED))
def test_runs_lists_a_malformed_run_as_unreadable(case, run, made, cwd):
    craft, reason = MALFORMED[case]
    craft(run)
    done = call_fpexp(["runs", str(run.parent), "--json"], cwd)
    (row,) = json.loads(done.stdout)
    assert done.returncode == 0 and row["status"] == "unreadable" and reason in row["note"], row
    done = call_fpexp(["runs", str(run.parent), "--status", "unreadable"], cwd)
    assert done.returncode == 0 and "unreadable" in done.stdout.splitlines()[1]


@pytest.mark.parametrize("case", list(MALFORMED))
def test_references_skip_and_diff_names_a_malformed_run(case, run, made, cwd):
    craft, reason = MALFORMED[case]
    craft(run)
    healthy = run.parent / "healthy"
    shutil.copytree(made("base", *BASE), healthy)
    data = record(healthy)
    data["started_at"] = "2000-01-01T00:00:00.000+00:00"  # older than the malformed one
    (healthy / "run.json").write_text(json.dumps(data))
    done = call_fpexp(["diff", "@latest", str(healthy), "--root", str(run.parent)], cwd)
    assert done.returncode == 0 and done.stdout.startswith("no differences"), done.stderr
    done = call_fpexp(["diff", str(run), str(healthy)], cwd)
    assert done.returncode == 2 and done.stdout == ""
    assert (
        one_error(done.stderr).startswith(f"fpexp: error: {run}: unreadable run: ")
        and reason in done.stderr
    )


@pytest.mark.parametrize("case", [c for c in MALFORMED if c not in FILE_DAMAGE])
def test_rerun_refuses_a_malformed_record(case, run, cwd):
    MALFORMED[case][0](run)
    done = call_fpexp(["rerun", str(run), f"hydra.run.dir={run.parent / 'new'}"], cwd)
    assert done.returncode == 2 and "unreadable run" in one_error(done.stderr)
    assert not (run.parent / "new").exists()


WRONG_VALUES = (None, True, "x", [1], {"a": 1})


def test_no_wrong_typed_field_crashes_runs_or_diff(run, cwd):
    """Property-style: every field and nested field of a real record, set to each wrong-typed
    value, gives exit 0 or 2 from runs and diff, never a traceback."""
    original = record(run)
    paths = [(k,) for k in original] + [
        (k, sub) for k, v in original.items() if isinstance(v, dict) for sub in v
    ]
    tried = 0
    for path in paths:
        for value in WRONG_VALUES:
            data = json.loads(json.dumps(original))
            node = data
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
            (run / "run.json").write_text(json.dumps(data))
            for args in (("runs", str(run.parent), "--json"), ("diff", str(run), str(run))):
                done = call_fpexp([*args], cwd)
                assert done.returncode in (0, 2) and "Traceback" not in done.stderr, (
                    path,
                    value,
                    args,
                    done.stderr,
                )
                if done.returncode == 2:
                    assert one_error(done.stderr)
            tried += 1
    assert tried == len(paths) * len(WRONG_VALUES) > 100


DAMAGED_FORMATS = {
    "npy truncated": ("npy", _truncate("outputs.npy")),
    "npy header only": (
        "npy",
        lambda r: _write("outputs.npy", (r / "outputs.npy").read_bytes()[:128])(r),
    ),
    "parquet not parquet": ("parquet", _write("outputs.parquet", b"PAR1 not really PAR1")),
    "csv garbage": ("csv", _write("outputs.csv", b"id,mammal\nx,y,z\n\xff\n")),
    "csv same size garbage": (
        "csv",
        lambda r: _write("outputs.csv", b"#" * (r / "outputs.csv").stat().st_size)(r),
    ),
    "weights truncated": ("csv", _truncate("weights.safetensors")),
}


@pytest.mark.parametrize("case", list(DAMAGED_FORMATS))
def test_rerun_check_reports_a_damaged_file_as_changed(case, made, tmp_path, cwd):
    fmt, craft = DAMAGED_FORMATS[case]
    run = Path(shutil.copytree(made(fmt, *BASE, f"output.format={fmt}"), tmp_path / "run"))
    craft(run)
    name = next(
        n
        for n in record(run)["outputs"]
        if n.startswith(("outputs", "weights")) and ("weights" in case) == n.startswith("weights")
    )
    done = call_fpexp(["rerun", str(run), "--check", f"hydra.run.dir={tmp_path / 'new'}"], cwd)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"  {name}: changed since the run (sha256 " in done.stdout
    assert (
        "reproduced: identical to the changed files" in done.stdout
        or "reproduced: differs" in done.stdout
    )
    done = call_fpexp(["diff", str(run), str(made(fmt, *BASE, f"output.format={fmt}"))], cwd)
    assert done.returncode in (0, 2) and "Traceback" not in done.stderr
    if done.returncode == 2:
        assert name in one_error(done.stderr)
    else:  # same size and readable as a table: diff says it changed since the run
        assert "weights" in name


# ---- 3. stale runs: recorded running, process gone


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(done.stdout)


def _ticks(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


LIVENESS = {
    "pid gone": (lambda: {"pid": _dead_pid(), "start_ticks": 1}, "stale"),
    "pid reused": (lambda: {"pid": os.getpid(), "start_ticks": _ticks(os.getpid()) + 1}, "stale"),
    "rebooted": (
        lambda: {"pid": os.getpid(), "start_ticks": _ticks(os.getpid()), "boot_id": "other"},
        "stale",
    ),
    "alive": (lambda: {"pid": os.getpid(), "start_ticks": _ticks(os.getpid())}, "running"),
    "other host": (lambda: {"pid": _dead_pid(), "host": "elsewhere"}, "running"),
    "no process recorded": (lambda: None, "running"),
}


def make_running(run: Path, process: dict | None, status: str = "running") -> None:
    """What a killed run leaves: its record says running (or failed, ...) and no outputs."""
    data = record(run)
    for name in data["outputs"]:
        (run / name).unlink()
    data.update(status=status, outputs={}, ended_at=None, metrics=None, results=None)
    if process is not None:
        data["process"] = {"host": platform.node(), "boot_id": _boot_id(), **process}
    (run / "run.json").write_text(json.dumps(data))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("case", list(LIVENESS))
def test_runs_and_diff_show_a_dead_running_run_as_stale(case, run, made, cwd):
    process, status = LIVENESS[case]
    make_running(run, process())
    done = call_fpexp(["runs", str(run.parent), "--json"], cwd)
    (row,) = json.loads(done.stdout)
    assert done.returncode == 0 and row["status"] == status
    done = call_fpexp(["diff", str(run), str(made("base", *BASE))], cwd)
    assert done.returncode == 0 and f"status: a {status}" in done.stdout


@pytest.mark.parametrize("status", ["failed", "interrupted", "stale", "running"])
def test_rerun_of_a_run_without_saved_weights_initialises_as_the_original(status, run, made, cwd):
    process = {"pid": _dead_pid(), "start_ticks": 1} if status == "stale" else None
    make_running(run, process, "running" if status == "stale" else status)
    new = run.parent / "new"
    done = call_fpexp(["rerun", str(run), f"hydra.run.dir={new}"], cwd)
    assert done.returncode == 0, done.stderr
    weights = record(new)["weights"]
    assert weights["origin"] == "initialised"
    assert (
        weights["note"].startswith("the original run is ")
        and "initialised from seed 42" in weights["note"]
    )
    assert f"original: {run} is {status}" in done.stdout
    assert f"weights: the original run is {status}: " in done.stdout  # stale, not "running"
    assert "the original run is running" not in done.stdout or status == "running"
    base = made("base", *BASE)
    assert (new / "outputs.csv").read_bytes() == (base / "outputs.csv").read_bytes()


def test_rerun_check_of_a_failed_run_is_not_reported_identical(run, cwd):
    make_running(run, None, "failed")
    done = call_fpexp(["rerun", str(run), "--check", f"hydra.run.dir={run.parent / 'n'}"], cwd)
    assert done.returncode == 1 and "reproduced: identical" not in done.stdout
    assert done.stdout.rstrip().endswith(
        "reproduced: not comparable: the original run is failed (no result)"
    )


def test_rerun_check_of_a_stale_run_says_stale(run, cwd):
    make_running(run, {"pid": _dead_pid(), "start_ticks": 1})
    done = call_fpexp(["rerun", str(run), "--check", f"hydra.run.dir={run.parent / 'n'}"], cwd)
    assert done.returncode == 1 and "running" not in done.stdout.replace("recorded as running", "")
    assert done.stdout.rstrip().endswith(
        "reproduced: not comparable: the original run is stale (no result)"
    )
    assert "weights: the original run is stale: its weights were never saved" in done.stdout


def test_a_hidden_corrupted_output_is_never_reproduced_identical(run, cwd):
    """Removing a file's entry from run.json no longer hides that the file was changed."""
    set_record(lambda d: d["outputs"].pop("outputs.csv"))(run)
    lines = (run / "outputs.csv").read_text().splitlines(keepends=True)
    (run / "outputs.csv").write_text(
        lines[0] + lines[1].replace("0.", "7.", 1) + "".join(lines[2:])
    )
    done = call_fpexp(["rerun", str(run), "--check", f"hydra.run.dir={run.parent / 'n'}"], cwd)
    assert done.returncode == 2 and "reproduced" not in done.stdout
    assert one_error(done.stderr) == (
        f"fpexp: error: {run}: unreadable run: run.json: a completed run lists no outputs file"
        " in outputs"
    )
    assert not (run.parent / "n").exists()


def test_a_run_with_choices_outside_the_packaged_options_is_listed(run, made, cwd):
    """A run made with --config-dir: listed, @latest finds it, diff reads it; rerun refuses."""
    set_record(lambda d: d["command"]["choices"].update(data="mine"))(run)
    older = run.parent / "older"
    shutil.copytree(made("base", *BASE), older)
    set_record(lambda d: d.update(started_at="2000-01-01T00:00:00.000+00:00"))(older)
    done = call_fpexp(["runs", str(run.parent), "--json"], cwd)
    assert done.returncode == 0 and [r["status"] for r in json.loads(done.stdout)] == [
        "completed",
        "completed",
    ]
    done = call_fpexp(["diff", "@latest", str(older), "--root", str(run.parent)], cwd)
    assert done.returncode == 0 and "  data: mine → synthetic   (config group)" in done.stdout, (
        done.stdout + done.stderr
    )
    new = run.parent / "new"
    done = call_fpexp(["rerun", "@latest", "--root", str(run.parent), f"hydra.run.dir={new}"], cwd)
    assert done.returncode == 2 and not new.exists()
    assert one_error(done.stderr).startswith(
        "fpexp: error: data: 'mine' is not an option of this group ("
    )


def test_rerun_reuses_saved_weights_when_a_relative_model_weights_is_gone(made, tmp_path):
    shutil.copy(made("base", *BASE) / "weights.safetensors", tmp_path / "w.safetensors")
    run = tmp_path / "a"
    args = [*BASE, "model.weights=w.safetensors", f"hydra.run.dir={run}"]
    assert call_fpexp(args, tmp_path).returncode == 0  # model.weights relative to tmp_path
    (tmp_path / "w.safetensors").unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # the rerun's own cwd does not matter either
    done = call_fpexp(["rerun", str(run), "--check", f"hydra.run.dir={tmp_path / 'n'}"], elsewhere)
    gone = f"  model.weights {tmp_path / 'w.safetensors'}: missing since the run"
    assert (
        done.returncode == 0
        and gone in done.stdout
        and done.stdout.rstrip().endswith("reproduced: identical")
    ), done.stderr
    assert record(tmp_path / "n")["weights"]["origin"] == "rerun"
    assert (tmp_path / "n" / "outputs.csv").read_bytes() == (run / "outputs.csv").read_bytes()


def test_check_of_an_edited_config_with_the_same_files_is_not_identical(run, cwd):
    set_config("progress", False)(run)
    done = call_fpexp(["rerun", str(run), "--check", f"hydra.run.dir={run.parent / 'n'}"], cwd)
    assert done.returncode == 1 and "reproduced: identical\n" not in done.stdout
    assert (
        "  .hydra/config.yaml: edited since the run (progress: true in run.json, false now)"
        in done.stdout
    )
    assert done.stdout.rstrip().endswith(
        "reproduced: same files, but from a config edited since the run"
    )


def test_rerun_of_a_completed_run_still_loads_its_saved_weights(run, cwd):
    done = call_fpexp(["rerun", str(run), f"hydra.run.dir={run.parent / 'new'}"], cwd)
    assert done.returncode == 0, done.stderr
    assert record(run.parent / "new")["weights"]["origin"] == "rerun"


# ---- 5. rerun --check and diff name the cause


def test_check_and_diff_name_an_input_changed_since_the_run(made, tmp_path, cwd):
    data = tmp_path / "x.csv"
    data.write_text("a,b\n1,2\n3,4\n")
    run = tmp_path / "run"
    assert (
        call_fpexp(["data=file", f"data.path={data}", f"hydra.run.dir={run}"], cwd).returncode == 0
    )
    data.write_text("a,b\n1,2\n3,5\n")
    done = call_fpexp(["rerun", str(run), "--check", f"hydra.run.dir={tmp_path / 'n'}"], cwd)
    assert done.returncode == 1 and f"  input {data}: changed since the run (sha256 " in done.stdout
    done = call_fpexp(["diff", str(run), str(tmp_path / "n")], cwd)
    assert "a changed since its run:" in done.stdout and f"input {data}: changed" in done.stdout
    assert "input.sha256:" in done.stdout
    done = call_fpexp(["rerun", str(run), f"hydra.run.dir={tmp_path / 'm'}"], cwd)
    assert (
        done.returncode == 0
        and f"note: input {data}: changed since the run (sha256 " in done.stdout
    )


def test_check_names_an_edited_hydra_config(run, cwd):
    set_config("seed", 7)(run)
    done = call_fpexp(["rerun", str(run), "--check", f"hydra.run.dir={run.parent / 'n'}"], cwd)
    assert done.returncode == 1
    assert "  .hydra/config.yaml: edited since the run (seed: 42 in run.json, 7 now" in done.stdout
    done = call_fpexp(["rerun", str(run), f"hydra.run.dir={run.parent / 'm'}"], cwd)
    assert done.returncode == 0
    assert (
        "note: .hydra/config.yaml: edited since the run (seed: 42 in run.json, 7 now" in done.stdout
    )


def test_diff_compares_the_weights_behind_the_same_path(made, tmp_path, cwd):
    weights = tmp_path / "w.safetensors"
    shutil.copy(made("base", *BASE) / "weights.safetensors", weights)
    a, b = tmp_path / "a", tmp_path / "b"
    assert (
        call_fpexp([*BASE, f"model.weights={weights}", f"hydra.run.dir={a}"], cwd).returncode == 0
    )
    shutil.copy(made("seed7", *BASE, "seed=7", "data.seed=3") / "weights.safetensors", weights)
    assert (
        call_fpexp([*BASE, f"model.weights={weights}", f"hydra.run.dir={b}"], cwd).returncode == 0
    )
    done = call_fpexp(["diff", str(a), str(b)], cwd)
    assert (
        done.returncode == 0 and "config: same" in done.stdout and "weights.sha256: " in done.stdout
    )
    assert f"model.weights {weights}: changed since the run" in done.stdout.split("b:")[1]
    data = json.loads(call_fpexp(["diff", str(a), str(b), "--json"], cwd).stdout)
    assert data["empty"] is False and [c["key"] for c in data["inputs"]] == [
        "weights.sha256",
        "weights.safetensors.sha256",
    ]


def test_diff_says_which_columns_differ_when_shapes_agree(made, cwd):
    a = made("base", *BASE)
    b = made("classes", *BASE, "task.classes=[no,yes]")
    done = call_fpexp(["diff", str(a), str(b)], cwd)
    assert done.returncode == 0
    assert (
        "outputs: not compared: columns differ: ['1'] vs ['yes'] (same shape [40, 1])"
        in done.stdout
    )


def test_diff_caps_the_flipped_ids_with_a_count(made, cwd):
    a = made("wide1", "data=synthetic", "data.n_rows=400", "data.seed=3", "seed=1")
    b = made("wide2", "data=synthetic", "data.n_rows=400", "data.seed=3", "seed=2")
    data = json.loads(call_fpexp(["diff", str(a), str(b), "--json"], cwd).stdout)
    count = data["outputs"]["flipped_count"]
    assert count > 20 and len(data["outputs"]["flipped"]) == 20
    text = call_fpexp(["diff", str(a), str(b)], cwd).stdout
    assert f"predictions flipped: {count} (" in text and f"... and {count - 20} more)" in text
    md = call_fpexp(["diff", str(a), str(b), "--md"], cwd).stdout
    assert f"Predictions flipped: {count} (" in md and f"... and {count - 20} more)" in md


# ---- 6. malformed references


FORMS = "(a path, @latest, @-N with N >= 1, or SWEEP_DIR:JOB)"
REFERENCES = {
    "@--5": f"@--5: is not a run reference {FORMS}",
    "@-0": f"@-0: is not a run reference {FORMS}",
    "@": f"@: is not a run reference {FORMS}",
    "@latest5": f"@latest5: is not a run reference {FORMS}",
    "@-1.5": f"@-1.5: is not a run reference {FORMS}",
    "@+1": f"@+1: is not a run reference {FORMS}",
    "@-99999999999999999999": "@-99999999999999999999: there are only 1 runs (newest: ",
    "SWEEP:notanumber": f"SWEEP:notanumber: 'notanumber' is not a job number {FORMS}",
    "": f"'': an empty run reference {FORMS}",
    " ": f"' ': an empty run reference {FORMS}",
}


@pytest.mark.parametrize("ref", list(REFERENCES))
def test_a_malformed_reference_is_one_line(ref, run, cwd):
    done = call_fpexp(["diff", ref, str(run), "--root", str(run.parent)], cwd)
    assert done.returncode == 2 and done.stdout == ""
    assert one_error(done.stderr).startswith(f"fpexp: error: {REFERENCES[ref]}")
    done = call_fpexp(["rerun", ref, "--root", str(run.parent)], cwd)
    assert done.returncode == 2 and one_error(done.stderr).startswith(
        f"fpexp: error: {REFERENCES[ref]}"
    )


# ---- 7. the command line: unknown subcommands, --version, Hydra's own flags


@pytest.mark.parametrize("args", [["runz"], ["rerunn", "@latest"], ["seed=1", "runz"]])
def test_an_unknown_subcommand_lists_the_subcommands(args, cwd):
    done = call_fpexp([*args], cwd)
    line = one_error(done.stderr)
    assert (
        done.returncode == 2
        and done.stdout == ""
        and f"{args[-1] if '=' in args[0] else args[0]}: not a" in line
    )
    assert ", ".join(COMMANDS) in line and "key=value" in line


def test_did_you_mean(cwd):
    assert "did you mean runs?" in call_fpexp(["runz"], cwd).stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--cfg", "job"],
        ["-c", "hydra"],
        ["-m", "seed=1,2"],
        ["~model.weights"],
        ["+hydra.job.env_set.A=1"],
        ["--info", "config"],
        ["--info"],
        ["-p", "model", "--cfg", "job"],
        ["--help"],
        ["hydra.run.dir=x", "seed=3"],
        ["-cn", "config", "seed=1"],
        ["--config-dir", "conf", "seed=1"],
        ["--resolve", "--cfg", "job"],
    ],
)
def test_hydra_flags_and_overrides_are_not_mistaken_for_subcommands(args):
    assert command_line_problem(args) is None


@pytest.mark.parametrize(
    "args",
    [
        ["--experimental-rerun", "config.pickle"],
        ["--experimental-rerun=config.pickle"],
        ["--exp", "config.pickle"],
        ["seed=1", "--experimental-rerun", "config.pickle"],
    ],
)
def test_experimental_rerun_is_refused(args, cwd):
    done = call_fpexp([*args], cwd)
    assert done.returncode == 2 and "unpickles" in one_error(done.stderr)


def test_version(cwd):
    from importlib.metadata import version

    from fpexp import __version__

    done = call_fpexp(["--version"], cwd)
    assert done.returncode == 0 and done.stderr == ""
    assert (
        done.stdout == f"fpexp {__version__} (hydra-core {version('hydra-core')}, "
        f"omegaconf {version('omegaconf')}, torch {version('torch')})\n"
    )


def test_cfg_job_still_runs_in_process(cwd):
    done = call_fpexp(["--cfg", "job", "seed=5"], cwd)
    assert done.returncode == 0 and "seed: 5" in done.stdout


@pytest.mark.parametrize("command", ["runs", "diff", "rerun", "compare"])
def test_a_record_nested_too_deeply_is_one_line_not_a_traceback(tmp_path, command):
    """Found by a hostile review: a run.json nested 100,000 deep was a RecursionError."""
    run = tmp_path / "outputs" / "deep"
    run.mkdir(parents=True)
    (run / "run.json").write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    args = {"runs": [str(tmp_path / "outputs")], "diff": [str(run), str(run)]}
    args["compare"] = args["diff"]
    done = call_fpexp([command, *args.get(command, [str(run)])], tmp_path)
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr
    if command == "runs":
        assert done.returncode == 0
        assert "unreadable  run.json is nested too deeply to be a record" in done.stdout
    else:
        assert done.returncode == 2
        assert "run.json is nested too deeply to be a record" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
