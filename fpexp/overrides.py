"""Hydra override strings: rendering values, and the overrides that pin a recorded config."""

from __future__ import annotations

import json
import math
import re
from typing import Any

_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-./]*$")
_KEYWORDS = {"true", "false", "null", "nan", "inf", "-inf"}


def render(value: Any) -> str:
    """A value in Hydra's override grammar (lists as ``[a,b]``, odd strings quoted)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{render(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _BARE.match(text) and text.lower() not in _KEYWORDS:
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def flatten(tree: Any, prefix: str = "", lists: bool = False) -> dict[str, Any]:
    """Dotted leaf paths of a nested dict; lists are leaves, except with ``lists`` a list of
    mappings (a layer list), whose items are keyed by index as Hydra's overrides key them
    (``model.layers.1.normalized_shape``)."""
    if isinstance(tree, dict) and tree:
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}.", lists))
        return out
    if lists and _layer_list(tree):
        return {
            k: v
            for i, item in enumerate(tree)
            for k, v in flatten(item, f"{prefix}{i}.", lists).items()
        }
    return {prefix[:-1]: tree} if prefix else {}


def refined(key: str, values: list[Any]) -> list[str]:
    """``[key]``, or where every value is a layer list of one length, the dotted keys under
    it whose values differ (a sweep over ``model.layers.1.normalized_shape`` shows that key)."""
    if len(values) < 2 or not all(_layer_list(v) and len(v) == len(values[0]) for v in values):
        return [key]
    flat = [flatten(v, f"{key}.", lists=True) for v in values]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    differ = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]
    return differ or [key]


def _layer_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def pin_overrides(config: dict[str, Any], choices: dict[str, str], skip: set[str]) -> list[str]:
    """Overrides that recompose ``config``: its group choices, then every leaf value.

    Leaves under a group in ``skip`` (whose choice the caller changes) are left out, so the
    newly chosen group's own values apply.
    """
    groups = [f"{g}={c}" for g, c in choices.items() if g not in skip]
    leaves = [
        f"{key}={render(value)}"
        for key, value in flatten(config).items()
        if key.split(".")[0] not in skip
    ]
    return groups + leaves
