"""What a run shows on the console (and in ``fpexp.log``): model, outputs, one line per row."""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from fpexp.heads import LESSON, Head
from fpexp.runner import ForwardResult

log = logging.getLogger("fpexp")


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def row_line(i: int, result: ForwardResult, head: Head, id_width: int) -> str:
    """``dog       p(mammal)=0.4821 -> not_mammal (0)   true: mammal``."""
    rid = str(result.ids[i]).ljust(id_width)
    out = result.outputs[i].float().tolist()
    if head.kind == "binary":
        pred = int(result.predictions[i])
        text = f"{rid}  p({head.output_names()[0]})={_fmt(out[0])}  -> {head.label(pred)} ({pred})"
    elif head.kind == "multiclass":
        pred = int(result.predictions[i])
        probs = "  ".join(f"{n}={_fmt(v)}" for n, v in zip(head.output_names(), out, strict=True))
        text = f"{rid}  {probs}  -> {head.label(pred)} ({pred})"
    else:
        text = f"{rid}  " + "  ".join(
            f"{n}={_fmt(v)}" for n, v in zip(head.output_names(), out, strict=True)
        )
    if result.labels is not None:
        text += f"   true: {true_label(result.labels[i], head)}"
    return text


def true_label(raw: object, head: Head) -> str:
    """A true label as the class it names: a class index becomes its class's name; a name
    (the lesson's, or a string label) and a regression target stay as they are."""
    if not head.is_classification or not head.classes or isinstance(raw, str | np.str_):
        return str(raw)
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(raw)
    if value.is_integer() and 0 <= value < len(head.classes):
        return head.classes[int(value)]
    return str(raw)


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
    if result.metrics:
        figures = "  ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
            for k, v in result.metrics.items()
        )
        log.info("metrics: %s", figures, extra=extra)
