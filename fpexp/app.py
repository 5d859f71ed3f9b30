"""One experiment's lifecycle: the record, signals, and what a failure leaves behind.

``run_experiment`` is a plain function of a composed config and a run directory; the Hydra
entry point (``cli.py``) only gathers the context and calls it, so tests can call it directly.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fpexp import __version__, initial_weights
from fpexp.errors import Interrupted, UsageError
from fpexp.pipeline import OUTPUT_NAMES, execute
from fpexp.record import RunRecord

log = logging.getLogger("fpexp")

last_run_dir: Path | None = None  # the run directory of the latest run_experiment call


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into ``Interrupted`` so the record says so (main thread only)."""

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_experiment(
    cfg: DictConfig, run_dir: Path, context: dict[str, Any] | None = None
) -> RunRecord:
    """Run the experiment described by ``cfg`` into ``run_dir`` and return its record.

    Raises ``UsageError`` for bad input, after recording ``failed`` with the message.
    """
    from fpexp.environment import environment

    context = dict(context or {})
    cwd = Path(context.pop("cwd", Path.cwd()))
    past = initial_weights.reproducing()
    if past is not None:
        context["rerun_of"] = str(past.run_dir)
    record = RunRecord(
        run_dir,
        fpexp_version=__version__,
        run_dir=str(Path(run_dir).resolve()),
        command={"cwd": str(cwd), **context},
        config=OmegaConf.to_container(cfg, resolve=True),
    )
    record.save()
    global last_run_dir
    last_run_dir = record.run_dir
    try:
        with _sigterm_as_interrupt():
            with record.phase("environment"):
                record.update(environment=environment(cwd))
            execute(cfg, record)
    except UsageError as err:
        record.discard_outputs(OUTPUT_NAMES)
        record.finish("failed", err.message)
        raise
    except (KeyboardInterrupt, Interrupted) as err:
        record.discard_outputs(OUTPUT_NAMES)
        record.finish("interrupted", f"interrupted ({type(err).__name__} {err})".strip())
        raise
    except BaseException as err:
        record.discard_outputs(OUTPUT_NAMES)
        record.finish("failed", f"{type(err).__name__}: {err}")
        raise
    record.finish("completed")
    return record
