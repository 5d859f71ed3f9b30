"""The Hydra callback: checks run and sweep directories, and tracks the multirun in progress.

``on_run_start``/``on_multirun_start`` come before Hydra writes anything into the run or sweep
directory, so that is where a directory that is not new, empty and writable is refused
(``run_dirs.claim``). Hydra 1.3 skips ``on_multirun_end`` when any job raises, so for a sweep
the callback only notes where it lives and which jobs it will run (``sweep.json``, in the
launching process for every launcher); ``cli.run_hydra`` writes the summary after Hydra returns
or raises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from fpexp.run_dirs import claim, claim_job_subdir
from fpexp.sweep_plan import planned_jobs, write_plan

_sweep_dir: Path | None = None
_jobs: list[list[str]] | None = None
_renderer: Any = None


def _directory(config: DictConfig, key: str) -> str:
    try:
        return str(OmegaConf.select(config, key))
    except Exception:  # ${hydra:...} in the path: resolve it as run_job will
        HydraConfig.instance().set_config(config)
        return str(OmegaConf.select(config, key))


def _raw_subdir(config: DictConfig) -> str:
    return str(OmegaConf.to_container(config.hydra.sweep, resolve=False).get("subdir"))


def _job_subdir(config: DictConfig, num: int) -> str | None:
    """``hydra.sweep.subdir`` as job ``num`` will see it; None if it cannot resolve yet."""
    job = config.copy()
    try:
        with open_dict(job):
            job.hydra.job.num = num
            job.hydra.job.id = f"{job.hydra.job.name}_{num}"
        return str(OmegaConf.select(job, "hydra.sweep.subdir", throw_on_missing=True))
    except Exception:  # ${hydra:...} or a resolver of its own: the raw value is checked
        return None


class SweepTracker(Callback):
    """Hydra callback (see ``conf/config.yaml``)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        claim("hydra.run.dir", _directory(config, "hydra.run.dir"))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Claim the sweep directory, write ``sweep.json`` and start the summary plot's
        renderer, so it warms up while the jobs run."""
        global _sweep_dir, _jobs, _renderer
        claim_job_subdir(_raw_subdir(config), _job_subdir(config, 0), _job_subdir(config, 1))
        root = claim("hydra.sweep.dir", _directory(config, "hydra.sweep.dir"))
        _sweep_dir, _jobs = root, planned_jobs(config)
        if _jobs is not None:
            write_plan(root, _jobs)
        from fpexp.summary_plot import Renderer

        try:
            _renderer = Renderer()
        except OSError:
            _renderer = None  # the summary plots in-process instead


class JobFailed(Exception):
    """A sweep job's failure, recorded in its run.json; ``reported`` once logged."""

    def __init__(self, message: str, reported: bool = False) -> None:
        super().__init__(message, reported)
        self.message, self.reported = message, reported

    def __str__(self) -> str:
        return self.message


def job_failure(err: BaseException) -> str:
    """One line for a failed job: ``SystemExit: 3``, ``RuntimeError: ...``."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def started() -> Path | None:
    """The directory of the multirun started in this process since ``reset``, if any."""
    return _sweep_dir


def planned() -> list[list[str]] | None:
    """Each job's overrides, in job order, when the sweep's job list is known."""
    return _jobs


def renderer() -> Any:
    return _renderer


def reset() -> None:
    global _sweep_dir, _jobs, _renderer
    if _renderer is not None:
        _renderer.close()
    _sweep_dir = _jobs = _renderer = None
