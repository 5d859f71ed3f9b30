"""Weights: saving the exact weights a run used, and loading a state dict safely.

A weights file is untrusted input. ``.safetensors`` holds only tensors by design; ``.pt`` files
are read with ``torch.load(weights_only=True)``, which refuses pickled objects without running
them. Loaded tensors must be finite and match the model's keys and shapes.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fpexp.atomic import atomic_path
from fpexp.errors import Problem, UsageError

SUFFIXES = (".safetensors", ".pt", ".pth")
KEY = "model.weights"


def save_weights(model: nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        # One metadata key only: safetensors writes metadata in hash order, which would make
        # the file's bytes (and its sha256) differ between identical runs.
        save_file(state, str(tmp), metadata={"format": "pt"})


def path_problems(path: Path) -> list[Problem]:
    """Checks that need no loading: the file exists and has a known format."""
    if path.suffix not in SUFFIXES:
        return [
            Problem(
                KEY,
                f"{path}: unknown weights format '{path.suffix}'",
                "one of: .safetensors, .pt, .pth",
            )
        ]
    if not path.is_file():
        return [Problem(KEY, f"{path}: no such file", "a state dict saved as .safetensors or .pt")]
    return []


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict, refusing pickled objects and non-finite values (``UsageError``)."""
    path = Path(path)
    if problems := path_problems(path):
        raise UsageError(problems)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise UsageError(
                [Problem(KEY, f"{path}: not a readable safetensors file ({err})")]
            ) from None
    else:
        import pickle

        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            what = f"{path}: holds pickled objects, not only tensors; refused without loading them"
            raise UsageError(
                [Problem(KEY, what, "a state dict of tensors, or .safetensors")]
            ) from None
        except (RuntimeError, OSError, EOFError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UsageError(
                [Problem(KEY, f"{path}: not a readable torch file ({first})")]
            ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise UsageError(
            [
                Problem(
                    KEY,
                    f"{path}: is not a state dict (name -> tensor)",
                    "torch.save(model.state_dict(), path)",
                )
            ]
        )
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise UsageError(
            [
                Problem(
                    KEY,
                    f"{path}: non-finite values (NaN or inf) in {', '.join(bad)}",
                    "finite weights",
                )
            ]
        )
    return state


def fit_problems(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> list[Problem]:
    """Every key the state dict is missing, has extra, or has with the wrong shape."""
    expected = {k: list(v.shape) for k, v in model.state_dict().items()}
    issues = [f"missing {k} {shape}" for k, shape in expected.items() if k not in state]
    issues += [f"unexpected {k} {list(v.shape)}" for k, v in state.items() if k not in expected]
    issues += [
        f"{k} expected {shape} got {list(state[k].shape)}"
        for k, shape in expected.items()
        if k in state and list(state[k].shape) != shape
    ]
    if not issues:
        return []
    return [
        Problem(
            KEY,
            f"{path} does not fit the model: " + "; ".join(issues),
            "a state dict of this model",
        )
    ]


def describe(path: Path) -> dict[str, object]:
    from fpexp.hashing import sha256_file

    return {"path": str(Path(path).resolve()), "sha256": sha256_file(path)}
