"""Notebook safety of the Python API (``fpexp.api_state``): the caller's process state before a
call equals the state after it, however the call ends, inside a Hydra app and from threads;
and calls in one process give the files of separate processes."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import warnings
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import ENV, call_fpexp
from warm_python import WARM

import fpexp
import fpexp.app
from fpexp.api_state import NOT_MAIN_THREAD, caller_state

FAST = ("model.hidden=[3]",)
PER_RUN = {"run.json", "fpexp.log", ".hydra/hydra.yaml"}


def _loggers() -> dict[str, logging.Logger]:
    known = logging.root.manager.loggerDict.items()
    return {"": logging.root, **{k: v for k, v in known if isinstance(v, logging.Logger)}}


def _logger(lg: logging.Logger) -> tuple[Any, ...]:
    return (
        id(lg.handlers),
        list(lg.handlers),
        lg.level,
        lg.disabled,
        lg.propagate,
        list(lg.filters),
    )


def _store_tree(repo: dict, prefix: str = "") -> dict[str, int]:
    out: dict[str, int] = {}
    for k, v in repo.items():
        out.update(_store_tree(v, f"{prefix}{k}/") if isinstance(v, dict) else {prefix + k: id(v)})
    return out


def _hydra_state() -> dict[str, Any]:
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.singleton import Singleton
    from hydra.core.utils import JobRuntime
    from hydra.version import VersionBase
    from omegaconf import OmegaConf
    from omegaconf.basecontainer import BaseContainer

    got = Singleton._instances.get  # never makes a singleton that is not there
    job = got(JobRuntime)
    return {
        "singletons": dict(Singleton._instances),
        "global_hydra": getattr(got(GlobalHydra), "hydra", None),
        "hydra_config": getattr(got(HydraConfig), "cfg", None),
        "job_runtime": OmegaConf.to_container(job.conf) if job else None,
        "version_base": getattr(got(VersionBase), "version_base", None),
        "store": _store_tree(ConfigStore.instance().repo),
        "resolvers": dict(BaseContainer._resolvers),
    }


def snapshot() -> dict[str, Any]:
    """Everything a call must leave as it was (written apart from the code it checks)."""
    main = threading.current_thread() is threading.main_thread()
    signals = [s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)]
    rng = np.random.get_state()
    return {
        "cwd": os.getcwd(),
        "argv": (id(sys.argv), list(sys.argv)),
        "path": list(sys.path),
        "streams": (sys.stdin, sys.stdout, sys.stderr),
        "environ": dict(os.environ),
        "signals": {s: signal.getsignal(s) for s in signals} if main else None,
        "loggers": {name: _logger(lg) for name, lg in _loggers().items()},
        "logging.disable": logging.root.manager.disable,
        "logging._handlers": dict(logging._handlers),  # type: ignore[attr-defined]
        "warnings": (id(warnings.filters), list(warnings.filters), warnings.showwarning),
        "random": random.getstate(),
        "numpy": (rng[0], rng[1].tobytes(), rng[2:]),
        "torch": (
            torch.get_default_dtype(),
            torch.get_default_device(),
            torch.are_deterministic_algorithms_enabled(),
            torch.get_num_threads(),
            torch.get_num_interop_threads(),
            torch.get_rng_state().numpy().tobytes(),
            torch.cuda.is_initialized(),
        ),
        **_hydra_state(),
    }


def assert_same(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Equal, except loggers first made during the call (modules it imported)."""
    after = {
        **after,
        "loggers": {k: v for k, v in after["loggers"].items() if k in before["loggers"]},
    }
    assert [k for k in before if before[k] != after[k]] == []


def hashes(run_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and str(p.relative_to(run_dir)) not in PER_RUN
    }


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> fpexp.Run:
    """One run first: torch and Hydra's plugins are loaded once a process, not per call."""
    return fpexp.run(*FAST, root=tmp_path_factory.mktemp("warm"))


_caught: list[int] = []  # what the caller's own handler received (cleared per test)


def _mark(signum: int, frame: Any) -> None:
    """A caller's own signal handler."""
    _caught.append(signum)


@pytest.fixture
def notebook(tmp_path, warm, monkeypatch):
    """A caller with state of its own, as a notebook might have it; all undone afterwards."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    log_file = tmp_path / "notebook.log"
    mine = logging.getLogger("notebook")
    handler = logging.FileHandler(log_file, mode="w")  # closed once, it never writes again
    mine.addHandler(handler)
    mine.setLevel(logging.DEBUG)
    mine.propagate = False
    logging.getLogger("notebook.quiet").disabled = True  # dictConfig would enable it again
    root_handler = logging.StreamHandler(io.StringIO())
    logging.root.addHandler(root_handler)
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    monkeypatch.chdir(tmp_path)
    old = {s: signal.signal(s, _mark) for s in (signal.SIGTERM, signal.SIGUSR1)}
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    torch.manual_seed(123)
    np.random.seed(1)
    random.seed(2)
    OmegaConf.register_new_resolver("notebook.x", lambda: 1)
    ConfigStore.instance().store(name="notebook_node", node={"a": 1})
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="notebook")
        yield log_file
    mine.info("still writing")
    handler.flush()
    assert log_file.read_text().endswith("still writing\n")
    for lg in (mine, logging.getLogger("notebook.quiet")):
        lg.handlers.clear()
    logging.root.removeHandler(root_handler)
    handler.close()
    for s, h in old.items():
        signal.signal(s, h)
    torch.set_default_dtype(dtype)
    torch.set_num_threads(threads)
    OmegaConf.clear_resolver("notebook.x")
    ConfigStore.instance().repo.pop("notebook_node.yaml")


def _raise_in_pipeline(monkeypatch, make: Any) -> None:
    real = fpexp.app.execute

    def execute(*args: Any) -> Any:
        make()
        return real(*args)

    monkeypatch.setattr(fpexp.app, "execute", execute)


def _boom() -> None:
    raise RuntimeError("boom")


def _ctrl_c() -> None:
    raise KeyboardInterrupt


OUTCOMES = {
    "completed": ((), None, None),
    "usage error": (("seed=abc",), None, fpexp.UsageError),
    "run failed": ((), _boom, fpexp.RunFailed),
    "interrupted": ((), _ctrl_c, KeyboardInterrupt),
    "SIGINT": ((), lambda: signal.raise_signal(signal.SIGINT), KeyboardInterrupt),
    "SIGTERM": ((), lambda: signal.raise_signal(signal.SIGTERM), KeyboardInterrupt),
}


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_state_after_a_call_is_the_state_before(outcome, notebook, tmp_path, monkeypatch):
    overrides, inject, raises = OUTCOMES[outcome]
    if inject is not None:
        _raise_in_pipeline(monkeypatch, inject)
    before = snapshot()
    logging.getLogger("notebook").info("before")
    _caught.clear()
    with redirect_stderr(io.StringIO()) as err:
        if raises is None:
            assert fpexp.run(*FAST, *overrides, root=tmp_path / "out").status == "completed"
        else:
            with pytest.raises(raises):
                fpexp.run(*FAST, *overrides, root=tmp_path / "out")
    assert_same(before, snapshot())
    assert "Traceback" not in err.getvalue()
    assert notebook.read_text() == "before\n"  # nothing of the run in the caller's log
    # A SIGTERM goes on to the caller's own handler once the record says interrupted (by
    # default that ends the process, as the signal asked); Ctrl-C is KeyboardInterrupt only.
    expected = [signal.SIGTERM] if outcome == "SIGTERM" else []
    assert _caught == expected


def test_the_run_sees_a_new_process_torch_default_dtype(warm, notebook, tmp_path):
    assert torch.get_default_dtype() == torch.float64  # the caller's, float32 in the run
    assert hashes(fpexp.run(*FAST, root=tmp_path / "out").dir) == hashes(warm.dir)


TORCH_SETTINGS = {  # what a notebook may have set -> how to undo it
    "default device": (lambda: torch.set_default_device("meta"), torch.get_default_device),
    "deterministic": (
        lambda: torch.use_deterministic_algorithms(True, warn_only=True),
        lambda: (
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
        ),
    ),
}


@pytest.mark.parametrize("setting", TORCH_SETTINGS)
def test_the_run_sees_a_new_process_torch_settings(setting, warm, tmp_path):
    change, read = TORCH_SETTINGS[setting]
    new_process = read()
    change()
    try:
        mine = read()
        with redirect_stderr(io.StringIO()):
            run = fpexp.run(*FAST, root=tmp_path / "out")
        assert read() == mine != new_process  # the caller's again
    finally:
        torch.set_default_device(None)
        torch.use_deterministic_algorithms(False)
    assert hashes(run.dir) == hashes(warm.dir)


def test_inside_a_hydra_app(warm, tmp_path, monkeypatch):
    import hydra
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    (tmp_path / "app.yaml").write_text("greeting: hi\n")
    seen: dict[str, Any] = {}
    store = ConfigStore.instance()  # an app's structured configs, named like fpexp's
    store.store(name="config", node={"seed": 1, "extra": "app"})
    store.store(group="task", name="binary", node={"kind": "app"})

    def task(cfg: Any) -> None:
        hc, loader = HydraConfig.get(), GlobalHydra.instance().config_loader()
        before = snapshot()
        seen["run"] = fpexp.run(*FAST, root=tmp_path / "out")
        seen["after"], seen["before"] = snapshot(), before
        seen["same"] = HydraConfig.get() is hc and GlobalHydra.instance().config_loader() is loader
        seen["app"] = loader.load_configuration("app", [], hc.mode).greeting

    app_dir = tmp_path / "apprun"
    argv = ["app", f"hydra.run.dir={app_dir}", "hydra/job_logging=none", "hydra/hydra_logging=none"]
    monkeypatch.setattr(sys, "argv", argv)
    try:
        with caller_state():  # the app's own changes to this process, undone for the others
            hydra.main(version_base=None, config_path=str(tmp_path), config_name="app")(task)()
    finally:
        store.repo.pop("config.yaml")
        store.repo.pop("task")
    assert_same(seen["before"], seen["after"])
    assert seen["same"] and seen["app"] == "hi"
    assert hashes(seen["run"].dir) == hashes(warm.dir)


def test_reading_a_run_leaves_the_state_too(warm):
    """``run.model()`` builds layers (their initial draws are overwritten by the weights)."""
    before = snapshot()
    warm.model(), warm.outputs(), warm.table("predictions"), fpexp.load(warm.dir).metrics
    assert_same(before, snapshot())


def _in_thread(*overrides: str, root: Path) -> fpexp.Run:
    done: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: done.update(run=fpexp.run(*overrides, root=root)))
    thread.start()
    thread.join()
    return done["run"]


def test_from_a_thread_same_files_and_a_note(warm, tmp_path, capsys):
    before = snapshot()
    run = _in_thread(*FAST, root=tmp_path)
    assert_same(before, snapshot())
    assert hashes(run.dir) == hashes(warm.dir)
    assert capsys.readouterr().err.count(NOT_MAIN_THREAD) == 1


def test_two_threads_at_once_are_run_one_after_the_other(warm, tmp_path, monkeypatch, capsys):
    import fpexp.cli

    real, running, most = fpexp.cli.run_hydra, [], []

    def one_at_a_time(*args: Any, **kwargs: Any) -> Any:
        running.append(1)
        most.append(len(running))
        try:
            return real(*args, **kwargs)
        finally:
            running.pop()

    monkeypatch.setattr(fpexp.cli, "run_hydra", one_at_a_time)
    runs: dict[str, fpexp.Run] = {}
    tasks = {"binary": FAST, "multiclass": (*FAST, "task=multiclass")}
    threads = [
        threading.Thread(target=lambda t=t, o=o: runs.update({t: fpexp.run(*o, root=tmp_path / t)}))
        for t, o in tasks.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(most) == 1 and set(runs) == set(tasks)
    assert hashes(runs["binary"].dir) == hashes(warm.dir)
    alone = fpexp.run(*tasks["multiclass"], root=tmp_path / "main")
    assert hashes(runs["multiclass"].dir) == hashes(alone.dir)


MANY = [
    ["task=multiclass", "model.hidden=[4]"],
    ["data=synthetic", "task=regression", "dtype=float64"],
    ["task=multilabel", "output.format=npy", "seed=7"],
]
ONE_PROCESS = """
import json, sys, random, torch, fpexp
out = {}
for i, args in enumerate(json.loads(sys.argv[1])):
    torch.set_default_dtype([torch.float64, torch.float32][i % 2]); torch.manual_seed(i)
    random.seed(i)
    out[i] = str(fpexp.run(*args, root=sys.argv[2]).dir)
print(json.dumps(out))
"""


@pytest.mark.slow
def test_many_calls_in_one_process_equal_separate_processes(tmp_path):
    """The calls in one process (a fork of tests/warm_python's server: torch imported, nothing
    run), then each in a process of its own."""
    script = textwrap.dedent(ONE_PROCESS)
    done = WARM.run([json.dumps(MANY), str(tmp_path / "one")], tmp_path, ENV, code=script)
    assert done.returncode == 0, done.stderr
    dirs = json.loads(done.stdout.splitlines()[-1])
    for i, args in enumerate(MANY):  # each a process of its own (tests/warm_python.py's fork)
        alone = tmp_path / f"alone{i}"
        assert call_fpexp([*args, f"hydra.run.dir={alone}"], tmp_path).returncode == 0
        assert hashes(Path(dirs[str(i)])) == hashes(alone), args


def test_a_sweep_under_caller_state_leaves_the_state_too(notebook, tmp_path):
    """What ``fpexp.sweep`` wraps: a multirun (sweep callbacks, the launcher fpexp stores)."""
    from hydra.core.config_store import ConfigStore

    from fpexp.cli import run_hydra

    before, launchers = snapshot(), dict(ConfigStore.instance().repo["hydra"]["launcher"])
    with redirect_stderr(io.StringIO()), caller_state():
        done = run_hydra(["-m", *FAST, "seed=1,2", f"hydra.sweep.dir={tmp_path / 's'}"])
    assert done.code == 0 and [r.status for r in done.runs] == ["completed"] * 2
    assert_same(before, snapshot())
    assert ConfigStore.instance().repo["hydra"]["launcher"] == launchers


API_CALLS = {
    "sweep": lambda warm, root: fpexp.sweep(*FAST, "seed=1,2", root=root),
    "sweep joblib": lambda warm, root: fpexp.sweep(*FAST, "seed=1,2", root=root, launcher="joblib"),
    "rerun": lambda warm, root: fpexp.rerun(warm, check=True, root=root),
    "resume": lambda warm, root: fpexp.resume(_one_job_failed(fpexp.sweep(*FAST, root=root))),
}


def _one_job_failed(sweep: fpexp.Sweep) -> fpexp.Sweep:
    record = sweep.dir / "0" / "run.json"
    record.write_text(record.read_text().replace('"status": "completed"', '"status": "failed"', 1))
    return sweep


@pytest.mark.parametrize(
    "call", [pytest.param(c, marks=pytest.mark.slow) if "joblib" in c else c for c in API_CALLS]
)
def test_the_other_api_calls_leave_the_state_too(call, warm, notebook, tmp_path):
    """``fpexp.sweep`` (joblib: worker processes, slow) and ``fpexp.rerun`` (i11-api) go
    through ``caller_state`` as well, and change nothing outside it."""
    before = snapshot()
    with redirect_stderr(io.StringIO()):
        API_CALLS[call](warm, tmp_path / "out")
    assert_same(before, snapshot())


def _git(cwd: Path, *args: str) -> str:
    who = ["-c", "user.name=n", "-c", "user.email=n@example.com"]
    done = subprocess.run(["git", *who, *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_each_call_records_the_git_state_of_its_own_time(warm, tmp_path, monkeypatch):
    """A notebook commits (or edits) its code between two runs: the second run's record
    says so, as a new process's would (the environment was cached for the process)."""
    monkeypatch.chdir(tmp_path)
    _git(tmp_path, "init", "-q")
    (tmp_path / "code.py").write_text("a = 1\n")
    _git(tmp_path, "add", "code.py")
    _git(tmp_path, "commit", "-qm", "one")
    first = fpexp.run(*FAST, root=tmp_path / "out").record["environment"]["git"]
    (tmp_path / "code.py").write_text("a = 2\n")
    dirty = fpexp.run(*FAST, root=tmp_path / "out").record["environment"]["git"]
    _git(tmp_path, "commit", "-qam", "two")
    second = fpexp.run(*FAST, root=tmp_path / "out").record["environment"]["git"]
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert (first["dirty"], dirty["dirty"], second["dirty"]) == (False, True, False)
    assert first["commit"] != head and second["commit"] == head


def _second_ctrl_c() -> None:
    """Ctrl-C pressed again while the call puts the caller's state back."""
    signal.raise_signal(signal.SIGINT)


def _error_in_restore() -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize("during_restore", [_second_ctrl_c, _error_in_restore])
@pytest.mark.parametrize("outcome", ["completed", "interrupted"])
def test_ctrl_c_while_the_state_is_put_back_leaves_it_put_back(
    outcome, during_restore, notebook, tmp_path, monkeypatch
):
    """Every part is put back (sys.stderr was left a copying Tee), and the
    KeyboardInterrupt comes after that."""
    import fpexp.api_state

    def save_with_a_late_ctrl_c() -> Any:
        return during_restore

    savers = list(fpexp.api_state.SAVERS)
    savers.insert(1, save_with_a_late_ctrl_c)  # restored last but one
    monkeypatch.setattr(fpexp.api_state, "SAVERS", tuple(savers))
    if outcome == "interrupted":
        _raise_in_pipeline(monkeypatch, _ctrl_c)
    with redirect_stderr(io.StringIO()):
        before = snapshot()
        with pytest.raises(KeyboardInterrupt):
            fpexp.run(*FAST, root=tmp_path / "out")
        after = snapshot()
    assert_same(before, after)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream", [io.StringIO, _Terminal])
def test_the_run_sees_the_callers_stderr_as_a_terminal_or_not(stream, warm, tmp_path, monkeypatch):
    seen: list[bool] = []
    _raise_in_pipeline(monkeypatch, lambda: seen.append(sys.stderr.isatty()))
    with redirect_stderr(stream()):
        fpexp.run(*FAST, root=tmp_path / "out")
    assert seen == [stream is _Terminal]


def test_reading_a_model_waits_for_a_run_in_another_thread(warm):
    """``run.model()`` draws throw-away weights from torch's global RNG (forked, put back):
    meanwhile a run in another thread would have its RNG rewound under it."""
    from fpexp.api_state import ONE_AT_A_TIME

    holding, release, built = threading.Event(), threading.Event(), []

    def a_run_in_progress() -> None:
        with ONE_AT_A_TIME:
            holding.set()
            release.wait(30)

    other = threading.Thread(target=a_run_in_progress)
    other.start()
    holding.wait(30)
    reader = threading.Thread(target=lambda: built.append(warm.model()))
    reader.start()
    reader.join(1.0)
    waited = not built
    release.set()
    reader.join(30)
    other.join(30)
    assert waited and len(built) == 1


KERNEL = """
import signal, sys, fpexp, fpexp.app
real = fpexp.app.execute
def execute(*args):
    signal.raise_signal(signal.SIGTERM)  # the kernel is told to stop, mid-run
    return real(*args)
fpexp.app.execute = execute
try:
    fpexp.run("data=synthetic", "data.n_rows=8", root=sys.argv[1])
except BaseException as err:
    print("survived:", type(err).__name__)
print("survived")
"""


@pytest.mark.slow
def test_a_sigterm_during_a_call_ends_a_process_with_the_default_handler(tmp_path):
    """A notebook kernel sent SIGTERM stops as told, once the record says interrupted."""
    done = WARM.run([str(tmp_path / "out")], tmp_path, ENV, code=KERNEL)  # a fresh process
    assert done.returncode == -signal.SIGTERM, done.stdout + done.stderr
    assert "survived" not in done.stdout and "Traceback" not in done.stderr
    (record,) = (tmp_path / "out").rglob("run.json")
    assert json.loads(record.read_text())["status"] == "interrupted"
