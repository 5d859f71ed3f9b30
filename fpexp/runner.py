"""The forward pass: batches from a source through the model, under ``inference_mode``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fpexp.data.base import Source
from fpexp.heads import Head

DEFAULT_BATCH_SIZE = 65_536


@dataclass(frozen=True)
class ForwardResult:
    """Row ids, head outputs ``[n, out]`` on the CPU, predictions, and true labels if known."""

    ids: np.ndarray
    outputs: torch.Tensor
    predictions: torch.Tensor
    labels: np.ndarray | None


def forward(
    model: nn.Module,
    source: Source,
    head: Head,
    device: torch.device,
    dtype: torch.dtype,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> ForwardResult:
    """Run every batch of ``source`` through ``model`` and read predictions off the head."""
    ids, outs, labels = [], [], []
    model.eval()
    with torch.inference_mode():
        for batch in source.batches(batch_size):
            x = torch.from_numpy(batch.features).to(device=device, dtype=dtype)
            outs.append(model(x).cpu())
            ids.append(batch.ids)
            if batch.labels is not None:
                labels.append(batch.labels)
        outputs = torch.cat(outs) if outs else torch.empty(0, head.out_features, dtype=dtype)
        predictions = head.predict(outputs)
    return ForwardResult(
        ids=np.concatenate(ids) if ids else np.array([]),
        outputs=outputs,
        predictions=predictions,
        labels=np.concatenate(labels) if labels else None,
    )
