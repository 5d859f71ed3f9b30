"""The MLP preset: the layer list (``_target_`` configs) of a multilayer perceptron.

In ``torchvision.ops.MLP``'s order: per hidden layer Linear -> norm -> activation -> dropout,
then the output Linear. Torch-free: it only names the modules; ``fpexp.layer_list`` builds them.
"""

from __future__ import annotations

from typing import Any

# model.activation -> the module between hidden layers (none: no module)
ACTIVATION_TARGETS: dict[str, str | None] = {
    "none": None,
    "relu": "torch.nn.ReLU",
    "tanh": "torch.nn.Tanh",
    "sigmoid": "torch.nn.Sigmoid",
    "gelu": "torch.nn.GELU",
    "silu": "torch.nn.SiLU",
    "leaky_relu": "torch.nn.LeakyReLU",
    "elu": "torch.nn.ELU",
}
# model.norm -> (the module after each hidden Linear, the argument that takes its width)
NORM_TARGETS: dict[str, tuple[str, str] | None] = {
    "none": None,
    "batch": ("torch.nn.BatchNorm1d", "num_features"),
    "layer": ("torch.nn.LayerNorm", "normalized_shape"),
}
NORMS = tuple(NORM_TARGETS)


def mlp_layers(
    in_features: int,
    hidden: list[int],
    out_features: int,
    bias: bool = True,
    norm: str = "none",
    activation: str = "none",
    dropout: float = 0.0,
) -> list[dict[str, Any]]:
    """The layer configs of ``in_features -> *hidden -> out_features``; a ``Dropout`` only
    when ``dropout > 0``. Built in this order, the Linear layers draw their seeded weights in
    the same order as ever (norm, activation and dropout modules draw nothing)."""
    act, norm_of = ACTIVATION_TARGETS[activation], NORM_TARGETS[norm]
    widths = [int(in_features), *(int(w) for w in hidden), int(out_features)]
    layers: list[dict[str, Any]] = []
    for i in range(len(widths) - 1):
        n_in, n_out = widths[i], widths[i + 1]
        layers.append(
            {
                "_target_": "torch.nn.Linear",
                "in_features": n_in,
                "out_features": n_out,
                "bias": bias,
            }
        )
        if i == len(widths) - 2:
            break  # the output Linear: the head's activation follows
        if norm_of is not None:
            layers.append({"_target_": norm_of[0], norm_of[1]: n_out})
        if act is not None:
            layers.append({"_target_": act})
        if dropout > 0:
            layers.append({"_target_": "torch.nn.Dropout", "p": float(dropout)})
    return layers
