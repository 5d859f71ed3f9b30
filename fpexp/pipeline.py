"""The steps of one run: validate -> build -> forward (streamed into the writers) -> write.

Each step is timed into the record. Heavy imports (torch, pyarrow) happen here, inside the
run, so ``--help`` and config errors stay fast.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from fpexp import initial_weights
from fpexp.config import sizes
from fpexp.config.validate import check_config, check_in_features
from fpexp.errors import UsageError
from fpexp.faults import RunFault
from fpexp.interrupts import shielded
from fpexp.record import RunRecord

log = logging.getLogger("fpexp")

MODEL_FILE, WEIGHTS_FILE, LAYERS_FILE = "model.txt", "weights.safetensors", "layers.csv"
OUTPUT_NAMES = (
    MODEL_FILE,
    WEIGHTS_FILE,
    LAYERS_FILE,
    *(f"{stem}.{fmt}" for stem in ("outputs", "predictions") for fmt in ("csv", "parquet", "npy")),
)


def execute(cfg: DictConfig, record: RunRecord) -> None:
    cwd = Path(record.data["command"]["cwd"])
    if cfg.data.source == "file":  # hash the input on the other core while torch loads
        from fpexp.data.file import input_path
        from fpexp.hashing import prefetch

        prefetch(input_path(cfg.data, cwd))
    with record.phase("import"):
        import torch

        from fpexp.builder import build_model
        from fpexp.config.schema import hidden_widths
        from fpexp.console import show_results
        from fpexp.data import open_source
        from fpexp.devices import DTYPES, device_problems, resolve_device
        from fpexp.heads import Head, label_problems
        from fpexp.layer_stats import LayerStats
        from fpexp.model_summary import count_parameters, render
        from fpexp.output_formats import OUTPUT_FORMATS
        from fpexp.runner import forward
        from fpexp.writers import TableWriter, write_layers

    with record.phase("validate"):
        problems = check_config(cfg)
        available = sizes.available_memory()  # nothing big is allocated before these checks
        # from the config alone, before synthetic data is made; too big: nothing is made
        too_big = sizes.size_problems(cfg, available) if not problems else []
        problems += too_big
        source = choice = None
        if not too_big and not any(p.key.startswith("data.") for p in problems):
            try:
                source = open_source(cfg.data, cwd)
            except UsageError as err:
                problems += err.problems
        if source is not None:
            record.update(input=source.describe())
            _show_columns(record.data["input"], record)
            n_features = len(source.feature_names)
            problems += check_in_features(cfg.model, n_features, source.name)
            choice = initial_weights.choose(record.data["config"], n_features, cwd)
            problems += initial_weights.problems(choice)
            problems += label_problems(cfg.task, source)
            if not problems:
                rows = source.describe().get("rows")
                problems += sizes.size_problems(cfg, available, n_features, rows)
        problems += device_problems(str(cfg.device))
        if problems:
            raise UsageError(problems)

    with record.phase("build"), _memory("while building the model"):
        lesson, columns = getattr(source, "class_names", None), getattr(source, "label_names", None)
        head = Head.from_config(cfg.task).named(lesson, columns)
        device, dtype = resolve_device(str(cfg.device)), DTYPES[cfg.dtype]
        in_features = len(source.feature_names)
        torch.manual_seed(int(cfg.seed))
        hidden = hidden_widths(cfg.model)
        model = build_model(in_features, hidden, cfg.model.activation, bool(cfg.model.bias), head)
        # initialised in float32 on the CPU (the same weights everywhere), then moved; loaded
        # weights are cast straight to the model's dtype and checked as cast
        model = model.to(device=device, dtype=dtype)
        record.update(weights=initial_weights.apply(model, choice, list(source.feature_names)))
        total, trainable = count_parameters(model)
        record.update(
            device=str(device),
            dtype=cfg.dtype,
            seed=int(cfg.seed),
            torch_threads=torch.get_num_threads(),
            batch_size=int(cfg.batch_size),
            classes=head.record(),
            model={
                "repr": str(model),
                "in_features": in_features,
                "hidden": hidden,
                "width": hidden[0] if hidden and len(set(hidden)) == 1 else None,
                "depth": len(hidden),
                "parameters": total,
                "trainable": trainable,
            },
        )

    fmt = str(cfg.output.format)
    names = {stem: OUTPUT_FORMATS[fmt].file_name(stem) for stem in ("outputs", "predictions")}
    rows = source.describe().get("rows")
    writers: list[TableWriter] = []
    try:  # from the first byte written until every output is registered: abort on any error
        with record.phase("forward"), _memory("during the forward pass"):
            stats = LayerStats(model)
            try:
                for stem in ("outputs", "predictions"):
                    writers.append(TableWriter(record.run_dir / names[stem], fmt, rows))
                batch, progress = int(cfg.batch_size), bool(cfg.progress)
                result = forward(model, source, head, device, dtype, batch, writers, progress)
                for writer in writers:
                    writer.finish()  # their last bytes and fsync go on behind the next phase
            finally:
                stats.remove()
        record.update(input=source.describe())
        _say_what_happened(record, result)

        with record.phase("write"):
            from fpexp.atomic import write_text

            write_text(record.run_dir / MODEL_FILE, render(model, in_features))
            _save_weights(model, record.run_dir / WEIGHTS_FILE)
            layers = stats.table()
            write_layers(record.run_dir / LAYERS_FILE, layers)
            for writer in writers:
                writer.close()
            for role, writer in zip(("outputs", "predictions"), writers, strict=True):
                columns = writer.columns or None
                record.add_output(
                    writer.path.name, role, writer.sha256, format=fmt, columns=columns
                )
            record.add_output(MODEL_FILE, "model")
            record.add_output(WEIGHTS_FILE, "weights")
            record.add_output(LAYERS_FILE, "layers")
            record.update(results=result.summary, layers=layers)
            if result.metrics is not None:
                record.update(metrics=result.metrics)
            notes = [n for n in (result.labels_note, result.nonfinite_note()) if n]
            if notes:  # last: notes end the record
                record.update(notes=[*record.data.get("notes", []), *notes])
    except BaseException:
        with shielded():  # a second Ctrl-C must not stop the writers' threads half-way
            for writer in writers:
                writer.abort()  # also takes back a final name its thread already gave
        raise

    multirun = record.data["command"].get("mode") == "MULTIRUN"
    show_results(model, result, head, console=not multirun)


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


def _show_columns(described: dict[str, Any], record: RunRecord) -> None:
    """Which columns became features (and which did not), on the console and in fpexp.log."""
    from fpexp.data.columns import column_lines

    console = record.data["command"].get("mode") != "MULTIRUN"
    for line in column_lines(described):
        log.info("%s", line, extra={"console": console})


def _save_weights(model: Any, path: Path) -> None:
    from fpexp.faults import as_os_error
    from fpexp.weights import save_weights

    try:
        save_weights(model, path)
    except Exception as err:  # safetensors reports a full disk as its own error
        cause = as_os_error(err, path)
        if cause is None:
            raise
        raise cause from err


def _say_what_happened(record: RunRecord, result: Any) -> None:
    """Rows data.nan=drop dropped, and outputs that overflowed: on the console and in run.json
    (the run still completes: its outputs are what the model computes)."""
    console = record.data["command"].get("mode") != "MULTIRUN"
    dropped = int(record.data.get("input", {}).get("rows_dropped") or 0)
    if dropped:
        line = f"dropped {dropped} row{'s' * (dropped != 1)} (data.nan=drop)"
        log.info("%s", line, extra={"console": console})
    note = result.nonfinite_note()
    if note is not None:
        log.info("warning: %s", note, extra={"console": console})
        result.summary["nonfinite_output_rows"] = result.nonfinite
