"""The Hydra callback: checks run and sweep directories, and tracks the multirun in progress.

``on_run_start``/``on_multirun_start`` come before Hydra writes anything into the run or sweep
directory, so that is where a directory that is not new, empty and writable is refused
(``run_dirs.claim``). Hydra 1.3 skips ``on_multirun_end`` when any job raises, so for a sweep
the callback only notes where it lives and which jobs it will run (``sweep.json``, in the
launching process for every launcher); ``cli.run_hydra`` writes the summary after Hydra returns
or raises.

How the callback reaches the call that started Hydra: Hydra instantiates it from config (no
arguments of ours), so ``cli.run_hydra`` opens ``tracking()``, which sets a ``ContextVar`` to a
fresh ``SweepState`` for that call only and resets it on exit, also after an error or Ctrl-C.
The callback fills that state; nothing outlives the call, so two calls in one process (a
notebook) never see each other's sweep. Outside ``tracking()`` (Hydra driven by someone else)
the callback still checks directories and writes ``sweep.json``, but tracks nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from fpexp.run_dirs import claim, claim_job_subdir
from fpexp.sweep_plan import planned_jobs, raw_subdir, write_plan

if TYPE_CHECKING:
    from fpexp.summary_plot import Renderer


@dataclass
class SweepState:
    """The multirun one ``cli.run_hydra`` call started: filled in by ``SweepTracker``."""

    sweep_dir: Path | None = None
    jobs: list[list[str]] | None = None  # each job's overrides, when the job list is known
    renderer: Renderer | None = None  # draws summary.png; warms up while the jobs run
    resuming: Path | None = None  # ``fpexp resume``: this existing sweep dir, its plan kept

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None


_CURRENT: ContextVar[SweepState | None] = ContextVar("fpexp_sweep_state", default=None)


@contextmanager
def tracking(resuming: Path | None = None) -> Iterator[SweepState]:
    """A new ``SweepState`` that ``SweepTracker`` fills during the block (and only then);
    its renderer is closed on the way out. ``resuming``: the sweep ``fpexp resume`` reruns."""
    state = SweepState(resuming=resuming)
    token = _CURRENT.set(state)
    try:
        yield state
    finally:
        _CURRENT.reset(token)
        state.close()


def _directory(config: DictConfig, key: str) -> str:
    try:
        return str(OmegaConf.select(config, key))
    except Exception:  # ${hydra:...} in the path: resolve it as run_job will
        HydraConfig.instance().set_config(config)
        return str(OmegaConf.select(config, key))


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
        claim_job_subdir(raw_subdir(config), _job_subdir(config, 0), _job_subdir(config, 1))
        jobs, state = planned_jobs(config), _CURRENT.get()
        resuming = state.resuming if state is not None else None
        if resuming is not None:  # fpexp resume: the sweep dir and its plan are kept
            from fpexp.resume_plan import check_replanned

            root, jobs = resuming, check_replanned(resuming, jobs)
        else:
            root = claim("hydra.sweep.dir", _directory(config, "hydra.sweep.dir"))
        if state is not None:  # noted first: the summary is written even if the plan is not
            state.sweep_dir, state.jobs = root, jobs
        if jobs is not None and resuming is None:
            write_plan(root, jobs)
        if state is None:
            return  # not started by run_hydra: no summary will be written
        from fpexp.summary_plot import Renderer

        try:
            state.renderer = Renderer()
        except OSError:
            state.renderer = None  # the summary plots in-process instead


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
