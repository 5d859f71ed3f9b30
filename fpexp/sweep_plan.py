"""``sweep.json``: the jobs a sweep will run, written at its root before the first job starts.

The job list comes from Hydra's own ``BasicSweeper`` argument splitting, so job ``N`` here is
job ``N`` of the sweep. The summary reconciles it with the job directories at the end, so a job
that never started (Ctrl-C, a killed worker, a batch Hydra gave up on) is listed as ``not run``
instead of missing. Other sweepers (Optuna, ...) choose their jobs as they go, and a custom
``hydra.sweep.subdir`` puts job N elsewhere than ``SWEEP_DIR/N``: no plan then.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from fpexp.atomic import write_text
from fpexp.record import PLAN

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
JOB_SUBDIR = "${hydra.job.num}"


def raw_subdir(config: DictConfig) -> str:
    """``hydra.sweep.subdir`` as written (``${hydra.job.num}``), not resolved."""
    sweep = OmegaConf.to_container(config.hydra.sweep, resolve=False)
    return str(sweep.get("subdir") if isinstance(sweep, dict) else None)


def planned_jobs(config: DictConfig) -> list[list[str]] | None:
    """Each job's overrides, in job order, as ``BasicSweeper`` will launch them; None when
    another sweeper is configured or Hydra's splitting is not available."""
    if OmegaConf.select(config, "hydra.sweeper._target_") != BASIC_SWEEPER:
        return None
    if raw_subdir(config) != JOB_SUBDIR:
        return None  # the summary finds job N in SWEEP_DIR/N only
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.global_hydra import GlobalHydra
        from hydra.core.override_parser.overrides_parser import OverridesParser

        loader = GlobalHydra.instance().config_loader()
        params = OmegaConf.select(config, "hydra.sweeper.params") or {}
        arguments = [f"{k}={v}" for k, v in params.items()]
        task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
        arguments += [str(a) for a in task] if isinstance(task, list) else []
        parsed = OverridesParser.create(config_loader=loader).parse_overrides(arguments)
        batches = BasicSweeper.split_arguments(parsed, None)
    except Exception:  # an unknown Hydra: the summary falls back to the job directories
        return None
    return [list(job) for batch in batches for job in batch]


def write_plan(sweep_dir: Path, jobs: list[list[str]]) -> None:
    plan = {"jobs": [{"job": n, "overrides": o} for n, o in enumerate(jobs)]}
    write_text(Path(sweep_dir) / PLAN, json.dumps(plan, indent=2) + "\n")
