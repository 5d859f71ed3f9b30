"""Weights: saving the exact weights a run used, and loading a state dict safely.

A weights file is untrusted input. ``.safetensors`` holds only tensors by design; ``.pt``,
``.pth`` and ``.ckpt`` files are read without running any pickled code (``checkpoints``), which
also finds the state dict inside a checkpoint dict. Loaded tensors must be dense and real
floating point (BatchNorm's ``num_batches_tracked`` counter: an int64 scalar), match the model's
keys and shapes, and be finite once cast to the model's dtype (a float64 1e300 is inf in float32).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from fpexp.atomic import atomic_path
from fpexp.errors import Problem, UsageError

if TYPE_CHECKING:
    from fpexp.checkpoints import StateDict

SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt")
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
                "one of: " + ", ".join(SUFFIXES),
            )
        ]
    from fpexp.user_files import file_problem

    problem = file_problem(path, KEY, "a state dict saved as .safetensors or .pt")
    return [problem] if problem is not None else []


def load_state(path: Path, key: str | None = None, prefix: str | None = None) -> StateDict:
    """Read the state dict of dense floating-point tensors in ``path`` (``UsageError``
    otherwise): the file itself, or the one in a checkpoint dict (under ``key`` when given).

    Pickled objects are never run; integer, bool and complex tensors are refused (never cast
    silently), and so are sparse, quantized and meta tensors. Whether the values are finite is
    checked against the model (``value_problems``), after the cast. ``prefix`` is the key
    prefix to strip (``StateDict.strip`` strips it, or finds one, once the model is known).
    """
    from fpexp.checkpoints import StateDict, pick

    path = Path(path)
    if problems := path_problems(path):
        raise UsageError(problems)
    found = _read_safetensors(path) if path.suffix == ".safetensors" else _read_torch(path)
    state, picked = pick(found, key, path)
    if problems := tensor_problems(state, path):
        raise UsageError(problems)
    return StateDict(path, state, key=picked, wanted_prefix=prefix)


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
    except pickle.UnpicklingError:  # objects besides tensors: read again, none of them run
        from fpexp.safe_pickle import read_inert

        return read_inert(path)
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
    if negative := [k for k, v in state.items() if _variance(k, v) and bool((v < 0).any())]:
        parts.append(f"negative variances in {', '.join(negative)}")
    if overflow:
        parts.append(f"values beyond the model dtype's range in {', '.join(overflow)}")
    if not parts:
        return []
    allowed = "finite weights in the model's dtype" + (", variances >= 0" if negative else "")
    return [Problem(KEY, f"{path}: " + "; ".join(parts), allowed)]


def _variance(key: str, t: torch.Tensor) -> bool:
    """A norm's running variance: never negative (BatchNorm would give NaN for every row)."""
    return key.rsplit(".", 1)[-1] == "running_var" and t.is_floating_point()


MAX_NAMES = 20


def feature_list(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES])
    more = f", ... ({len(names) - MAX_NAMES} more)" if len(names) > MAX_NAMES else ""
    return f"the data gave {len(names)} feature{'s' * (len(names) != 1)}: {shown}{more}"


def fit_problems(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    path: Path,
    feature_names: list[str] | None = None,
    shared_prefix: str | None = None,
) -> list[Problem]:
    """Every key the state dict is missing, has extra, or has with the wrong shape; and, so
    the user can see why, a prefix every key shares (not stripped: the stripped keys do not
    fit either) and the features the data gave (the first layer's input width)."""
    expected = {k: list(v.shape) for k, v in model.state_dict().items()}
    issues = [
        f"missing {k} {shape}"
        for k, shape in expected.items()
        if k not in state and k.rsplit(".", 1)[-1] not in INTEGER_BUFFERS  # torch fills those
    ]
    issues += [f"unexpected {k} {list(v.shape)}" for k, v in state.items() if k not in expected]
    issues += [
        f"{k} expected {shape} got {list(state[k].shape)}"
        for k, shape in expected.items()
        if k in state and list(state[k].shape) != shape
    ]
    if not issues:
        return []
    if shared_prefix is not None:
        issues.append(f"every key starts with '{shared_prefix}' (model.weights_prefix strips it)")
    if feature_names is not None:
        issues.append(feature_list(list(feature_names)))
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
