"""One experiment's lifecycle: the record, signals, and what a failure leaves behind.

``run_experiment`` is a plain function of a composed config and a run directory; the Hydra
entry point (``cli.py``) only gathers the context and calls it, so tests can call it directly.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fpexp import __version__
from fpexp.errors import Interrupted, UsageError
from fpexp.faults import RunFault, describe
from fpexp.initial_weights import PastRun
from fpexp.interrupts import during_run, shielded
from fpexp.liveness import process_info
from fpexp.pipeline import OUTPUT_NAMES, execute
from fpexp.record import RunRecord

log = logging.getLogger("fpexp")


def run_experiment(
    cfg: DictConfig,
    run_dir: Path,
    context: dict[str, Any] | None = None,
    past: PastRun | None = None,
) -> RunRecord:
    """Run the experiment described by ``cfg`` into ``run_dir`` and return its record;
    ``past`` is the run a ``rerun`` reproduces (its saved weights may be loaded).

    Raises ``UsageError`` for bad input, after recording ``failed`` with the message;
    ``RunFault`` (an ``OSError`` with a one-line ``line``) for a full disk, an I/O error or a
    run directory removed or read-only; ``KeyboardInterrupt``/``Interrupted`` after recording
    ``interrupted``. Every way out removes the outputs first (signals held meanwhile).
    """
    from fpexp.environment import environment

    context = dict(context or {})
    cwd = Path(context.pop("cwd", Path.cwd()))
    if past is not None:
        context["rerun_of"] = str(past.run_dir)
    record = RunRecord(
        run_dir,
        fpexp_version=__version__,
        run_dir=str(Path(run_dir).resolve()),
        process=process_info(),
        command={"cwd": str(cwd), **context},
        config=OmegaConf.to_container(cfg, resolve=True),
    )
    with during_run():
        try:
            record.save()
            with record.phase("environment"):
                scope = run_dir.parent if context.get("mode") == "MULTIRUN" else run_dir
                record.update(environment=environment(cwd, Path(scope)))
            execute(cfg, record, past)
            record.finish("completed")
        except UsageError as err:
            _clean_up(record, "failed", err.message)
            raise
        except (KeyboardInterrupt, Interrupted) as err:
            why = "SIGINT" if isinstance(err, KeyboardInterrupt) else str(err)
            _clean_up(record, "interrupted", f"interrupted ({why})")
            raise
        except OSError as err:
            outcome = _clean_up(record, "failed", f"{type(err).__name__}: {err}")
            line = describe(err, record.run_dir, outcome)
            raise RunFault(err.errno, err.strerror, line) from err
        except BaseException as err:
            _clean_up(record, "failed", f"{type(err).__name__}: {err}")
            raise
    return record


def _clean_up(record: RunRecord, status: str, error: str) -> str:
    """Remove every output, then record ``status``, shielded from signals. Returns what the
    run directory holds now, for the console: a fault may prevent either step."""
    with shielded():
        kept = record.discard_outputs(OUTPUT_NAMES)
        try:
            record.finish(status, error)
        except OSError as err:
            outcome = f"could not record {status}: {err.strerror or err}; {_on_disk(record)}"
        else:
            outcome = f"run.json says {status}"
    if kept:
        return f"{outcome}; could not remove {', '.join(kept)}"
    return f"{outcome}, no outputs kept"


def _on_disk(record: RunRecord) -> str:
    try:
        status = json.loads(record.path.read_text())["status"]
    except (OSError, ValueError, LookupError, TypeError):
        return "no readable run.json"
    return f"run.json says {status}"
