"""An MLP's shape read from its state dict: pure, from key -> shape alone (no torch, no I/O).

fpexp numbers an MLP's modules like ``torchvision.ops.MLP``: per hidden layer Linear ->
[norm] -> [activation] -> [dropout], then the last Linear. Linears have a 2-D ``weight``;
BatchNorm1d has ``running_mean``/``running_var``/``num_batches_tracked`` (and weight/bias);
LayerNorm has a 1-D weight and bias only. Activations and Dropout have no parameters: they show
only as gaps in the numbering, and what they are cannot be read.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fpexp.errors import Problem

KEY = "model.weights"
_NAME = re.compile(r"^(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$")
_HINT = "model.hidden (or model.layers) to say the model's shape"


@dataclass(frozen=True)
class MlpShape:
    """What the weights say: widths, bias, norm, and ``between``: the modules without
    parameters after each hidden layer (activation, dropout) that the numbering skips."""

    in_features: int
    hidden: list[int]
    out_features: int
    bias: bool
    norm: str  # none | batch | layer
    between: int


def is_mlp_key(key: str) -> bool:
    return _NAME.match(key) is not None


def infer_mlp(shapes: Mapping[str, Sequence[int]], where: str) -> MlpShape | Problem:
    """The MLP whose state dict has these key -> shape pairs, or why there is none."""
    modules: dict[int, dict[str, list[int]]] = {}
    for key, shape in shapes.items():
        if (m := _NAME.match(key)) is None:
            return _cannot(where, f"key '{key}' is not N.weight, N.bias, N.running_mean, ...")
        modules.setdefault(int(m.group(1)), {})[m.group(2)] = list(shape)
    kinds = {i: _module_kind(params) for i, params in sorted(modules.items())}
    if bad := [i for i, kind in kinds.items() if kind is None]:
        return _cannot(where, f"module {bad[0]} is neither a Linear nor a norm")
    linears = [i for i, kind in kinds.items() if kind == "linear"]
    if not linears or linears[0] != 0:
        return _cannot(where, "its first module (0) is not a Linear")
    if any(i > linears[-1] for i in kinds):
        return _cannot(where, "a norm follows the last Linear")
    after = [kinds.get(i + 1) for i in linears[:-1]]
    hidden_norms = [kind if kind in ("batch", "layer") else "none" for kind in after]
    placed = sum(kind != "none" for kind in hidden_norms)
    if len(set(hidden_norms)) > 1 or placed != len(kinds) - len(linears):
        return _cannot(where, "its hidden layers do not all have the same norm right after them")
    norm = hidden_norms[0] if hidden_norms else "none"
    gaps = {b - a - 1 - (norm != "none") for a, b in itertools.pairwise(linears)}
    if len(gaps) > 1:
        return _cannot(where, "its hidden layers are numbered with different gaps")
    return _chain(modules, linears, norm, gaps.pop() if gaps else 0, where)


def _module_kind(params: dict[str, list[int]]) -> str | None:
    weight, bias = params.get("weight"), params.get("bias")
    if "running_mean" in params or "running_var" in params:
        return "batch"
    if weight is not None and len(weight) == 2 and (bias is None or len(bias) == 1):
        return "linear"
    if weight is not None and len(weight) == 1 and set(params) <= {"weight", "bias"}:
        return "layer"
    return None


def _chain(
    modules: dict[int, dict[str, list[int]]],
    linears: list[int],
    norm: str,
    between: int,
    where: str,
) -> MlpShape | Problem:
    widths = [modules[linears[0]]["weight"][1]]
    for i in linears:
        out, n_in = modules[i]["weight"]
        if n_in != widths[-1]:
            return _cannot(where, f"{i}.weight takes {n_in} inputs after a layer of {widths[-1]}")
        widths.append(out)
        if "bias" in modules[i] and modules[i]["bias"] != [out]:
            return _cannot(where, f"{i}.bias has shape {modules[i]['bias']}, not [{out}]")
        if norm != "none" and i != linears[-1]:
            sizes = {tuple(s) for s in modules[i + 1].values() if s}
            if sizes != {(out,)}:
                return _cannot(where, f"norm {i + 1} does not have the width {out} of {i}.weight")
    biased = {"bias" in modules[i] for i in linears}
    if len(biased) > 1:
        return _cannot(where, "some Linear layers have a bias and others do not")
    return MlpShape(widths[0], widths[1:-1], widths[-1], biased.pop(), norm, between)


def _cannot(where: str, why: str) -> Problem:
    return Problem(KEY, f"cannot read the model's widths from {where}: {why}", _HINT)


def config_problems(
    shape: MlpShape, model: object, out_features: int, where: str
) -> tuple[list[Problem], list[str]]:
    """What in ``model`` (its activation, dropout, bias, norm) and the task's output width
    disagrees with ``shape``; and notes on what the weights cannot say."""
    activation = str(getattr(model, "activation", "none"))
    dropout = float(getattr(model, "dropout", 0.0) or 0.0)
    out: list[Problem] = []
    if shape.out_features != out_features:
        what = f"{out_features}, but the weights in {where} end in {shape.out_features} outputs"
        out.append(Problem("task.out_features", what, "a task with the weights' output width"))
    if not bool(getattr(model, "bias", True)) and shape.bias:
        what = f"false, but every Linear in {where} has a bias"
        out.append(Problem("model.bias", what, "true, or weights without biases"))
    given_norm = str(getattr(model, "norm", "none"))
    if given_norm != "none" and given_norm != shape.norm:
        what = f"{given_norm}, but the weights in {where} have norm {shape.norm}"
        out.append(
            Problem("model.norm", what, f"{shape.norm}, or none to read it from the weights")
        )
    if shape.norm == "layer" and given_norm == "none":
        out.append(_unclear_norm(where))
    expected = (activation != "none") + (dropout > 0)
    if len(shape.hidden) and shape.between != expected:
        out.append(_between_problem(shape, activation, dropout, expected, where))
    notes = []
    if activation == "none" and shape.hidden and not out:
        notes.append(
            f"activations cannot be read from weights: model.activation is none, so nothing "
            f"runs between the {len(shape.hidden) + 1} Linear layers from {where} "
            "(set model.activation to the one the model was trained with)"
        )
    return out, notes


def _unclear_norm(where: str) -> Problem:
    """A norm with ``weight`` and ``bias`` only is a LayerNorm, or a BatchNorm1d built without
    running statistics (which normalises each batch by its own statistics): the weights cannot
    say which, and the outputs differ, so the user says it."""
    what = (
        f"none, but each hidden Linear in {where} is followed by a norm with weight and bias "
        "only: a LayerNorm, or a BatchNorm1d without running statistics (the weights cannot "
        "tell them apart)"
    )
    return Problem("model.norm", what, "model.norm=layer for a LayerNorm")


def _between_problem(
    shape: MlpShape, activation: str, dropout: float, expected: int, where: str
) -> Problem:
    n = shape.between
    skipped = f"{n} module{'s' * (n != 1)} without parameters after each hidden layer"
    if expected == 0:
        what = f"none, but {where} numbers {skipped} (an activation, a Dropout?)"
        allowed = "set model.activation to the model's (and model.dropout if it has a Dropout)"
        return Problem("model.activation", what, allowed)
    what = (
        f"{activation} with model.dropout={dropout} makes {expected}, but {where} numbers {skipped}"
    )
    return Problem("model.activation", what, "the activation and dropout the model was built with")
