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
    RESERVED_COLUMNS,
    TASK_KINDS,
)
from fpexp.data.sources import source_problems
from fpexp.errors import Problem
from fpexp.output_formats import OUTPUT_FORMATS

_DEVICE = re.compile(r"^(cpu|auto|mps|cuda(:(\d+))?)$")
_SEED_MIN, _SEED_MAX = -(2**63), 2**64 - 1


def _one_of(choices: Sequence[str]) -> str:
    return "one of: " + ", ".join(choices)


def check_config(cfg: Any) -> list[Problem]:
    """Problems in the config alone (no machine or data facts needed)."""
    return [
        *unknown_keys(cfg),
        *_check_task(cfg.task),
        *_check_model(cfg.model),
        *_check_weights_keys(cfg.model),
        *_check_data(cfg.data),
        *_check_run(cfg),
    ]


def _check_task(task: Any) -> list[Problem]:
    out: list[Problem] = []
    if task.kind not in TASK_KINDS:
        return [Problem("task.kind", f"unknown task '{task.kind}'", _one_of(TASK_KINDS))]
    if task.out_features < 1:
        out.append(
            Problem("task.out_features", f"{task.out_features} is not positive", "an integer >= 1")
        )
    if task.kind == "binary":
        if task.out_features != 1:
            out.append(
                Problem(
                    "task.out_features",
                    f"{task.out_features} for a binary task",
                    "1: one sigmoid probability",
                )
            )
        t = task.threshold
        if t is None or not 0.0 <= t <= 1.0:
            out.append(
                Problem("task.threshold", f"{t} is outside [0, 1]", "a probability between 0 and 1")
            )
        n = len(task.classes) if task.classes is not None else 2
        if n != 2:
            out.append(
                Problem(
                    "task.classes",
                    f"{n} class names for a binary task",
                    "exactly 2: [negative, positive]",
                )
            )
    elif task.threshold is not None:
        out.append(
            Problem("task.threshold", f"is set but a {task.kind} task has no threshold", "null")
        )
    if task.kind == "multiclass":
        n = len(task.classes) if task.classes is not None else task.out_features
        if n != task.out_features:
            out.append(
                Problem(
                    "task.classes",
                    f"{n} class names for {task.out_features} outputs",
                    f"exactly task.out_features = {task.out_features} names",
                )
            )
    if task.kind == "regression" and task.classes is not None:
        out.append(Problem("task.classes", "is set but a regression task has no classes", "null"))
    if task.classes is not None and len(set(task.classes)) != len(task.classes):
        out.append(
            Problem("task.classes", f"duplicate names in {list(task.classes)}", "distinct names")
        )
    return out + _check_class_names(task)


def _check_class_names(task: Any) -> list[Problem]:
    """Class names become column names (outputs) and values next to fixed columns
    (predictions): a name the tables already use would overwrite or shadow that column."""
    if task.kind == "regression" or task.classes is None:
        return []
    blank = [i for i, c in enumerate(task.classes) if not str(c).strip()]
    if blank:
        where = ", ".join(str(i) for i in blank)
        what = f"empty or blank class name at position {where} of {list(task.classes)}"
        return [Problem("task.classes", what, "non-blank names, e.g. [no, yes]")]
    clash = [str(c) for c in task.classes if str(c) in RESERVED_COLUMNS]
    if not clash:
        return []
    names = ", ".join(f"'{c}'" for c in clash)
    what = f"class name{'s' * (len(clash) > 1)} {names} would collide with output table columns"
    return [Problem("task.classes", what, "other names; reserved: " + ", ".join(RESERVED_COLUMNS))]


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
