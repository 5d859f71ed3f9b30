"""Test-only Hydra callbacks that inject faults into one sweep job, named on the command line
(``+hydra.callbacks.fault._target_=sweep_hooks.KillJob``): nothing in fpexp's config reaches them.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class KillJob(Callback):
    """SIGKILL the process running job ``job``: before its record (``start``) or once its
    run.json says ``running`` (``mid``); or (``worker``) the loky worker that forked it."""

    def __init__(self, job: int, when: str = "mid") -> None:
        self.job, self.when = job, when

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.job.num != self.job:
            return
        if self.when == "start":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.when == "worker":
            parent = os.getppid()
            with open(f"/proc/{parent}/cmdline", "rb") as fh:
                assert b"loky" in fh.read(), "the job's parent is not a loky worker"
            os.kill(parent, signal.SIGKILL)
            return
        import fpexp.app

        def killed(*args: Any, **kw: Any) -> None:
            os.kill(os.getpid(), signal.SIGKILL)

        fpexp.app.execute = killed  # this process only: the job's own (forked) process
