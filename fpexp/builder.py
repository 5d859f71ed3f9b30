"""Turns the model and task configs into a ``torch.nn.Sequential``. Pure: no I/O.

The builder is ``instantiate`` over a layer list: ``model.layers`` as given, or the MLP preset's
list (``fpexp.mlp``); then the task head's activation. A one-row dry forward pass (``eval()``
mode) then gives each module's output shape and checks the output width against the task.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch import nn

from fpexp.heads import Head
from fpexp.layer_list import build_layers, plain, trace_shapes, width_problems
from fpexp.mlp import mlp_layers

if TYPE_CHECKING:
    from fpexp.model_shape import ModelShape

MLP_KEY = "model"


@dataclass(frozen=True)
class Built:
    """The model, the layer configs it was built from, and each module's output shape."""

    model: nn.Sequential
    layers: list[dict[str, Any]]
    key: str  # model.layers, or model for the MLP preset
    hidden: list[int] | None  # the MLP's hidden widths (None: a layer list)
    shapes: list[tuple[int, ...]]

    def record(self) -> dict[str, Any]:
        """The ``model`` facts of run.json that describe the architecture."""
        h = self.hidden
        layers = [{"target": s["_target_"], **_args(s)} for s in self.layers]
        return {
            "hidden": h,
            "width": h[0] if h and len(set(h)) == 1 else None,
            "depth": len(h) if h is not None else None,
            "layers": layers,
        }

    def widest(self, in_features: int) -> tuple[int, int]:
        """The neighbouring (input, output) widths of the module that holds most values."""
        sizes = [_numel((in_features,)), *(_numel(s) for s in self.shapes)]
        pairs = list(itertools.pairwise(sizes))
        return max(pairs, key=lambda p: p[0] + p[1]) if pairs else (in_features, in_features)


def _args(spec: dict[str, Any]) -> dict[str, Any]:
    return {"args": {k: v for k, v in spec.items() if k != "_target_"}}


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def layer_configs(model: Any, shape: ModelShape, out_features: int) -> list[dict[str, Any]]:
    """``model.layers`` as plain configs, or the MLP preset's list for ``shape`` (widths, bias
    and norm from the config, or read from the weights)."""
    if model.layers is not None:
        return list(plain(model.layers))
    return mlp_layers(
        shape.in_features,
        shape.hidden,
        out_features,
        bias=shape.bias,
        norm=shape.norm,
        activation=str(model.activation),
        dropout=float(model.dropout),
    )


def build_model(
    layers: list[dict[str, Any]], head: Head, key: str = "model.layers"
) -> nn.Sequential:
    """The modules of ``layers`` in order, then the head's activation.

    Call after ``torch.manual_seed``: the layers draw their initial weights in order.
    """
    modules = build_layers(layers, key)
    out_act = head.activation()
    if out_act is not None:
        modules.append(out_act)
    return nn.Sequential(*modules)


def build(model: Any, shape: ModelShape, head: Head) -> Built:
    """Build the configured model and check its output width (``UsageError`` naming both)."""
    from fpexp.errors import UsageError

    in_features = shape.in_features
    layers = layer_configs(model, shape, head.out_features)
    key = "model.layers" if model.layers is not None else MLP_KEY
    net = build_model(layers, head, key)
    shapes = trace_shapes(net, in_features, key)
    if problems := width_problems(shapes, head.out_features, key):
        raise UsageError(problems)
    hidden = list(shape.hidden) if model.layers is None else None
    return Built(net, layers, key, hidden, shapes)


def measure(model: Any, shape: ModelShape, head: Head) -> tuple[int, tuple[int, int]] | None:
    """A layer list's parameter count, from a copy built on the meta device (nothing
    allocated, no random numbers drawn), and the config's widest pair: for the memory guard
    before the real build (modules nested in ``_args_``, or of types the guard cannot size
    from their arguments). None for the MLP preset (its estimate is exact), or when the copy
    cannot be built there (the real build reports why)."""
    import torch

    from fpexp.config.model_size import layer_list_size

    if model.layers is None:
        return None
    layers = layer_configs(model, shape, head.out_features)
    try:
        with torch.device("meta"):
            net = build_model(layers, head)
    except Exception:  # a user's module that needs real tensors in __init__
        return None
    lazy = nn.parameter.UninitializedParameter  # a Lazy module's: sized once traced
    params = sum(p.numel() for p in net.parameters() if not isinstance(p, lazy))
    return params, layer_list_size(layers, shape.in_features)[1]
