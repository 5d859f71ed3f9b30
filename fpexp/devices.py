"""Device and dtype resolution."""

from __future__ import annotations

import torch

from fpexp.config.validate import check_device
from fpexp.errors import Problem

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "bfloat16": torch.bfloat16,
}


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def device_problems(spec: str) -> list[Problem]:
    """Problems with a device spec on this machine (an unavailable CUDA device, say)."""
    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return check_device(spec, cuda, _mps_available())


def resolve_device(spec: str) -> torch.device:
    """``auto`` becomes cuda if available, else mps, else cpu; others are taken as given."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    return torch.device(spec)
