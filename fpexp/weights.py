"""The exact weights a run used, saved as safetensors (no pickle, byte-stable)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from fpexp.atomic import atomic_path


def save_weights(model: nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        # One metadata key only: safetensors writes metadata in hash order, which would make
        # the file's bytes (and its sha256) differ between identical runs.
        save_file(state, str(tmp), metadata={"format": "pt"})
