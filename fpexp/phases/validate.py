"""The validate phase: every problem with the config, the data, the weights and the device,
found before anything big is made, and reported all at once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from fpexp import initial_weights
from fpexp.config import sizes
from fpexp.config.validate import check_config, check_in_features
from fpexp.errors import Problem, UsageError
from fpexp.heads import label_problems
from fpexp.initial_weights import Choice, PastRun
from fpexp.record import RunRecord

if TYPE_CHECKING:
    from fpexp.data import Source

log = logging.getLogger("fpexp")


@dataclass(frozen=True)
class Checked:
    """A run that passed validation: its data source is open, its weights chosen."""

    source: Source
    weights: Choice
    available: int | None  # bytes this process may allocate, when validation began

    @property
    def in_features(self) -> int:
        return len(self.source.feature_names)


def validate(cfg: DictConfig, record: RunRecord, cwd: Path, past: PastRun | None) -> Checked:
    """Check everything that can be checked before building; ``UsageError`` with every
    problem found. ``past``: the run a rerun reproduces."""
    from fpexp.data import open_source
    from fpexp.devices import device_problems
    from fpexp.layer_list import target_problems

    problems = check_config(cfg)
    problems += target_problems(cfg.model.layers)
    available = sizes.available_memory()  # nothing big is allocated before these checks
    # from the config alone, before synthetic data is made; too big: nothing is made
    too_big = sizes.size_problems(cfg, available) if not problems else []
    problems += too_big
    source: Source | None = None
    choice: Choice | None = None
    if not too_big and not any(p.key.startswith("data.") for p in problems):
        try:
            source = open_source(cfg.data, cwd)
        except UsageError as err:
            problems += err.problems
    if source is not None:
        choice = _check_with_data(cfg, record, source, problems, available, cwd, past)
    problems += device_problems(str(cfg.device))
    if problems:
        raise UsageError(problems)
    assert source is not None and choice is not None  # no source: a data problem was found
    return Checked(source, choice, available)


def _check_with_data(
    cfg: DictConfig,
    record: RunRecord,
    source: Source,
    problems: list[Problem],
    available: int | None,
    cwd: Path,
    past: PastRun | None,
) -> Choice:
    """Record the input, add the problems only the data can show to ``problems`` and choose
    the weights (checked, not loaded)."""
    record.update(input=source.describe())
    _show_columns(record.data["input"], record)
    n_features = len(source.feature_names)
    problems += check_in_features(cfg.model, n_features, source.name)
    choice = choose_weights(record, n_features, cwd, past)
    problems += initial_weights.problems(choice)
    problems += label_problems(cfg.task, source)
    if not problems:
        rows = source.describe().get("rows")
        problems += sizes.size_problems(cfg, available, n_features, rows)
    return choice


def choose_weights(record: RunRecord, in_features: int, cwd: Path, past: PastRun | None) -> Choice:
    """Where the run's weights come from: seeded, ``model.weights`` or the rerun's original."""
    return initial_weights.choose(record.data["config"], in_features, cwd, past=past)


def _show_columns(described: dict[str, Any], record: RunRecord) -> None:
    """Which columns became features (and which did not), on the console and in fpexp.log."""
    from fpexp.data.columns import column_lines

    console = record.data["command"].get("mode") != "MULTIRUN"
    for line in column_lines(described):
        log.info("%s", line, extra={"console": console})
