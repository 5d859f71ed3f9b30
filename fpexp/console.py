"""What a run shows on the console (and in ``fpexp.log``): model, outputs, one line per row."""

from __future__ import annotations

import logging

import torch
from torch import nn

from fpexp.heads import LESSON, Head
from fpexp.runner import ForwardResult

log = logging.getLogger("fpexp")


def row_line(i: int, result: ForwardResult, head: Head, id_width: int) -> str:
    """``dog       p(mammal)=0.4821 -> not_mammal (0)   true: mammal``: the head's line."""
    rid = str(result.ids[i]).ljust(id_width)
    text = f"{rid}  {head.row_text(result.outputs[i].float().tolist(), result.predictions[i])}"
    if result.labels is not None:
        text += f"   true: {head.true_text(result.labels[i])}"
    return text


def show_results(model: nn.Module, result: ForwardResult, head: Head, console: bool = True) -> None:
    """Log the model, the output tensor (first rows), where the class names came from, one
    line per row, then metrics; to the log file only if not ``console`` (sweep jobs, whose
    table is printed at the end)."""
    extra = {"console": console}
    log.info("%s", model, extra=extra)
    shown = len(result.ids)
    with torch.inference_mode():
        log.info("%s", result.outputs, extra=extra)
    if note := head.classes_note():
        # the lesson's own names are its default output: said in fpexp.log and run.json only
        log.info("%s", note, extra={"console": console and head.classes_from != LESSON})
    id_width = max((len(str(i)) for i in result.ids), default=0)
    for i in range(shown):
        log.info("%s", row_line(i, result, head, id_width), extra=extra)
    if result.rows > shown:
        more = result.rows - shown
        log.info("... %d more rows (all in the outputs and predictions files)", more, extra=extra)
    if result.labels_note:
        log.info("note: %s", result.labels_note, extra=extra)
    if result.metrics:
        figures = "  ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
            for k, v in result.metrics.items()
        )
        log.info("metrics: %s", figures, extra=extra)
