"""torch's libraries are preloaded on a thread only where torch's own import would load the same
files, and a preloaded run's files are byte-identical to the golden ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ENV

from fpexp.commands import COMMANDS
from fpexp.torch_preload import library_dir, wanted

GOLDEN = json.loads((Path(__file__).parent / "golden_hashes.json").read_text())


@pytest.mark.parametrize(
    "args,expected",
    [
        ([], True),
        (["task=multiclass", "model.hidden=[8]"], True),
        (["-m", "model.hidden=[2],[4]"], True),
        (["--multirun", "hydra/launcher=basic", "seed=1,2"], True),
        (["-m", "hydra/launcher=joblib", "seed=1,2"], False),  # jobs run in other processes
        (["--help"], False),
        (["--hydra-help"], False),
        (["--cfg", "job"], False),
        (["-c", "job"], False),
        (["--info"], False),
        (["--version"], False),
        (["runs"], False),
        (["rerun", "@latest"], False),
    ],
)
def test_only_a_run_or_a_basic_sweep_preloads(args, expected):
    assert wanted(args, COMMANDS) is expected


def test_not_once_torch_is_imported():
    import torch  # noqa: F401

    assert library_dir() is None


FRESH = """
import json, sys
from fpexp.torch_preload import library_dir
print(json.dumps(str(library_dir())))
"""


def _library_dir(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", FRESH], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_where_torch_would_load_other_files_nothing_is_preloaded(tmp_path):
    """torch's own lib directory in a fresh process; None with TORCH_USE_RTLD_GLOBAL (torch then
    loads everything globally), for a CUDA build, or a torch without the expected files."""
    import torch

    assert _library_dir(dict(ENV)) == str(Path(torch.__file__).parent / "lib")
    assert _library_dir(dict(ENV, TORCH_USE_RTLD_GLOBAL="1")) == "None"
    fake = tmp_path / "torch"
    (fake / "lib").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    shadowed = dict(ENV, PYTHONPATH=str(tmp_path))
    assert _library_dir(shadowed) == "None"  # no libtorch_global_deps.so / libtorch.so
    for name in ("libtorch_global_deps.so", "libtorch.so"):
        (fake / "lib" / name).write_bytes(b"")
    assert _library_dir(shadowed) == str(fake / "lib")
    (fake / "lib" / "libtorch_cuda.so").write_bytes(b"")
    assert _library_dir(shadowed) == "None"


# `python -m fpexp ARGS` as the console runs it; says whether the preload thread ran and
# whether libtorch was mapped before torch's import began.
PROBE = """
import atexit, json, runpy, sys
import fpexp.torch_preload as preload
seen = {}
start = preload.start
def watched(*args):
    seen["thread"] = thread = start(*args)
    thread.join()
    seen["mapped"] = "libtorch_cpu.so" in open("/proc/self/maps").read()
    seen["torch_imported"] = "torch" in sys.modules
    return thread
preload.start = watched
atexit.register(lambda: print(json.dumps({k: bool(v) for k, v in seen.items()})))
sys.argv = ["fpexp", *sys.argv[1:]]
runpy.run_module("fpexp", run_name="__main__", alter_sys=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("name,args", [("default", []), ("multiclass", ["task=multiclass"])])
def test_a_preloaded_run_writes_the_golden_files(tmp_path, name, args):
    run_dir = tmp_path / name
    argv = [sys.executable, "-c", PROBE, *args, f"hydra.run.dir={run_dir}"]
    done = subprocess.run(argv, env=ENV, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"thread": True, "mapped": True, "torch_imported": False}
    record = json.loads((run_dir / "run.json").read_text())
    assert {k: v["sha256"] for k, v in record["outputs"].items()} == GOLDEN[name]


EXIT_DURING_LOAD = """
import sys, time
from fpexp.torch_preload import start
assert start([], ()) is not None
time.sleep(float(sys.argv[1]))
sys.exit(3)  # a normal exit: the interpreter is finalized while libtorch may still be loading
"""


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15])
def test_a_normal_exit_while_the_libraries_load_waits_for_them(delay):
    """Finalizing the interpreter (libtorch's C++ destructors) during the thread's dlopen
    aborted or segfaulted (exit 134/139); the exit now waits for the load."""
    argv = [sys.executable, "-c", EXIT_DURING_LOAD, str(delay)]
    done = subprocess.run(argv, env=ENV, capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (3, "")


def test_ctrl_c_while_fpexp_starts_is_one_line_and_130(monkeypatch, capsys):
    """Before fpexp's own handlers are in place (its imports), Ctrl-C is still no traceback."""
    import fpexp.__main__ as entry_point
    import fpexp.cli

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fpexp.cli, "entry", interrupted)
    monkeypatch.setattr("fpexp.torch_preload.start", lambda *a: None)
    with pytest.raises(SystemExit) as exit:
        entry_point.main()
    assert exit.value.code == 130
    assert capsys.readouterr().err == "fpexp: interrupted\n"


def test_a_signal_during_the_command_line_checks_is_an_interruption(monkeypatch, capsys):
    """SIGTERM while the overrides are being checked (before Hydra starts) stops like any
    other: one line and 130, not a traceback."""
    import fpexp.cli
    from fpexp.errors import Interrupted

    def checking(args):
        raise Interrupted("SIGTERM")

    monkeypatch.setattr(fpexp.cli, "_unparsable", checking)
    assert fpexp.cli.main(["task=multiclass"]) == 130
    assert capsys.readouterr().err == "fpexp: interrupted\n"
