"""Checks of the model config beyond single values: the MLP preset's norm and dropout, and a
layer list's shape with no MLP option beside it. Imports nothing heavy (no torch)."""

from __future__ import annotations

from typing import Any

from fpexp.errors import Problem
from fpexp.layer_list import spec_problems
from fpexp.mlp import NORMS


def _one_of(choices: tuple[str, ...]) -> str:
    return "one of: " + ", ".join(choices)


def mlp_option_problems(model: Any) -> list[Problem]:
    out: list[Problem] = []
    if model.norm not in NORMS:
        out.append(Problem("model.norm", f"unknown norm '{model.norm}'", _one_of(NORMS)))
    if not 0.0 <= model.dropout < 1.0:  # NaN fails too
        what = f"{model.dropout} is outside [0, 1)"
        out.append(Problem("model.dropout", what, "a probability 0 <= p < 1 (0: no Dropout)"))
    if out or model.layers is not None or not _no_hidden_layer(model):
        return out
    for key, unused in (("norm", model.norm != "none"), ("dropout", model.dropout > 0)):
        if unused:  # they go after each hidden Linear: with none, silently nothing
            what = f"{model[key]}, but the MLP has no hidden layer to put it after"
            out.append(Problem(f"model.{key}", what, "model.hidden with a width, or the default"))
    return out


def _no_hidden_layer(model: Any) -> bool:
    """The config gives an MLP without hidden layers (``hidden=[]`` or ``depth=0``)."""
    if model.hidden is not None:
        return len(model.hidden) == 0
    return model.depth == 0


# MLP options and their defaults: a layer list says all of this itself.
_MLP_ONLY = {
    "hidden": None,
    "width": None,
    "depth": None,
    "activation": "none",
    "norm": "none",
    "dropout": 0.0,
    "bias": True,
}


_EITHER = "either model.layers or the MLP options (" + ", ".join(_MLP_ONLY) + "), not both"


def _shown(value: Any) -> str:
    from omegaconf import OmegaConf

    return str(OmegaConf.to_container(value) if OmegaConf.is_config(value) else value)


def layer_list_problems(model: Any) -> list[Problem]:
    """A layer list's shape and special keys (its targets are resolved when the run starts),
    and no MLP option beside it."""
    if model.layers is None:
        return []
    out = spec_problems(model.layers)
    for key, default in _MLP_ONLY.items():
        if model[key] != default:
            what = f"{_shown(model[key])} is an MLP option, but model.layers is given"
            out.append(Problem(f"model.{key}", what, _EITHER))
    return out
