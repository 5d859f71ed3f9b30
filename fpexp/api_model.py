"""Rebuilding a recorded run's model (``fpexp.Run.model``) from untrusted run files.

The record's layer list is checked as ``fpexp.replay`` checks a rerun's (plain values, torch
modules only: nothing a record names outside torch is imported), then built with the
builder's ``build_model`` and the task head's activation, and given the run's saved weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fpexp.errors import Problem, UsageError

if TYPE_CHECKING:
    from torch import nn


def _specs(record: dict[str, Any], where: str, modules: Sequence[str]) -> list[dict[str, Any]]:
    """The record's ``model.layers`` as builder specs, refused unless plain and from torch
    or ``modules``."""
    from fpexp.replay import layer_problem, refuse_foreign_targets

    layers = (record.get("model") or {}).get("layers")
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise UsageError([Problem("model.layers", "not a list of layers", where)])
    if not all(isinstance(x.get("args") or {}, dict) for x in layers):
        raise UsageError([Problem("model.layers", "a layer's args are not a mapping", where)])
    specs = [{"_target_": x.get("target"), **(x.get("args") or {})} for x in layers]
    if (why := layer_problem(specs, [])) is not None:
        raise UsageError([Problem("model.layers", why, where)])
    refuse_foreign_targets({"model": {"layers": specs}}, where, modules)
    return specs


def rebuild(run_dir: Path, record: dict[str, Any], modules: Sequence[str] = ()) -> nn.Module:
    """The run's model with its saved weights loaded, in eval mode (``UsageError`` if the
    record or the weights cannot be used)."""
    import torch

    from fpexp.api_files import recorded_file, run_dtype
    from fpexp.api_state import ONE_AT_A_TIME
    from fpexp.builder import build_model
    from fpexp.heads import Head
    from fpexp.weights import load_state

    where = f"{run_dir / 'run.json'}"
    task = (record.get("config") or {}).get("task") or {}
    weights, _ = recorded_file(run_dir, record, "weights")  # a failed run: none, said first
    dtype = run_dtype(record)
    width = task.get("out_features")
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise UsageError([Problem("task.out_features", f"{width!r} is not a width", where)])
    head = Head.of(str(task.get("kind")), width)
    specs, state = _specs(record, where, modules), load_state(weights)
    with torch.device("meta"):  # shapes first: a record's huge layer is never allocated
        _fits(build_model(specs, head), state.tensors)
    with ONE_AT_A_TIME, torch.random.fork_rng(devices=[]):  # throw-away initial draws:
        net = build_model(specs, head)  # not from the RNG of the caller or of a running call
    net = net.to(getattr(torch, dtype))
    net.load_state_dict(dict(state.tensors), strict=True)
    return net.eval()


def _fits(skeleton: nn.Module, tensors: dict[str, Any]) -> None:
    """``UsageError`` unless the weights have exactly the model's names and shapes."""
    wanted = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if wanted != found:
        diff = sorted(k for k in {*wanted, *found} if wanted.get(k) != found.get(k))
        shown = ", ".join(f"{k}: {found.get(k)} for {wanted.get(k)}" for k in diff[:3])
        raise UsageError([Problem("weights.safetensors", f"does not fit the model ({shown})")])
