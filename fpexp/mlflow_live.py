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


# A live export never holds up a run for long: MLflow's HTTP client waits 120 s a request and
# retries 7 times by default; live, it waits 10 s and does not retry, unless the user set these.
LIVE_HTTP = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "10", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}


def _live(refs: list[str], sweep_job: bool, failed: set[str]) -> None:
    """Export ``refs`` to the store the variables name; a failure is one warning line, and
    the store goes into ``failed`` (the callback's: a sweep's later jobs do not wait on it
    again; ``fpexp export mlflow`` exports them later)."""
    uri = os.environ.get(URI_VARIABLE)
    if not uri or uri in failed:
        return
    from fpexp.mlflow_export import export
    from fpexp.mlflow_store import shown_uri

    experiment = os.environ.get(EXPERIMENT_VARIABLE) or "fpexp"
    unset = {k: v for k, v in LIVE_HTTP.items() if k not in os.environ}
    os.environ.update(unset)
    try:
        export(refs, Path("."), [], uri, experiment, None, _say, close=not sweep_job)
    except Exception as err:  # any failure of the store: the run itself stands
        from fpexp.summary import printable

        failed.add(uri)
        what = shown_uri(str(err).strip().splitlines()[0] if str(err).strip() else repr(err))
        again = f"not tried again in this call; fpexp export mlflow {refs[0]} exports it later"
        print(printable(f"fpexp: warning: mlflow: {what} ({again})"), file=sys.stderr)
    finally:
        for name in unset:
            os.environ.pop(name, None)


class LiveExport(Callback):
    """Hydra callback: the run just ended, into MLflow (nothing unless the variable is set).
    Hydra makes one per call (a run, or a sweep's in-process jobs): a store that failed for
    one job is not waited on again by the next."""

    def __init__(self) -> None:
        self.failed: set[str] = set()

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        if not os.environ.get(URI_VARIABLE):
            return
        run_dir = Path(str(config.hydra.runtime.output_dir))
        if (run_dir / "run.json").is_file():
            sweep_job = (run_dir.parent / "multirun.yaml").is_file()
            _live([str(run_dir)], sweep_job, self.failed)


def sweep_ended(sweep_dir: Path) -> None:
    """The sweep's parent run: its summary added, its status set, closed."""
    _live([str(sweep_dir)], False, set())
