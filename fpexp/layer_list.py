"""A layer list (``model.layers``): checked, then built with ``hydra.utils.instantiate``.

Only classes that subclass ``torch.nn.Module`` are ever called. Every ``_target_``, also one
nested at any depth in the arguments, is resolved first (its module imported, nothing called)
and refused unless it is such a class; the special keys are ``_target_`` and ``_args_`` only:
instantiate's flags (``_partial_``, ``_recursive_``, ``_convert_``, ...) could make it return
something other than a module. The structural checks import nothing (``spec_problems``);
``target_problems`` imports the named modules (the user named them), ``build_layers`` calls.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

from fpexp.errors import Problem, UsageError

KEY = "model.layers"
SPECIAL_KEYS = ("_target_", "_args_")
MODULE_ONLY = "a class that subclasses torch.nn.Module, e.g. torch.nn.Linear"
EXAMPLE = "{_target_: torch.nn.Linear, in_features: 6, out_features: 16}"
_MAX_DEPTH = 32


def plain(layers: Any) -> Any:
    """``layers`` as plain lists and dicts (an OmegaConf node resolved)."""
    from omegaconf import OmegaConf

    if OmegaConf.is_config(layers):
        return OmegaConf.to_container(layers, resolve=True)
    return layers


def spec_problems(layers: Any, key: str = KEY) -> list[Problem]:
    """What is wrong with the list's shape and special keys (imports nothing)."""
    layers = plain(layers)
    if not isinstance(layers, list):
        return [Problem(key, f"is a {type(layers).__name__}, not a list", f"a list of {EXAMPLE}")]
    if not layers:
        return [Problem(key, "is empty", "null for the MLP preset, or at least one module")]
    out: list[Problem] = []
    for i, item in enumerate(layers):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            out.append(Problem(where, f"is a {type(item).__name__}, not a mapping", EXAMPLE))
        elif "_target_" not in item:
            out.append(Problem(where, "has no _target_", EXAMPLE))
        else:
            out += _node_problems(item, where, 0)
    return out


def _node_problems(node: Any, where: str, depth: int) -> list[Problem]:
    if depth > _MAX_DEPTH:
        return [Problem(where, f"is nested deeper than {_MAX_DEPTH} levels", "a flatter config")]
    if isinstance(node, list):
        return [
            p for i, v in enumerate(node) for p in _node_problems(v, f"{where}[{i}]", depth + 1)
        ]
    if not isinstance(node, dict):
        return []
    out: list[Problem] = []
    for name, value in node.items():
        here = f"{where}.{name}"
        special = isinstance(name, str) and name.startswith("_") and name.endswith("_")
        if special and name not in SPECIAL_KEYS:
            what = "is not allowed (an instantiate flag could return something not a module)"
            out.append(Problem(here, what, "special keys: " + ", ".join(SPECIAL_KEYS)))
        elif name == "_target_" and not isinstance(value, str):
            out.append(
                Problem(here, f"is a {type(value).__name__}, not a dotted name", MODULE_ONLY)
            )
        elif name == "_args_" and not isinstance(value, list):
            out.append(Problem(here, f"is a {type(value).__name__}, not a list", "[6, 16]"))
        else:
            out += _node_problems(value, here, depth + 1)
    return out


def targets(layers: Any, key: str = KEY) -> Iterator[tuple[str, str]]:
    """Every ``(key, _target_)`` string in ``layers``, nested ones included, in order."""

    def walk(node: Any, where: str, depth: int) -> Iterator[tuple[str, str]]:
        if depth > _MAX_DEPTH:
            return
        if isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, f"{where}[{i}]", depth + 1)
        elif isinstance(node, dict):
            if isinstance(node.get("_target_"), str):
                yield f"{where}._target_", node["_target_"]
            for name, value in node.items():
                if name != "_target_":
                    yield from walk(value, f"{where}.{name}", depth + 1)

    layers = plain(layers)
    if isinstance(layers, list):
        for i, item in enumerate(layers):
            yield from walk(item, f"{key}[{i}]", 0)


def locate(path: str) -> Any:
    """The object ``path`` names, importing its modules; ``LookupError`` saying why not."""
    parts = path.split(".")
    if not path or not all(p.isidentifier() for p in parts):
        raise LookupError("is not a dotted Python name")
    try:
        obj = importlib.import_module(parts[0])
        for i in range(1, len(parts)):
            if not hasattr(obj, parts[i]):
                importlib.import_module(".".join(parts[: i + 1]))
            obj = getattr(obj, parts[i])
    except Exception as err:  # a missing module, or any error raised while importing it
        raise LookupError(
            f"cannot be imported ({type(err).__name__}: {_first_line(err)})"
        ) from None
    return obj


def target_problems(layers: Any, key: str = KEY) -> list[Problem]:
    """Every ``_target_`` that is not a ``torch.nn.Module`` subclass; nothing is called."""
    from torch import nn

    out: list[Problem] = []
    for where, path in targets(layers, key):
        try:
            obj = locate(path)
        except LookupError as err:
            out.append(Problem(where, f"{path!r} {err}", MODULE_ONLY))
            continue
        if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
            what = "a class" if isinstance(obj, type) else f"a {type(obj).__name__}"
            out.append(Problem(where, f"{path!r} is {what}, not a torch.nn.Module", MODULE_ONLY))
    return out


def build_layers(layers: list[dict[str, Any]], key: str = KEY) -> list[Any]:
    """The modules, built in order (call after ``torch.manual_seed``): checked first, so
    only ``torch.nn.Module`` subclasses are called; ``UsageError`` naming the layer."""
    from hydra.utils import instantiate

    if problems := spec_problems(layers, key) or target_problems(layers, key):
        raise UsageError(problems)
    modules, problems = [], []
    for i, spec in enumerate(layers):
        try:
            module = _flat_call(spec)  # (an empty Sequential is falsy: compare with None)
            modules.append(instantiate(spec, _convert_="all") if module is None else module)
        except Exception as err:  # the module's own argument checks: one line
            cause = err.__cause__ or err
            what = f"{spec['_target_']} could not be built ({type(cause).__name__}: "
            problems.append(Problem(f"{key}[{i}]", what + f"{_first_line(cause)})", EXAMPLE))
    if problems:
        raise UsageError(problems)
    return modules


def _flat_call(spec: dict[str, Any]) -> Any:
    """What ``instantiate`` makes of a config with no nested ``_target_``: the class called
    with ``_args_`` and the other keys (plain values), without the OmegaConf round trip that
    costs ~30x the call itself; None for a nested config (left to ``instantiate``)."""
    if any(True for _ in targets([{k: v for k, v in spec.items() if k != "_target_"}])):
        return None
    kwargs = {k: v for k, v in spec.items() if k not in SPECIAL_KEYS}
    return locate(spec["_target_"])(*spec.get("_args_", ()), **kwargs)


def trace_shapes(model: Any, in_features: int, key: str = KEY) -> list[tuple[int, ...]]:
    """Each module's output shape for one row of zeros (batch dimension left out), in
    ``eval()`` mode: a module that fails on its input is a one-line ``UsageError``."""
    import torch

    x, shapes = torch.zeros(1, in_features), list[tuple[int, ...]]()
    model.eval()
    with torch.inference_mode():
        for i, module in enumerate(model):
            name = type(module).__name__
            try:
                x = module(x)
            except Exception as err:  # any shape or type error inside a user's module
                shape = [1, *shapes[-1]] if shapes else [1, in_features]
                what = f"{name} fails on an input of shape {shape}"
                raise UsageError(
                    [Problem(f"{key}[{i}]", f"{what} ({_first_line(err)})", _FIT)]
                ) from None
            if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[0] != 1:
                got = (
                    f"shape {list(x.shape)}"
                    if isinstance(x, torch.Tensor)
                    else "a " + type(x).__name__
                )
                what = f"{name} returns {got} for one row, not a tensor of shape [1, ...]"
                raise UsageError([Problem(f"{key}[{i}]", what, "modules that keep the rows")])
            shapes.append(tuple(x.shape[1:]))
    return shapes


_FIT = "each layer's input width equal to the previous layer's output width"


def width_problems(
    shapes: list[tuple[int, ...]], out_features: int, key: str = KEY
) -> list[Problem]:
    """The model's output per row must be ``task.out_features`` wide."""
    last = shapes[-1] if shapes else None
    if last == (out_features,):
        return []
    shown = "x".join(str(n) for n in last) if last else "nothing"
    what = f"the model outputs {shown} values per row but task.out_features is {out_features}"
    allowed = f"a last layer of width {out_features}, or a task with out_features={shown}"
    return [Problem(key, what, allowed)]


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
