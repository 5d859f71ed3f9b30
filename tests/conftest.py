"""Shared fixtures: in-process config composition and a runner for the CLI.

``run_fpexp`` / ``run_into`` / ``fpexp_cli`` call ``fpexp.cli.main`` in this process (stdout,
stderr, exit code and cwd as a process would have them), except in tests marked ``slow``:
there the process is the point, and they start a real ``python -m fpexp`` (forked from a warm
interpreter that has imported torch once: see ``warm_python``)."""

from __future__ import annotations

import contextlib
import copy
import gc
import io
import json
import logging
import os
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rewrite_scope  # noqa: F401  (first of all: pytest is not to rewrite Hydra's modules)

# isort: split
import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig
from warm_python import WARM, WarmProcess

from fpexp.config.compose import compose_config
from fpexp.config.store import register

REPO = Path(__file__).resolve().parent.parent
# The CLI as a user runs it: without HYDRA_FULL_ERROR, whatever the test environment has.
ENV = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
# The warning filters a fresh interpreter has (pytest installs its own per test).
_FRESH_WARNING_FILTERS = list(warnings.filters)
# Whether the running test is marked slow (set before its fixtures): its CLI calls are processes.
_CURRENT = {"slow": False}


def pytest_configure(config: pytest.Config) -> None:
    _ctrl_c_handled_by_python()
    _whole_modules_longest_first(config)
    _tmp_on_ram_disk(config)
    if not hasattr(config, "workerinput"):  # once, before the workers start
        _bytecode_compiled()


def _ctrl_c_handled_by_python() -> None:
    """Python's own Ctrl-C handler, as an interactive start installs it. A suite started in the
    background by a script (``.ci/run &``) inherits SIGINT ignored, and Python then leaves it
    ignored: the tests of what Ctrl-C does to a run or an API call would see nothing."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _bytecode_compiled() -> None:
    """fpexp's bytecode in its ``__pycache__`` (git-ignored), written once: with
    ``PYTHONDONTWRITEBYTECODE`` set (as on the CI machine), every process the suite starts would
    compile fpexp's modules from source again, 0.1-0.2 s of CPU each. What runs is the same."""
    import compileall

    for package in ("fpexp", "hydra_plugins"):
        compileall.compile_dir(REPO / package, quiet=1)


def _whole_modules_longest_first(config: pytest.Config) -> None:
    """``pytest -n N`` hands out whole modules (xdist's ``loadfile``) in ``LONG_FIRST``'s order
    instead of single tests: each module's fixtures are made once, not on every worker (9% of
    the suite's time), and no long module starts last. An explicit ``--dist`` is kept."""
    given = config.invocation_params.args
    if getattr(config.option, "dist", "no") == "load" and not any(
        str(a).startswith("--dist") for a in given
    ):
        config.option.dist = "loadfile"
        config.option.loadscopereorder = False  # LONG_FIRST's order, not by number of tests


def _tmp_on_ram_disk(config: pytest.Config) -> None:
    """``tmp_path`` on a RAM disk where there is one and no place was chosen (``--basetemp``,
    ``PYTEST_DEBUG_TEMPROOT``). fpexp fsyncs every file it writes, and run.json at every phase:
    the same calls cost ~3.5 ms each on this machine's disk and ~0.06 ms on tmpfs, a fifth of
    an in-process run. Nothing is skipped: the same work, on another filesystem."""
    shm = Path("/dev/shm")
    if config.option.basetemp or "PYTEST_DEBUG_TEMPROOT" in os.environ or not shm.is_dir():
        return
    with contextlib.suppress(OSError):
        free = os.statvfs(shm)
        if os.access(shm, os.W_OK) and free.f_bavail * free.f_frsize > 2**30:
            os.environ["PYTEST_DEBUG_TEMPROOT"] = str(shm)


# The modules by their measured time, longest first (mypy's among them: cold on a clean clone):
# with ``pytest -n 2`` each runs whole on one worker, in this order (_whole_modules_longest_first;
# ``ONE_LOKY_POOL``'s modules together, at the first one's place).
LONG_FIRST = (
    "test_compose_equivalence.py",
    "test_mlflow.py",
    "test_api.py",
    "test_trust_sweeps.py",
    "test_faults.py",
    "test_sweep.py",
    "test_types.py",
    "test_api_state.py",
    "test_resume.py",
    "test_reuse.py",
    "test_trust_records.py",
    "test_layer_lists.py",
    "test_diagnose.py",
    "test_trust_model.py",
    "test_lifecycle.py",
    "test_files.py",
    "test_imports.py",
    "test_speedups.py",
    "test_commands.py",
    "test_trust_data.py",
    "test_runs_query.py",
    "test_report.py",
    "test_compare.py",
    "test_norm_checkpoints.py",
    "test_packaging.py",
    "test_review_tasks.py",
    "test_state.py",
    "test_hydra_memo.py",
)


# The modules whose sweeps run on joblib's launcher in the test process: one worker runs them all
# (one xdist work unit), so that loky's reusable worker pool (two processes, each importing
# torch: ~2 s of CPU apiece) starts on one worker, not on both.
ONE_LOKY_POOL = frozenset(
    {
        "test_api.py",
        "test_api_state.py",
        "test_resume.py",
        "test_reuse.py",
        "test_sweep.py",
        "test_trust_sweeps.py",
    }
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's ``loadfile`` (see ``_whole_modules_longest_first``), ``ONE_LOKY_POOL``'s
    modules one unit."""
    if getattr(config.option, "dist", None) != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class OneLokyPool(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return "one loky pool" if Path(scope).name in ONE_LOKY_POOL else scope

    return OneLokyPool(config, log)


def pytest_collection_finish(session: pytest.Session) -> None:
    _garbage_collector_tuned()


def _garbage_collector_tuned() -> None:
    """What the session holds to its end (imported modules, collected items) frozen out of the
    garbage collector's walks, and young cycles collected every 20,000 allocations, not 700:
    each in-process run makes thousands of OmegaConf nodes (each points to its parent), and each
    full collection walked the whole heap (~0.14 s). GC took ~8% of a worker's CPU, ~3% now.
    Only when garbage is collected changes; fpexp never calls on the collector."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FIRST)))  # stable


def pytest_runtest_setup(item: pytest.Item) -> None:
    _CURRENT["slow"] = item.get_closest_marker("slow") is not None


def _exit_code(exit: SystemExit) -> int:
    """The status a process leaving through ``exit`` would have (its message on stderr)."""
    if exit.code is None or isinstance(exit.code, int):
        return exit.code or 0
    print(exit.code, file=sys.stderr)
    return 1


@contextlib.contextmanager
def _as_a_fresh_process(cwd: Path):
    """``cwd``, the environment, logging and warnings as ``python -m fpexp`` would find them;
    everything put back afterwards (Hydra's handlers closed, so its log file is complete)."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    saved = [
        (lg, lg.handlers[:], lg.level, lg.disabled, lg.propagate)
        for lg in loggers
        if isinstance(lg, logging.Logger)
    ]
    from fpexp import environment

    environment._environment.cache_clear()  # captured once per process (git's dirty flag)
    old_cwd, old_env = os.getcwd(), os.environ.get("HYDRA_FULL_ERROR")
    os.environ.pop("HYDRA_FULL_ERROR", None)
    logging.getLogger().handlers[:] = []
    os.chdir(cwd)
    try:
        with warnings.catch_warnings():
            warnings.filters[:] = _FRESH_WARNING_FILTERS
            warnings.showwarning = warnings._showwarning_orig  # type: ignore[attr-defined]
            yield
    finally:
        os.chdir(old_cwd)
        if old_env is not None:
            os.environ["HYDRA_FULL_ERROR"] = old_env
        for lg, handlers, level, disabled, propagate in saved:
            for h in lg.handlers:
                if h not in handlers:
                    h.close()
            lg.handlers[:], lg.level = handlers, level
            lg.disabled, lg.propagate = disabled, propagate


def call_fpexp(
    args: Sequence[str], cwd: Path, timeout: float | None = None
) -> subprocess.CompletedProcess:
    """``fpexp ARGS`` from ``cwd``: ``fpexp.cli.main`` in this process, with the exit code,
    stdout and stderr a process would have had (an unexpected exception: its traceback, 1).
    A real ``python -m fpexp`` in tests marked slow."""
    if _CURRENT["slow"]:
        return WARM.run(args, cwd, ENV, timeout=timeout)
    from fpexp.cli import main

    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        _as_a_fresh_process(cwd),
    ):
        try:
            code = main(list(args))
        except SystemExit as exit:
            code = _exit_code(exit)
        except Exception:
            traceback.print_exc()
            code = 1
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def _composed_choices() -> dict[tuple[str, ...], DictConfig]:
    """The shipped config composed per list of group choices (read only: handed out as copies)."""
    return {}


@pytest.fixture
def compose_cfg(_composed_choices) -> Callable[..., DictConfig]:
    """Compose the shipped config with overrides, in-process (no run directory).

    As Hydra composes: the group choices pick the defaults (composed once per list of choices in
    the session), then the other overrides are applied in order by Hydra's own
    ``_apply_overrides_to_config`` to a copy, as Hydra applies them after every composition (the
    same code, so the same values and errors); a composition costs ~50 times an application.
    Overrides that are not plain (sweeps, ``/`` or ``@`` keys, ``hydra``): composed whole."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from fpexp.config.store import group_names

    register()
    groups, parser = group_names(), OverridesParser.create()

    def _compose(*overrides: str) -> DictConfig:
        parsed = parser.parse_overrides(list(overrides))
        if any(
            o.is_sweep_override() or o.package is not None or "/" in o.key_or_group for o in parsed
        ) or any(o.key_or_group.split(".")[0] == "hydra" for o in parsed):
            return compose_config(overrides)
        choices = tuple(o.input_line for o in parsed if o.key_or_group in groups)
        if choices not in _composed_choices:
            _composed_choices[choices] = compose_config(choices)
        cfg = copy.deepcopy(_composed_choices[choices])
        ConfigLoaderImpl._apply_overrides_to_config(
            [o for o in parsed if o.key_or_group not in groups], cfg
        )
        return cfg

    yield _compose
    GlobalHydra.instance().clear()


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    run_dir: Path

    @property
    def record(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "run.json").read_text())


def start_fpexp(
    cwd: Path,
    *args: str,
    stdout: Any = subprocess.PIPE,
    stderr: Any = subprocess.PIPE,
    env: dict[str, str] | None = None,
) -> WarmProcess:
    """``python -m fpexp ARGS`` from ``cwd``, started in the background (to signal or read it):
    a real process, forked from the warm interpreter (``env``: instead of ``ENV``)."""
    return WARM.start(args, cwd, ENV if env is None else env, stdout=stdout, stderr=stderr)


def run_fpexp(
    args: Sequence[str], run_dir: Path | None, cwd: Path | None = None, timeout: float = 120
) -> CliResult:
    """``python -m fpexp ARGS hydra.run.dir=RUN_DIR`` as a user would type it."""
    cmd = [*args]
    if run_dir is not None:
        cmd.append(f"hydra.run.dir={run_dir}")
    done = call_fpexp(cmd, cwd or REPO, timeout)
    return CliResult(done.returncode, done.stdout, done.stderr, Path(run_dir or "."))


def run_into(
    tmp_path: Path, *args: str, name: str = "run"
) -> tuple[subprocess.CompletedProcess, Path]:
    """``python -m fpexp ARGS`` from ``tmp_path`` into ``tmp_path/name`` (``name2``, ``name3``,
    ... once taken: fpexp refuses a used run directory): (process, run dir)."""
    out, n = tmp_path / name, 1
    while out.exists():
        n += 1
        out = tmp_path / f"{name}{n}"
    return call_fpexp([*args, f"hydra.run.dir={out}"], tmp_path), out


@pytest.fixture
def fpexp_cli(tmp_path: Path) -> Callable[..., CliResult]:
    """Run the CLI into a fresh directory under ``tmp_path``."""
    counter = iter(range(1000))

    def _run(*args: str, cwd: Path | None = None) -> CliResult:
        return run_fpexp(args, tmp_path / f"run{next(counter)}", cwd=cwd or tmp_path)

    return _run


@pytest.fixture(scope="session")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> CliResult:
    """One default run (``python -m fpexp``), shared by the tests that only read it."""
    base = tmp_path_factory.mktemp("default")
    result = run_fpexp([], base / "run", cwd=base)
    assert result.returncode == 0, result.stderr
    return result


def _no_renderer() -> None:
    raise OSError("no helper process: the summary plots in-process")


@pytest.fixture(scope="session", autouse=True)
def _summary_png_undrawn() -> Iterator[tuple[Any, Any]]:
    """In-process sweeps (module-scoped fixtures' too) do not draw summary.png (its helper
    process imports matplotlib: 13% of the suite's CPU) unless the test is marked ``png`` and
    looks at it (``_summary_png_drawn_if_marked``). summary.csv/.md are written as always; real
    ``python -m fpexp`` processes draw it as always."""
    import fpexp.summary_plot

    drawn = (fpexp.summary_plot.Renderer, fpexp.summary_plot.plot_summary)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fpexp.summary_plot, "Renderer", _no_renderer)
        mp.setattr(fpexp.summary_plot, "plot_summary", lambda *a: None)
        yield drawn


@pytest.fixture(autouse=True)
def _summary_png_drawn_if_marked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, _summary_png_undrawn
) -> None:
    """The real drawing, for a test marked ``png``."""
    if request.node.get_closest_marker("png") is not None:
        renderer, plot = _summary_png_undrawn
        monkeypatch.setattr("fpexp.summary_plot.Renderer", renderer)
        monkeypatch.setattr("fpexp.summary_plot.plot_summary", plot)
