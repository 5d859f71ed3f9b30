"""The phases of one run: validate -> build -> forward (streamed into the writers) -> write.

Each phase is a function of the previous one's typed result (``fpexp.phases``), timed into
the record under its name. Heavy imports (torch, pyarrow) happen here, inside the run and
timed as the ``import`` phase, so ``--help`` and config errors stay fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from fpexp.faults import RunFault
from fpexp.initial_weights import PastRun
from fpexp.interrupts import shielded
from fpexp.phases.build import build
from fpexp.phases.outputs import (
    LAYERS_FILE,
    MODEL_FILE,
    OUTPUT_NAMES,
    WEIGHTS_FILE,
    forward,
    say_what_happened,
    write,
)
from fpexp.phases.validate import validate
from fpexp.record import RunRecord

if TYPE_CHECKING:
    from fpexp.writers import TableWriter

__all__ = ["LAYERS_FILE", "MODEL_FILE", "OUTPUT_NAMES", "WEIGHTS_FILE", "execute"]

# torch and everything of fpexp's that imports it, loaded in the ``import`` phase
HEAVY_MODULES = (
    "torch",
    "fpexp.builder",
    "fpexp.config.schema",
    "fpexp.console",
    "fpexp.data",
    "fpexp.devices",
    "fpexp.heads",
    "fpexp.layer_stats",
    "fpexp.model_summary",
    "fpexp.runner",
    "fpexp.writers",
)


def execute(cfg: DictConfig, record: RunRecord, past: PastRun | None = None) -> None:
    """Run every phase into ``record``; ``past`` is the run a rerun reproduces."""
    cwd = Path(record.data["command"]["cwd"])
    _prefetch_input(cfg, cwd)
    with record.phase("import"), shielded():  # a Ctrl-C waits for the imports: raised inside
        for name in HEAVY_MODULES:  # torch's C++ start-up it aborted the process (SIGABRT)
            import_module(name)
    with record.phase("validate"):
        checked = validate(cfg, record, cwd, past)
    if cfg.reuse and past is None:  # a rerun always computes: it is what proves a result
        from fpexp.reuse import reuse

        with record.phase("reuse"):
            if reuse(cfg, record, checked, cwd):
                return
    with record.phase("build"), _memory("while building the model"):
        built = build(cfg, record, checked)
    writers: list[TableWriter] = []
    with _aborted_on_error(writers):  # from the first byte written until every output is
        with record.phase("forward"), _memory("during the forward pass"):  # registered
            done = forward(cfg, record, built, writers)
        record.update(input=built.source.describe())
        say_what_happened(record, done.result)
        with record.phase("write"):
            write(record, done)
    if "content_key" not in record.data:
        from fpexp.reuse import key_after_forward

        key_after_forward(record)
    from fpexp.console import show_results

    multirun = record.data["command"].get("mode") == "MULTIRUN"
    show_results(built.model, done.result, built.head, console=not multirun)


def _prefetch_input(cfg: DictConfig, cwd: Path) -> None:
    """Hash an input file, and fpexp's own source for the content key (~8 ms, once a
    process), on the other core while torch loads."""
    import threading

    from fpexp.data.sources import source_of
    from fpexp.reuse import source_digest

    threading.Thread(target=source_digest, name="fpexp source digest", daemon=True).start()

    entry = source_of(cfg.data)
    if entry is not None and (path := entry.input_file(cfg.data, cwd)) is not None:
        from fpexp.hashing import prefetch

        prefetch(path)


@contextmanager
def _aborted_on_error(writers: list[TableWriter]) -> Iterator[None]:
    """On any error, abort every output table opened so far."""
    try:
        yield
    except BaseException:
        with shielded():  # a second Ctrl-C must not stop the writers' threads half-way
            for writer in writers:
                writer.abort()  # also takes back a final name its thread already gave
        raise


_NO_MEMORY = ("can't allocate memory", "out of memory", "cannot allocate memory")


@contextmanager
def _memory(step: str) -> Iterator[None]:
    """An allocation that fails despite the size guard (another process took the memory, a
    limit the guard cannot see): a ``RunFault`` of one line, exit 1, not a traceback."""
    try:
        yield
    except (MemoryError, RuntimeError) as err:
        if isinstance(err, RuntimeError) and not any(m in str(err) for m in _NO_MEMORY):
            raise
        what = (
            f"out of memory {step} (the process could not allocate what it needed; "
            "try a smaller model.width, model.depth, model.hidden or batch_size, or free memory)"
        )
        raise RunFault(None, what) from err
