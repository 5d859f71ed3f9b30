"""One call of Hydra: the task function it calls and the result it returns.

Hydra calls a task function of one argument (the composed config). ``cli.run_hydra`` makes a
``HydraCall`` for each call and hands Hydra its bound method ``task``, so everything a run
needs from its caller (the past run a ``rerun`` reproduces) and everything it reports back
(its directory and status, a single run's failure) lives in that object, never in a module
global: a second call in the same process (a notebook, the Python API) starts from nothing.
The object is plain data, so a launcher that pickles the task function into worker processes
(joblib) carries the context along; what a worker appends stays there, and a sweep's outcome
is read from its jobs' records (the summary) instead.
"""

from __future__ import annotations

import logging
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from fpexp.errors import EXIT_USAGE, Interrupted, UsageError
from fpexp.faults import EXIT_FAULT, RunFault
from fpexp.initial_weights import PastRun

log = logging.getLogger("fpexp")


@dataclass(frozen=True)
class RunOutcome:
    """One run of the call: its directory and how it ended (``completed``, ``failed``,
    ``interrupted``, or a sweep job's status as its summary lists it)."""

    run_dir: Path
    status: str


@dataclass(frozen=True)
class HydraRun:
    """What ``cli.run_hydra`` returns.

    ``code``: 0 ok, 2 bad input, 1 a fault or a failed sweep job, 130 interrupted.
    ``runs``: the runs it made (a sweep's jobs in job order); ``sweep_dir`` for a multirun;
    ``failures``: a single run's failure, one line per problem (without ``fpexp: error:``);
    ``stopped_by``: the signal that interrupted it (``SIGINT``, ``SIGTERM``), if one did.
    """

    code: int
    runs: tuple[RunOutcome, ...] = ()
    sweep_dir: Path | None = None
    failures: tuple[str, ...] = ()
    stopped_by: str | None = None

    @property
    def run_dir(self) -> Path | None:
        """The directory of a single run (not a sweep), if it got that far."""
        if self.sweep_dir is not None or len(self.runs) != 1:
            return None
        return self.runs[0].run_dir


@dataclass
class HydraCall:
    """The context of one ``run_hydra`` call, shared with the task function Hydra calls."""

    past: PastRun | None = None  # the run a rerun reproduces
    runs: list[RunOutcome] = field(default_factory=list)
    failures: list[UsageError | RunFault] = field(default_factory=list)
    stopped_by: str | None = None  # the signal that interrupted the call

    def exit_code(self) -> int:
        """A single run's failure as an exit code (a sweep job's failure raises instead)."""
        if any(isinstance(err, RunFault) for err in self.failures):
            return EXIT_FAULT
        return EXIT_USAGE if self.failures else 0

    def failure_lines(self) -> tuple[str, ...]:
        lines: list[str] = []
        for err in self.failures:
            lines += [str(p) for p in err.problems] if isinstance(err, UsageError) else [err.line]
        return tuple(lines)

    def task(self, cfg: DictConfig) -> None:
        """The Hydra task: one run, into the run directory Hydra made for it."""
        from hydra.core.hydra_config import HydraConfig

        from fpexp.app import run_experiment
        from fpexp.catalog import shown

        hc = HydraConfig.get()
        run_dir = Path(hc.runtime.output_dir)
        context = _context(hc)
        multirun = context["mode"] == "MULTIRUN"
        status = "failed"
        try:
            run_experiment(cfg, run_dir, context, self.past)
            status = "completed"
        except UsageError as err:
            for line in err.lines():
                log.error("%s", line)
            err.reported = True
            if multirun:
                raise  # Hydra marks the job failed and goes on with the others
            self.failures.append(err)  # a single run: exit 2, without Hydra's extra report
            return
        except RunFault as err:  # a full disk, an I/O error, the run directory gone: exit 1
            if multirun:
                raise
            print(f"fpexp: error: {err.line}", file=sys.stderr)  # not logged: fpexp.log may fail
            self.failures.append(err)
            return
        except (KeyboardInterrupt, Interrupted):
            status = "interrupted"
            raise
        except (SystemExit, Exception) as err:
            if not multirun:
                raise
            _job_failed(err)
        finally:
            self.runs.append(RunOutcome(run_dir, status))
        log.info("run directory: %s", shown(run_dir, Path(hc.runtime.cwd)))


def _context(hc: Any) -> dict[str, Any]:
    """The command and Hydra facts a run records (``command`` in run.json)."""
    return {
        "line": shlex.join(["fpexp", *sys.argv[1:]]),
        "argv": list(sys.argv),
        "cwd": hc.runtime.cwd,
        "overrides": list(hc.overrides.task),
        "choices": {
            k: v for k, v in hc.runtime.choices.items() if not k.startswith(("hydra/", "schema/"))
        },
        "mode": hc.mode.name if hc.mode is not None else "RUN",
        "job_num": hc.job.get("num"),
    }


def _job_failed(err: BaseException) -> None:
    """Hydra lets a SystemExit out of a sweep job and so abandons the rest of the sweep; and an
    unexpected exception is one job's failure, recorded in its run.json like any other."""
    from fpexp.sweep_tracking import JobFailed, job_failure

    failure = job_failure(err)
    log.error("job failed: %s", failure)
    log.info("job failed", exc_info=err, extra={"console": False})  # fpexp.log only
    raise JobFailed(failure, reported=True) from None
