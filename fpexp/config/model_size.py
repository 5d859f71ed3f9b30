"""A model's size from its config alone: parameters and the widest pair of neighbouring
widths, for the memory guards (``sizes``), before anything is built."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from fpexp.config.schema import DEFAULT_DEPTH, DEFAULT_WIDTH


def model_size(cfg: Any, in_features: int) -> tuple[int, tuple[int, int]]:
    """The parameter count and the widest pair of neighbouring widths, without listing
    ``model.depth`` widths one by one (a depth of 10**9 is refused, not materialised)."""
    if cfg.model.get("layers") is not None:
        return layer_list_size(cfg.model.layers, in_features)
    bias, out = int(bool(cfg.model.bias)), int(cfg.task.out_features)
    if cfg.model.hidden is not None:
        widths = [in_features, *(int(w) for w in cfg.model.hidden), out]
        layers = [(x, y, 1) for x, y in itertools.pairwise(widths)]
    else:
        width = int(DEFAULT_WIDTH if cfg.model.width is None else cfg.model.width)
        depth = int(DEFAULT_DEPTH if cfg.model.depth is None else cfg.model.depth)
        inner = [(width, width, depth - 1)] if depth > 1 else []
        layers = [(in_features, width, 1), *inner, (width, out, 1)]
        layers = layers if depth > 0 else [(in_features, out, 1)]
    params = sum((x * y + y * bias) * n for x, y, n in layers)
    if str(cfg.model.get("norm", "none")) != "none":  # weight and bias per hidden unit
        params += sum(2 * y * n for _, y, n in layers[:-1])
    a, b, _ = max(layers, key=lambda layer: layer[0] + layer[1])
    return params, (a, b)


def _arg(spec: Any, name: str, position: int) -> int:
    """An integer argument of a layer config, by name or position in ``_args_`` (0 if not
    an integer: the estimate stays a lower bound)."""
    args = spec.get("_args_")
    args = args if _is_list(args) else []
    value = spec.get(name, args[position] if len(args) > position else 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


def _linear(spec: Any) -> tuple[int, tuple[int, int]]:
    a, b = _arg(spec, "in_features", 0), _arg(spec, "out_features", 1)
    bias = spec.get("bias", True) is not False
    return a * b + b * bias, (a, b)


def _norm(name: str) -> Any:
    def size(spec: Any) -> tuple[int, tuple[int, int]]:
        n = _arg(spec, name, 0)
        return 2 * n, (n, n)

    return size


# Module types whose size the config says: _target_ -> (parameters, (in width, out width)).
_KNOWN_SIZES = {
    "torch.nn.Linear": _linear,
    "torch.nn.LayerNorm": _norm("normalized_shape"),
    "torch.nn.BatchNorm1d": _norm("num_features"),
}


def layer_list_size(layers: Any, in_features: int) -> tuple[int, tuple[int, int]]:
    """Parameters and widest pair of a layer list, from the module types known here; others
    count as nothing (they are measured once built, before the forward pass)."""
    params, widest = 0, (in_features, in_features)
    for spec in layers if _is_list(layers) else []:
        target = spec.get("_target_") if isinstance(spec, Mapping) else None
        size = _KNOWN_SIZES.get(target) if isinstance(target, str) else None
        if size is None:
            continue
        n, pair = size(spec)
        params += n
        widest = max(widest, pair, key=sum)
    return params, widest
