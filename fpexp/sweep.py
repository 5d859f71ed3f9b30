"""Tracks the multirun in progress, so the summary is written even when jobs fail.

Hydra 1.3 skips ``on_multirun_end`` when any job raises, so the callback only notes where the
sweep lives (``on_multirun_start``, in the launching process for every launcher) and
``cli.main`` writes the summary after Hydra returns or raises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

_sweep_dir: Path | None = None
_renderer: Any = None


class SweepTracker(Callback):
    """Hydra callback (see ``conf/config.yaml``): records the sweep directory and starts the
    summary plot's renderer, so it warms up while the jobs run."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global _sweep_dir, _renderer
        _sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        from fpexp.summary_plot import Renderer

        try:
            _renderer = Renderer()
        except OSError:
            _renderer = None  # the summary plots in-process instead


def started() -> Path | None:
    """The directory of the multirun started in this process since ``reset``, if any."""
    return _sweep_dir


def renderer() -> Any:
    return _renderer


def reset() -> None:
    global _sweep_dir, _renderer
    if _renderer is not None:
        _renderer.close()
    _sweep_dir = _renderer = None
