"""Value checks on a composed config. Every problem is collected, then reported at once.

Hydra and the schema already reject unknown keys and wrong types, except keys added with
``+``/``++`` (``unknown_keys`` refuses those); this module checks what a type cannot express
(ranges, choices, consistency between groups). It imports no torch: the
few facts it needs about the machine or the data are passed in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fpexp.config.additions import unknown_keys
from fpexp.config.model_checks import layer_list_problems, mlp_option_problems
from fpexp.config.schema import (
    ACTIVATIONS,
    DTYPES,
)
from fpexp.data.sources import source_problems
from fpexp.errors import Problem
from fpexp.heads import task_problems
from fpexp.output_formats import OUTPUT_FORMATS

_DEVICE = re.compile(r"^(cpu|auto|mps|cuda(:(\d+))?)$")
_SEED_MIN, _SEED_MAX = -(2**63), 2**64 - 1


def _one_of(choices: Sequence[str]) -> str:
    return "one of: " + ", ".join(choices)


def check_config(cfg: Any) -> list[Problem]:
    """Problems in the config alone (no machine or data facts needed)."""
    return [
        *unknown_keys(cfg),
        *_check_task(cfg.task, cfg.data),
        *_check_model(cfg.model),
        *_check_weights_keys(cfg.model),
        *_check_data(cfg.data),
        *_check_run(cfg),
    ]


def _check_task(task: Any, data: Any) -> list[Problem]:
    """The task's head checks ``task.*`` and the shape of ``data.label`` (one column or a list)."""
    return task_problems(task, data.get("label") if hasattr(data, "get") else None)


def _check_model(model: Any) -> list[Problem]:
    out: list[Problem] = []
    for i, width in enumerate(model.hidden or []):
        if width < 1:
            out.append(
                Problem(f"model.hidden[{i}]", f"width {width} is not positive", "integers >= 1")
            )
    if model.width is not None and model.width < 1:
        out.append(Problem("model.width", f"{model.width} is not positive", "an integer >= 1"))
    if model.depth is not None and model.depth < 0:
        out.append(Problem("model.depth", f"{model.depth} is negative", "an integer >= 0"))
    if model.hidden is not None:
        given = list(model.hidden)
        either = "give either model.hidden or model.width/model.depth"
        if model.width is not None and any(w != model.width for w in given):
            what = f"{model.width} disagrees with model.hidden={given}"
            out.append(Problem("model.width", what, either))
        if model.depth is not None and model.depth != len(given):
            what = f"{model.depth} disagrees with model.hidden={given} ({len(given)} layers)"
            out.append(Problem("model.depth", what, either))
    if model.activation not in ACTIVATIONS:
        out.append(
            Problem(
                "model.activation", f"unknown activation '{model.activation}'", _one_of(ACTIVATIONS)
            )
        )
    if model.in_features is not None and model.in_features < 1:
        out.append(
            Problem(
                "model.in_features",
                f"{model.in_features} is not positive",
                "null or an integer >= 1",
            )
        )
    return out + mlp_option_problems(model) + layer_list_problems(model)


def _check_weights_keys(model: Any) -> list[Problem]:
    """``weights_key``/``weights_prefix`` say where in a ``model.weights`` file to look."""
    out: list[Problem] = []
    for name in ("weights_key", "weights_prefix"):
        value = model.get(name)
        if value is None:
            continue
        if not model.get("weights"):
            what = "is set but model.weights is null"
            out.append(Problem(f"model.{name}", what, "null, or give model.weights"))
        elif name == "weights_key" and not str(value).strip():
            what = "is empty"
            out.append(Problem("model.weights_key", what, "null, or the key that holds it"))
    return out


def _check_data(data: Any) -> list[Problem]:
    """An unknown ``data.source``, or what that source's own checks find."""
    return source_problems(data)


def _check_run(cfg: Any) -> list[Problem]:
    out: list[Problem] = []
    if not _DEVICE.match(str(cfg.device)):
        out.append(
            Problem("device", f"unknown device '{cfg.device}'", "cpu, cuda, cuda:N, mps or auto")
        )
    if cfg.dtype not in DTYPES:
        out.append(Problem("dtype", f"unknown dtype '{cfg.dtype}'", _one_of(DTYPES)))
    if not _SEED_MIN <= cfg.seed <= _SEED_MAX:
        out.append(Problem("seed", f"{cfg.seed} is out of range", "a 64-bit integer"))
    if cfg.batch_size < 1:
        out.append(Problem("batch_size", f"{cfg.batch_size} is not positive", "an integer >= 1"))
    if cfg.output.format not in OUTPUT_FORMATS:
        what = f"unknown format '{cfg.output.format}'"
        out.append(Problem("output.format", what, _one_of(list(OUTPUT_FORMATS))))
    return out


def check_device(spec: str, cuda_count: int, mps: bool) -> list[Problem]:
    """Whether a well-formed device spec names a device this machine has."""
    m = _DEVICE.match(str(spec))
    if m is None:
        return []  # reported by check_config
    have = ["cpu", "auto"] + [f"cuda:{i}" for i in range(cuda_count)] + (["mps"] if mps else [])
    allowed = "available here: " + ", ".join(have)
    if spec.startswith("cuda"):
        if cuda_count == 0:
            return [
                Problem(
                    "device",
                    f"'{spec}' requested but CUDA is not available on this machine",
                    allowed,
                )
            ]
        if m.group(3) is not None and int(m.group(3)) >= cuda_count:
            return [
                Problem(
                    "device",
                    f"'{spec}' requested but this machine has {cuda_count} CUDA device(s)",
                    allowed,
                )
            ]
    if spec == "mps" and not mps:
        return [
            Problem("device", "'mps' requested but MPS is not available on this machine", allowed)
        ]
    return []


def check_in_features(model: Any, n_features: int, source: str) -> list[Problem]:
    """An explicit ``model.in_features`` must agree with the data."""
    given = model.in_features
    if given is not None and given >= 1 and given != n_features:
        return [
            Problem(
                "model.in_features",
                f"{given} does not match the {n_features} features of data '{source}'",
                f"null or {n_features}",
            )
        ]
    return []
