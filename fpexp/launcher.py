"""``hydra/launcher=joblib`` for fpexp: Hydra's joblib launcher, with every job in a process of its
own, so one job's process being killed fails that job only.

With Hydra's joblib launcher, a worker killed mid-job (SIGKILL, the OOM killer) breaks loky's
executor: it kills every other worker and the whole batch raises ``TerminatedWorkerError``, so
healthy jobs are lost and the summary is never reached. Here each loky worker forks the job
(``os.fork``, after importing fpexp, so the job starts warm) and waits for it. A job that dies
is ``failed`` in its ``run.json`` with the signal that ended it; the worker lives on and the
other jobs run. A loky worker itself killed still breaks the pool: the jobs that had not
started (no job directory) then run in a fresh one. Elsewhere than Linux (no ``fork`` on
Windows; macOS system frameworks are not fork-safe) jobs run in the worker, as in Hydra's
launcher.

The plugin class is ``hydra_plugins.fpexp_launcher.joblib_launcher.IsolatingJoblibLauncher``
(Hydra takes launchers only from ``hydra_plugins``); ``fpexp.config.store.register_launcher``
stores it as ``hydra/launcher=joblib`` with the joblib plugin's settings. Only public Hydra API
is used: the Launcher plugin interface, ``run_job`` and the config loader's
``load_sweep_config``, as in Hydra's own joblib launcher.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
import time
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from fpexp.job_mark import mark_killed
from fpexp.job_record import read_job
from fpexp.liveness import is_alive
from fpexp.sweep_tracking import JobFailed

log = logging.getLogger(__name__)
KEYS = ("hydra.sweep.dir", "hydra.sweep.subdir")


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Any:
    """Hydra's joblib ``launch`` with ``execute_job`` below; ``launcher`` holds the settings."""
    setup_globals()
    config, context = launcher.config, launcher.hydra_context
    assert config is not None and context is not None
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    options = {**launcher.joblib, "backend": "loky"}  # as Hydra's: threads do not fit Hydra
    for key in ("pre_dispatch", "batch_size", "max_nbytes"):
        if isinstance(options.get(key), str) and options[key].isdecimal():
            options[key] = int(options[key])
    log.info(
        "Joblib.Parallel(n_jobs=%s) is launching %d jobs, each in a process of its own",
        options.get("n_jobs"),
        len(job_overrides),
    )
    state = Singleton.get_state()
    run = (context, config, launcher.task_function, state)
    return _run_all(
        options, [(initial_job_idx + i, list(o)) for i, o in enumerate(job_overrides)], run
    )


def _run_all(options: dict[str, Any], jobs: list[tuple[int, list[str]]], run: tuple) -> list[Any]:
    """Run ``jobs`` (number, overrides); when a loky worker itself is killed (not a job's
    process) the pool breaks: the jobs that had not started run again in a fresh pool, never a
    job whose directory exists already."""
    from joblib import Parallel, delayed

    results: dict[int, Any] = {}
    pending = jobs
    while pending:
        try:
            out = Parallel(**options)(delayed(execute_job)(n, o, *run) for n, o in pending)
            results.update(zip((n for n, _ in pending), out, strict=True))
            break
        except BrokenProcessPool as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            log.error("a joblib worker process died (%s); the jobs not started run again", first)
            started = [(n, o) for n, o in pending if _job_dir(run, n, o).exists()]
            for n, o in started:
                results[n] = _lost(_job_dir(run, n, o), o, f"its joblib worker died ({first})")
            if not started:  # no job got going: do not try forever
                raise JobFailed(f"a joblib worker process died ({first})") from None
            pending = [job for job in pending if job not in started]
    return [results[n] for n, _ in jobs]


def _job_dir(run: tuple, idx: int, overrides: list[str]) -> Path:
    context, config = run[0], run[1]
    job_cfg = context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(job_cfg):
        job_cfg.hydra.job.id = f"{job_cfg.hydra.job.name}_{idx}"
        job_cfg.hydra.job.num = idx
    return Path(str(OmegaConf.select(job_cfg, KEYS[0]))) / str(OmegaConf.select(job_cfg, KEYS[1]))


def _lost(job_dir: Path, overrides: list[str], reason: str) -> JobReturn:
    """The ``JobReturn`` of a started job whose worker died: its record says how it ended,
    once its process (forked, it outlives the worker) has ended."""
    rec, _ = read_job(job_dir)
    while rec is not None and rec["status"] == "running" and is_alive(rec.get("process")):
        time.sleep(0.1)
        rec, _ = read_job(job_dir)
    if rec is not None and rec.get("status") == "completed":
        return JobReturn(overrides=overrides, status=JobStatus.COMPLETED, _return_value=None)
    return JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=JobFailed(reason))


def execute_job(
    idx: int,
    overrides: Sequence[str],
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
) -> JobReturn:
    """In a loky worker: compose job ``idx``'s config, then run it in a forked child."""
    setup_globals()
    Singleton.set_state(singleton_state)
    job_cfg = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(job_cfg):
        job_cfg.hydra.job.id = f"{job_cfg.hydra.job.name}_{idx}"
        job_cfg.hydra.job.num = idx
    HydraConfig.instance().set_config(job_cfg)
    run = {"hydra_context": hydra_context, "config": job_cfg, "task_function": task_function}
    if not sys.platform.startswith("linux"):  # no fork (Windows) or no safe fork (macOS)
        return run_job(**run, job_dir_key=KEYS[0], job_subdir_key=KEYS[1])
    _warm_up()
    return _forked(run, list(overrides))


def _warm_up() -> None:
    """Import what every job imports (torch above all), once per worker, not once per job."""
    import importlib

    for name in ("torch", "fpexp.app", "fpexp.builder", "fpexp.data", "fpexp.runner"):
        importlib.import_module(name)
    for name in ("fpexp.writers", "fpexp.heads", "fpexp.layer_stats", "fpexp.console"):
        importlib.import_module(name)


def _forked(run: dict[str, Any], overrides: list[str]) -> JobReturn:
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the job's own process: whatever happens, it never returns into the worker
        try:
            os.close(reader)
            _child(writer, run)
        finally:
            os._exit(70)
    os.close(writer)
    with os.fdopen(reader, "rb") as fh:
        payload = fh.read()
    _, status = os.waitpid(pid, 0)
    try:
        ret = pickle.loads(payload)
    except Exception:
        ret = None
    if isinstance(ret, JobReturn):
        return ret
    return _died(run["config"], overrides, pid, os.waitstatus_to_exitcode(status))


def _child(writer: int, run: dict[str, Any]) -> None:
    """Run the job, send its ``JobReturn`` (pickled) to the worker, and exit."""
    try:
        ret = run_job(**run, job_dir_key=KEYS[0], job_subdir_key=KEYS[1])
    except BaseException as err:  # KeyboardInterrupt, SystemExit: the worker reports it
        ret = JobReturn(status=JobStatus.FAILED, _return_value=err)
    import cloudpickle  # as loky: also Hydra's classes that its plugin scan re-imported

    try:
        payload = cloudpickle.dumps(ret)
    except Exception as err:
        failure = JobFailed(f"the job's result cannot be sent back ({err})")
        payload = pickle.dumps(JobReturn(status=JobStatus.FAILED, _return_value=failure))
    with os.fdopen(writer, "wb") as fh:
        fh.write(payload)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _died(job_cfg: DictConfig, overrides: list[str], pid: int, code: int) -> JobReturn:
    """The ``JobReturn`` of a job whose process ended without sending one; marks its record."""
    if code < 0:
        how = f"killed by {_signal_name(-code)}"
    else:
        how = f"exited with code {code} before it finished"
    reason = f"the job's process (pid {pid}) was {how}"
    job_dir = Path(str(OmegaConf.select(job_cfg, KEYS[0]))) / str(
        OmegaConf.select(job_cfg, KEYS[1])
    )
    mark_killed(job_dir.absolute(), reason, pid)
    log.error("job %s: %s", job_cfg.hydra.job.num, reason)
    return JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=JobFailed(reason))
