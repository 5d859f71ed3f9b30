"""Turns the model and task configs into a ``torch.nn.Sequential``. Pure: no I/O."""

from __future__ import annotations

import itertools

from torch import nn

from fpexp.heads import Head

ACTIVATION_MODULES: dict[str, type[nn.Module] | None] = {
    "none": None,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
}


def layer_widths(in_features: int, hidden: list[int], out_features: int) -> list[int]:
    """``[in, *hidden, out]``: consecutive pairs are the Linear layers."""
    return [in_features, *hidden, out_features]


def build_model(
    in_features: int, hidden: list[int], activation: str, bias: bool, head: Head
) -> nn.Sequential:
    """Linear layers over ``layer_widths``, ``activation`` between them, then the head.

    Call after ``torch.manual_seed``: the layers draw their initial weights in order.
    """
    widths = layer_widths(in_features, list(hidden), head.out_features)
    act = ACTIVATION_MODULES[activation]
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(n_in, n_out, bias=bias))
        if act is not None and i < len(widths) - 2:
            layers.append(act())
    out_act = head.activation()
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)
