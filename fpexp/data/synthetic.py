"""Standard-normal features from a generator seeded independently of the model."""

from __future__ import annotations

from typing import Any

from fpexp.config.validate import _SEED_MAX, _SEED_MIN
from fpexp.data.base import InMemorySource
from fpexp.errors import Problem


def check_config(data: Any) -> list[Problem]:
    """Positive sizes and a seed torch accepts."""
    out = [
        Problem(f"data.{key}", f"{data[key]} is not positive", "an integer >= 1")
        for key in ("n_rows", "n_features")
        if data[key] < 1
    ]
    if not _SEED_MIN <= data.seed <= _SEED_MAX:
        out.append(Problem("data.seed", f"{data.seed} is out of range", "a 64-bit integer"))
    return out


def planned_shape(cfg: Any) -> tuple[int, int]:
    """The table ``load`` will make, known from the config: ``(n_rows, n_features)``."""
    return int(cfg.n_rows), int(cfg.n_features)


def load(cfg: Any, cwd: Any = None) -> InMemorySource:
    """``n_rows x n_features`` float32 draws; ids are row indices; no labels."""
    import numpy as np
    import torch

    gen = torch.Generator().manual_seed(int(cfg.seed))
    x = torch.randn(int(cfg.n_rows), int(cfg.n_features), generator=gen, dtype=torch.float32)
    return InMemorySource(
        name="synthetic",
        ids=np.arange(int(cfg.n_rows)),
        features=x.numpy(),
        feature_names=[f"x{i}" for i in range(int(cfg.n_features))],
        extra={"seed": int(cfg.seed)},
    )
