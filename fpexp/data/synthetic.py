"""Standard-normal features from a generator seeded independently of the model."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fpexp.data.base import InMemorySource


def load(cfg: Any, cwd: Any = None) -> InMemorySource:
    """``n_rows x n_features`` float32 draws; ids are row indices; no labels."""
    gen = torch.Generator().manual_seed(int(cfg.seed))
    x = torch.randn(int(cfg.n_rows), int(cfg.n_features), generator=gen, dtype=torch.float32)
    return InMemorySource(
        name="synthetic",
        ids=np.arange(int(cfg.n_rows)),
        features=x.numpy(),
        feature_names=[f"x{i}" for i in range(int(cfg.n_features))],
        extra={"seed": int(cfg.seed)},
    )
