"""Writes ``outputs.csv`` and ``predictions.csv`` through pyarrow, atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fpexp.atomic import atomic_path
from fpexp.heads import Head
from fpexp.runner import ForwardResult


def _numpy(t: torch.Tensor) -> np.ndarray:
    # bfloat16 has no numpy dtype; float32 holds every bfloat16 value exactly.
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def _ids(ids: np.ndarray) -> np.ndarray:
    return ids.astype(str) if ids.dtype.kind in "US" else ids


def _write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.table(columns)
    with atomic_path(path) as tmp:
        pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="needed"))


def write_outputs(path: Path, result: ForwardResult, head: Head) -> None:
    """``id`` then one column per head output, named after the class where there is one."""
    values = _numpy(result.outputs)
    columns = {"id": _ids(result.ids)}
    for j, name in enumerate(head.output_names()):
        columns[name] = values[:, j]
    _write_csv(path, columns)


def write_predictions(path: Path, result: ForwardResult, head: Head) -> None:
    """``id``, ``prediction`` (class index or value) and, for classification, ``label``."""
    columns = {"id": _ids(result.ids)}
    preds = _numpy(result.predictions)
    if head.is_classification:
        columns["prediction"] = preds
        columns["label"] = np.array(head.classes, dtype=object)[preds].astype(str)
    elif preds.ndim == 1:
        columns["prediction"] = preds
    else:
        for j in range(preds.shape[1]):
            columns[f"prediction_{j}"] = preds[:, j]
    _write_csv(path, columns)


def write_layers(path: Path, rows: list[dict[str, object]]) -> None:
    """``layers.csv``: one row per module with its output statistics."""
    from fpexp.layer_stats import COLUMNS

    _write_csv(path, {c: np.array([r[c] for r in rows]) for c in COLUMNS})
