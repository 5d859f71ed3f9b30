"""The forward and write phases: the model over the data, streamed into the output tables,
then the files that describe the run (model.txt, weights, layers.csv) and their record."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from fpexp.output_formats import OUTPUT_FORMATS
from fpexp.phases.build import Built
from fpexp.record import RunRecord

if TYPE_CHECKING:
    from fpexp.layer_stats import LayerStats
    from fpexp.runner import ForwardResult
    from fpexp.writers import TableWriter

log = logging.getLogger("fpexp")

MODEL_FILE, WEIGHTS_FILE, LAYERS_FILE = "model.txt", "weights.safetensors", "layers.csv"
OUTPUT_NAMES = (
    MODEL_FILE,
    WEIGHTS_FILE,
    LAYERS_FILE,
    *(f.file_name(stem) for stem in ("outputs", "predictions") for f in OUTPUT_FORMATS.values()),
)
STEMS = ("outputs", "predictions")


@dataclass(frozen=True)
class Forwarded:
    """The forward pass done: its result, the layer statistics, and the output tables (all
    rows written, not yet closed)."""

    built: Built
    result: ForwardResult
    stats: LayerStats
    writers: tuple[TableWriter, ...]
    format: str


def forward(
    cfg: DictConfig, record: RunRecord, built: Built, writers: list[TableWriter]
) -> Forwarded:
    """Run the model over every batch into new output tables, appended to ``writers`` as
    they are opened (the caller aborts them if anything fails)."""
    from fpexp.layer_stats import LayerStats
    from fpexp.runner import forward as run_forward
    from fpexp.writers import TableWriter

    fmt = str(cfg.output.format)
    rows = built.source.describe().get("rows")
    stats = LayerStats(built.model)
    try:
        for stem in STEMS:
            name = OUTPUT_FORMATS[fmt].file_name(stem)
            writers.append(TableWriter(record.run_dir / name, fmt, rows))
        batch, progress = int(cfg.batch_size), bool(cfg.progress)
        b = built
        result = run_forward(b.model, b.source, b.head, b.device, b.dtype, batch, writers, progress)
        for writer in writers:
            writer.finish()  # their last bytes and fsync go on behind the next phase
    finally:
        stats.remove()
    return Forwarded(built, result, stats, tuple(writers), fmt)


def write(record: RunRecord, done: Forwarded) -> None:
    """Write model.txt, the weights and layers.csv, close the output tables, and record every
    file and the results."""
    from fpexp.atomic import write_text
    from fpexp.model_summary import render
    from fpexp.writers import write_layers

    model, result = done.built.model, done.result
    write_text(
        record.run_dir / MODEL_FILE,
        render(model, done.built.checked.in_features, done.built.shapes),
    )
    _save_weights(model, record.run_dir / WEIGHTS_FILE)
    layers = done.stats.table()
    write_layers(record.run_dir / LAYERS_FILE, layers)
    for writer in done.writers:
        writer.close()
    for role, writer in zip(STEMS, done.writers, strict=True):
        columns = writer.columns or None
        record.add_output(
            writer.path.name,
            role,
            writer.sha256,
            format=done.format,
            columns=columns,
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


def say_what_happened(record: RunRecord, result: ForwardResult) -> None:
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
