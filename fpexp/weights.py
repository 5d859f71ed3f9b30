"""Weights: saving the exact weights a run used, and loading a state dict safely.

A weights file is untrusted input. ``.safetensors`` holds only tensors by design; ``.pt`` files
are read with ``torch.load(weights_only=True)``, which refuses pickled objects without running
them. Loaded tensors must be dense and real floating point, match the model's keys and shapes,
and be finite once cast to the model's dtype (a float64 1e300 is inf in float32).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fpexp.atomic import atomic_path
from fpexp.errors import Problem, UsageError

SUFFIXES = (".safetensors", ".pt", ".pth")
KEY = "model.weights"
WEIGHT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


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
    from fpexp.user_files import file_problem

    problem = file_problem(path, KEY, "a state dict saved as .safetensors or .pt")
    return [problem] if problem is not None else []


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict of dense floating-point tensors (``UsageError`` otherwise).

    Pickled objects are refused without running them; integer, bool and complex tensors are
    refused (never cast silently), and so are sparse, quantized and meta tensors. Whether the
    values are finite is checked against the model (``value_problems``), after the cast.
    """
    path = Path(path)
    if problems := path_problems(path):
        raise UsageError(problems)
    state = _read_safetensors(path) if path.suffix == ".safetensors" else _read_torch(path)
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
    if problems := tensor_problems(state, path):
        raise UsageError(problems)
    return state


def _read_safetensors(path: Path) -> object:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, TypeError) as err:
        raise UsageError(
            [Problem(KEY, f"{path}: not a readable safetensors file ({_first_line(err)})")]
        ) from None


def _read_torch(path: Path) -> object:
    import pickle
    import warnings

    try:
        with warnings.catch_warnings():  # deprecation notes on exotic tensors are not ours
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        what = f"{path}: holds pickled objects, not only tensors; refused without loading them"
        raise UsageError([Problem(KEY, what, "a state dict of tensors, or .safetensors")]) from None
    except Exception as err:  # a damaged or foreign file: whatever torch's reader raises
        raise UsageError(
            [Problem(KEY, f"{path}: not a readable torch file ({_first_line(err)})")]
        ) from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _kind(t: torch.Tensor) -> str | None:
    """What makes ``t`` unusable as a weight, or None: layout first, then dtype."""
    if t.layout != torch.strided:
        return f"a {str(t.layout).removeprefix('torch.')} tensor"
    if t.is_quantized:
        return f"a quantized tensor ({str(t.dtype).removeprefix('torch.')})"
    if t.is_meta:
        return "a meta tensor (no values)"
    if t.is_complex() or not t.is_floating_point():
        return f"{str(t.dtype).removeprefix('torch.')}, not a real floating-point tensor"
    if t.dtype not in WEIGHT_DTYPES:  # float8 and other narrow formats: never cast silently
        return f"{str(t.dtype).removeprefix('torch.')}, not one of the supported float dtypes"
    return None


# Integer buffers torch's own modules keep: BatchNorm's count of training batches (unused in
# eval mode, loaded as saved so the weights file round-trips).
INTEGER_BUFFERS = ("num_batches_tracked",)


def _counter(key: str, t: torch.Tensor) -> bool:
    """A scalar int64 buffer named in ``INTEGER_BUFFERS``."""
    name = key.rsplit(".", 1)[-1]
    plain = t.layout == torch.strided and not t.is_meta
    return name in INTEGER_BUFFERS and plain and t.dtype == torch.int64 and t.dim() == 0


def tensor_problems(state: dict[str, torch.Tensor], path: Path) -> list[Problem]:
    """Tensors that are not dense real floating point: named, each with what it is."""
    bad = [
        f"{k} is {kind}"
        for k, v in state.items()
        if not _counter(k, v) and (kind := _kind(v)) is not None
    ]
    if not bad:
        return []
    allowed = "dense float16/bfloat16/float32/float64 tensors (to_dense(), dequantize())"
    return [Problem(KEY, f"{path}: " + "; ".join(bad), allowed)]


def value_problems(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> list[Problem]:
    """NaN or inf in the tensors as the model will use them: after the cast to its dtype."""
    targets = model.state_dict()
    nonfinite, overflow = [], []
    for k, v in state.items():
        if k not in targets or torch.isfinite(v.to(targets[k].dtype)).all():
            continue
        if not torch.isfinite(v).all():
            nonfinite.append(k)
        else:
            to = str(targets[k].dtype).removeprefix("torch.")
            overflow.append(f"{k} (|{v.abs().max().item():.3g}| is inf in {to})")
    parts = [f"non-finite values (NaN or inf) in {', '.join(nonfinite)}"] if nonfinite else []
    if overflow:
        parts.append(f"values beyond the model dtype's range in {', '.join(overflow)}")
    if not parts:
        return []
    return [Problem(KEY, f"{path}: " + "; ".join(parts), "finite weights in the model's dtype")]


MAX_NAMES = 20


def _features(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES])
    more = f", ... ({len(names) - MAX_NAMES} more)" if len(names) > MAX_NAMES else ""
    return f"the data gave {len(names)} feature{'s' * (len(names) != 1)}: {shown}{more}"


def fit_problems(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    path: Path,
    feature_names: list[str] | None = None,
) -> list[Problem]:
    """Every key the state dict is missing, has extra, or has with the wrong shape; and, so
    the user can see why, the features the data gave (the first layer's input width)."""
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
    if feature_names is not None:
        issues.append(_features(list(feature_names)))
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
