"""What the heads' metrics share: binary cross-entropy terms with torch's clamped logs.

Each head owns its metrics (``Head.metrics()``: binary, multiclass, regression, multilabel);
logs are clamped at -100 as in torch's ``BCELoss``, so a probability of exactly 0 or 1 gives a
finite loss.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

LOG_FLOOR = -100.0


def bce_terms(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``y log p + (1 - y) log(1 - p)`` per element, logs clamped at ``LOG_FLOOR`` (float64)."""
    import torch

    yf = y.to(torch.float64)
    return yf * p.log().clamp(min=LOG_FLOOR) + (1 - yf) * (1 - p).log().clamp(min=LOG_FLOOR)
