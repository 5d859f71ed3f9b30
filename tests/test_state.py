"""Calls of fpexp in one process leave nothing behind for the next (a notebook, the Python API):
``run_hydra`` returns what it did, a rerun passes the run it reproduces explicitly, and no
module keeps mutable state that carries results between functions."""

from __future__ import annotations

import ast
import json
import pickle
from pathlib import Path

import pytest

import fpexp.app
from fpexp import sweep_tracking as sweep
from fpexp.cli import main, run_hydra
from fpexp.hydra_run import HydraCall, HydraRun, RunOutcome
from fpexp.initial_weights import PastRun

PACKAGE = Path(__file__).resolve().parent.parent / "fpexp"
PLUGINS = PACKAGE.parent / "hydra_plugins"
FAST = ["model.hidden=[3]"]


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _interrupt_first(monkeypatch) -> None:
    """The first run of this process is stopped by Ctrl-C in its pipeline; later ones run."""
    real, calls = fpexp.app.execute, []

    def execute(cfg, record, *args):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(cfg, record, *args)

    monkeypatch.setattr(fpexp.app, "execute", execute)


# -- run_hydra returns a result --------------------------------------------------------------


def test_a_single_run_returns_its_directory_and_status(here):
    done = run_hydra([*FAST, f"hydra.run.dir={here / 'a'}"])
    assert done == HydraRun(0, (RunOutcome(here / "a", "completed"),), None, ())
    assert done.run_dir == here / "a" and _record(here / "a")["status"] == "completed"


def test_a_failed_run_returns_its_problems_and_status(here, capsys):
    done = run_hydra(["model.width=0", f"hydra.run.dir={here / 'a'}"])
    assert done.code == 2 and done.runs == (RunOutcome(here / "a", "failed"),)
    assert len(done.failures) == 1 and done.failures[0].startswith("model.width: ")
    assert f"fpexp: error: {done.failures[0]}" in capsys.readouterr().err


def test_a_sweep_returns_its_directory_and_every_job(here):
    done = run_hydra(["-m", *FAST, "seed=1,2", f"hydra.sweep.dir={here / 's'}"])
    assert done.code == 0 and done.sweep_dir == here / "s" and done.run_dir is None
    assert done.runs == (
        RunOutcome(here / "s" / "0", "completed"),
        RunOutcome(here / "s" / "1", "completed"),
    )


# -- two calls in one process ----------------------------------------------------------------


def test_a_plain_run_after_a_rerun_does_not_load_the_rerun_weights(here, capsys):
    assert main([*FAST, f"hydra.run.dir={here / 'a'}"]) == 0
    assert main(["rerun", str(here / "a"), f"hydra.run.dir={here / 'b'}"]) == 0
    assert _record(here / "b")["weights"]["origin"] == "rerun"
    assert _record(here / "b")["command"]["rerun_of"] == str(here / "a")
    assert main([*FAST, f"hydra.run.dir={here / 'c'}"]) == 0
    assert _record(here / "c")["weights"] == {"origin": "initialised"}
    assert "rerun_of" not in _record(here / "c")["command"]


def test_a_plain_run_after_an_interrupted_rerun_does_not_load_its_weights(here, monkeypatch):
    assert main([*FAST, f"hydra.run.dir={here / 'a'}"]) == 0
    _interrupt_first(monkeypatch)
    past = PastRun(here / "a", _record(here / "a"))
    stopped = run_hydra([*FAST, f"hydra.run.dir={here / 'b'}"], past=past)
    assert stopped.code == 130 and stopped.runs == (RunOutcome(here / "b", "interrupted"),)
    done = run_hydra([*FAST, f"hydra.run.dir={here / 'c'}"])
    assert done.code == 0 and _record(here / "c")["weights"] == {"origin": "initialised"}


@pytest.mark.parametrize(
    "first", [["model.width=0"], ["data.source=file", "data.path=missing.csv"]]
)
def test_a_good_run_after_a_failed_one_exits_0(here, capsys, first):
    assert main([*first, f"hydra.run.dir={here / 'a'}"]) == 2
    capsys.readouterr()
    assert main([*FAST, f"hydra.run.dir={here / 'b'}"]) == 0
    assert "error" not in capsys.readouterr().err


def test_a_single_run_after_a_sweep_writes_no_summary(here, capsys):
    assert main(["-m", *FAST, "seed=1,2", f"hydra.sweep.dir={here / 's'}"]) == 0
    summary = (here / "s" / "summary.md").read_bytes()
    assert "sweep summary" in capsys.readouterr().out
    assert main([*FAST, f"hydra.run.dir={here / 'a'}"]) == 0
    assert "sweep summary" not in capsys.readouterr().out
    assert (here / "s" / "summary.md").read_bytes() == summary
    assert not (here / "a" / "summary.md").exists()


def test_a_single_run_after_an_interrupted_sweep_writes_no_summary(here, monkeypatch, capsys):
    _interrupt_first(monkeypatch)
    assert main(["-m", *FAST, "seed=1,2", f"hydra.sweep.dir={here / 's'}"]) == 130
    assert "not run" in (here / "s" / "summary.md").read_text()  # the sweep got its summary
    capsys.readouterr()
    done = run_hydra([*FAST, f"hydra.run.dir={here / 'a'}"])
    assert done.code == 0 and done.sweep_dir is None
    assert "sweep summary" not in capsys.readouterr().out


def test_the_sweep_state_is_set_only_within_a_call(here):
    assert sweep._CURRENT.get() is None
    with sweep.tracking() as state:
        assert sweep._CURRENT.get() is state
        with pytest.raises(KeyboardInterrupt), sweep.tracking() as inner:
            assert sweep._CURRENT.get() is inner
            raise KeyboardInterrupt
        assert sweep._CURRENT.get() is state
    assert sweep._CURRENT.get() is None
    assert run_hydra(["-m", *FAST, "seed=1", f"hydra.sweep.dir={here / 's'}"]).code == 0
    assert sweep._CURRENT.get() is None


def test_the_task_with_its_context_pickles_for_worker_processes(tmp_path):
    """joblib sends the task function to its workers: the rerun's context goes with it."""
    call = HydraCall(past=PastRun(tmp_path, {"status": "completed"}))
    task = pickle.loads(pickle.dumps(call.task))
    assert task.__self__ == call and task.__self__ is not call


# -- no module-level mutable state -----------------------------------------------------------

# Module-level names that are assigned at run time or rebound by ``global`` carry state
# between calls. Allowed, each for its reason:
ALLOWED = {
    # digests of input files being hashed, keyed by path, inode, size and mtime: a cache of
    # work in flight (prefetched while torch loads), never a result of another call
    ("fpexp/hashing.py", "_running"),
}


def _module_state(path: Path) -> set[str]:
    """Names a module rebinds with ``global``, and module-level containers it fills."""
    tree = ast.parse(path.read_text())
    names = {n for node in ast.walk(tree) if isinstance(node, ast.Global) for n in node.names}
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = getattr(node, "value", None)
        mutable = isinstance(value, ast.List | ast.Dict | ast.Set) or (
            isinstance(value, ast.Constant) and value.value is None
        )
        if isinstance(target, ast.Name) and target.id.islower() and mutable:
            names.add(target.id)
    return names - {"__all__"}


def test_no_module_keeps_mutable_state_between_calls():
    root = PACKAGE.parent
    found = {
        (str(path.relative_to(root)), name)
        for path in [*PACKAGE.rglob("*.py"), *PLUGINS.rglob("*.py")]
        for name in _module_state(path)
    }
    assert found == ALLOWED
