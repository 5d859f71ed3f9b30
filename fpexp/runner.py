"""The forward pass, streamed: batches from a source through the model under ``inference_mode``.

Each batch's outputs and predictions go straight to the writers and to running summaries
(output mean/std, predicted class counts, metrics when labels exist); only the first rows are
kept, for the console preview. Memory stays flat however many rows the source has.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from fpexp.data.base import Source
from fpexp.heads import Head

PREVIEW_ROWS = 20


@dataclass
class ForwardResult:
    """The first rows (for the console), the row count, summaries and metrics."""

    ids: np.ndarray
    outputs: torch.Tensor
    predictions: torch.Tensor
    labels: np.ndarray | None
    rows: int = 0
    summary: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    nonfinite: int = 0  # rows whose outputs hold NaN or inf although their inputs are finite
    first_nonfinite: tuple[int, Any] | None = None  # (row number from 1, row id)
    labels_note: str | None = None  # why the data's labels gave no metrics for this head

    def nonfinite_note(self) -> str | None:
        """One line for outputs that overflowed: how many rows, the first one."""
        if not self.nonfinite or self.first_nonfinite is None:
            return None
        number, rid = self.first_nonfinite
        rows = f"{self.nonfinite} row{'s' * (self.nonfinite != 1)}"
        return (
            f"{rows} of finite inputs gave NaN or inf outputs (first: row {number}, id {rid}); "
            "the model overflowed its dtype, so figures from these rows are NaN or inf"
        )


class _ColumnStats:
    """Per-column mean and population std, merged batch by batch (Chan)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def add(self, x: torch.Tensor) -> None:
        x = x.to(torch.float64)
        n = x.shape[0]
        if n == 0:
            return
        b_mean = x.mean(0)
        b_m2 = ((x - b_mean) ** 2).sum(0)
        if self.mean is None or self.m2 is None:
            self.n, self.mean, self.m2 = n, b_mean, b_m2
            return
        total = self.n + n
        delta = b_mean - self.mean
        self.mean = self.mean + delta * n / total
        self.m2 = self.m2 + b_m2 + delta * delta * self.n * n / total
        self.n = total

    def result(self) -> tuple[list[float], list[float]]:
        if self.mean is None or self.m2 is None:
            return [], []
        return self.mean.tolist(), (self.m2 / self.n).sqrt().tolist()


def _columns(ids: np.ndarray, values: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    return {"id": ids, **{name: values[:, j] for j, name in enumerate(names)}}


def _numpy(t: torch.Tensor) -> np.ndarray:
    # bfloat16 has no numpy dtype; float32 holds every bfloat16 value exactly.
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def _progress(enabled: bool, total: int | None) -> Any:
    if not (enabled and sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=" rows", unit_scale=True, file=sys.stderr, leave=False)


def forward(
    model: nn.Module,
    source: Source,
    head: Head,
    device: torch.device,
    dtype: torch.dtype,
    batch_size: int,
    writers: Sequence[Any] | None = None,
    progress: bool = False,
) -> ForwardResult:
    """Run every batch through ``model``; stream results into ``writers`` (outputs, predictions)."""
    names = head.output_names()
    stats, counts = _ColumnStats(), None
    # labels this head cannot read (class names for a regression): no metrics, and said so
    unusable = head.unusable_labels(getattr(source, "label_kind", None))
    labelled = source.describe().get("has_labels") and unusable is None
    metrics = head.metrics() if labelled else None
    positive = getattr(source, "binary_positive", None)
    keep: dict[str, list[Any]] = {"ids": [], "outputs": [], "predictions": [], "labels": []}
    rows, bar, kept = 0, None, 0
    nonfinite, first = 0, None
    model.eval()
    with torch.inference_mode(), warnings.catch_warnings():
        # read-only memory maps (.npy inputs) are never written through
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        for i, batch in enumerate(source.batches(batch_size)):
            if i == 1:
                bar = _progress(progress, source.describe().get("rows"))
                if bar is not None:
                    bar.update(rows)
            x = torch.from_numpy(batch.features).to(device=device, dtype=dtype)
            out = _run_model(model, x)
            if not bool(torch.isfinite(out).all()):
                bad = ~torch.isfinite(out).reshape(len(out), -1).all(1)
                bad &= torch.isfinite(x).reshape(len(x), -1).all(1).cpu()
                if bool(bad.any()) and first is None:
                    j = int(bad.to(torch.int8).argmax())
                    rid = batch.ids[j]
                    number = int(batch.numbers(rows)[j])  # in the file, dropped rows counted
                    first = (number, rid.item() if hasattr(rid, "item") else rid)
                nonfinite += int(bad.sum())
            preds = head.predict(out)
            values, pred_np = _numpy(out), _numpy(preds)
            if writers is not None:
                writers[0].write(_columns(batch.ids, values, names), values)
                labels_too = writers[1].named  # an .npy holds the indices only
                writers[1].write(head.prediction_columns(batch.ids, pred_np, labels_too), pred_np)
            stats.add(out)
            if (batch_counts := head.count(pred_np)) is not None:
                counts = batch_counts if counts is None else counts + batch_counts
            if metrics is not None and batch.labels is not None:
                metrics.update(out, preds, head.encode(batch.labels, batch.numbers(rows), positive))
            if kept < PREVIEW_ROWS:
                take = PREVIEW_ROWS - kept
                keep["ids"].append(batch.ids[:take])
                keep["outputs"].append(out[:take].clone())
                keep["predictions"].append(preds[:take].clone())
                if batch.labels is not None and unusable is None:
                    keep["labels"].append(batch.labels[:take])
                kept += min(take, len(batch.ids))
            rows += len(batch.ids)
            if bar is not None:
                bar.update(len(batch.ids))
    if bar is not None:
        bar.close()
    source.finish()
    means, stds = stats.result()
    summary: dict[str, Any] = {
        "rows": rows,
        "output_mean": dict(zip(names, means, strict=False)),
        "output_std": dict(zip(names, stds, strict=False)),
    }
    summary.update(head.summary_fields(counts))
    empty = torch.empty(0, head.out_features, dtype=dtype)
    return ForwardResult(
        ids=np.concatenate(keep["ids"]) if keep["ids"] else np.array([]),
        outputs=torch.cat(keep["outputs"]) if keep["outputs"] else empty,
        predictions=torch.cat(keep["predictions"]) if keep["predictions"] else head.predict(empty),
        labels=np.concatenate(keep["labels"]) if keep["labels"] else None,
        rows=rows,
        summary=summary,
        metrics=metrics.result() if metrics is not None else None,
        nonfinite=nonfinite,
        first_nonfinite=first,
        labels_note=unusable if source.describe().get("has_labels") else None,
    )


def _run_model(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``model(x)``: one row was traced before the run; a batch that fails, or whose rows do
    not stay rows, is a one-line ``UsageError`` (a user's module may mix rows)."""
    from fpexp.errors import Problem, UsageError

    allowed = "modules that keep each row separate"
    try:
        out = model(x)
    except Exception as err:  # any error inside a user's module, on more than one row
        if _no_memory(err):
            raise  # the pipeline's out-of-memory fault (exit 1), not the model's fault
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        what = f"fails on a batch of shape {list(x.shape)} ({text})"
        raise UsageError([Problem("model", what, allowed)]) from None
    if not isinstance(out, torch.Tensor) or out.dim() < 1 or len(out) != len(x):
        got = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        what = f"returns shape {got} for a batch of {len(x)} rows"
        raise UsageError([Problem("model", what, allowed)])
    return out.cpu()


def _no_memory(err: Exception) -> bool:
    from fpexp.pipeline import _NO_MEMORY

    return isinstance(err, MemoryError) or any(m in str(err) for m in _NO_MEMORY)
