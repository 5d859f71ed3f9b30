"""Live export: each run into MLflow as it ends, when ``FPEXP_MLFLOW_TRACKING_URI`` is set.

``LiveExport`` is a Hydra callback (``hydra.callbacks.mlflow_export`` in ``conf/config.yaml``)
whose ``on_job_end`` exports the run just ended (a sweep's job: as a child of the sweep's parent
run, left open); when a sweep ends, ``sweep_ended`` exports the sweep with its summary and
closes the parent. Why an environment variable and not a config key: a record never holds the
URI (it may carry credentials), tracking is no part of what a run computes (its config and
content key stay the same), and ``fpexp rerun``/``resume`` replay a record's Hydra overrides
only from a short list (callbacks refused): the variable reaches them as it reaches any run.
An export that fails is a warning line: the run's own result and exit status stand.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

URI_VARIABLE = "FPEXP_MLFLOW_TRACKING_URI"
EXPERIMENT_VARIABLE = "FPEXP_MLFLOW_EXPERIMENT"


def _say(line: str) -> None:
    from fpexp.summary import printable

    print(printable(f"mlflow: {line}"), flush=True)


def _live(refs: list[str], sweep_job: bool) -> None:
    """Export ``refs`` to the store the variables name; a failure is one warning line."""
    uri = os.environ.get(URI_VARIABLE)
    if not uri:
        return
    from fpexp.errors import UsageError
    from fpexp.mlflow_export import export
    from fpexp.mlflow_store import ServerFailure

    experiment = os.environ.get(EXPERIMENT_VARIABLE) or "fpexp"
    try:
        export(refs, Path("."), [], uri, experiment, None, _say, close=not sweep_job)
    except (UsageError, ServerFailure, OSError) as err:
        from fpexp.summary import printable

        again = f"fpexp export mlflow {refs[0]} exports it later"
        print(printable(f"fpexp: warning: mlflow: {err} ({again})"), file=sys.stderr)


class LiveExport(Callback):
    """Hydra callback: the run just ended, into MLflow (nothing unless the variable is set)."""

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        if not os.environ.get(URI_VARIABLE):
            return
        run_dir = Path(str(config.hydra.runtime.output_dir))
        if (run_dir / "run.json").is_file():
            _live([str(run_dir)], (run_dir.parent / "multirun.yaml").is_file())


def sweep_ended(sweep_dir: Path) -> None:
    """The sweep's parent run: its summary added, its status set, closed."""
    _live([str(sweep_dir)], False)
