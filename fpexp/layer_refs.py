"""References from and into a recorded layer list (``${model.layers.0.out_features}``): a sweep
over one layer's width keeps its neighbours in step with them. ``replay`` accepts them in a
record when each names a plain value of the record's own list, and resolves them from it."""

from __future__ import annotations

import re
from typing import Any

from fpexp.errors import Problem

LAYERS = "model.layers"
REFERENCE = re.compile(r"^\$\{([A-Za-z_]\w*(?:\.(?:[A-Za-z_]\w*|\d+))*)\}$")


def in_layers(name: str) -> bool:
    """A reference into the layer list (``${model.layers.0.out_features}``, as a sweep over
    one layer's width keeps its neighbours in step): resolved from the record's own list."""
    return name.startswith(LAYERS + ".")


def dangling(leaves: dict[str, Any], allowed: str) -> list[Problem]:
    """References from or into the layer list that name no value of it: a missing one, the
    list itself (its parent), or a chain of references that comes back to where it started."""
    problems = []
    for key, value in leaves.items():
        for item in value if isinstance(value, list) else [value]:
            if (why := _chain_problem(key, item, leaves)) is not None:
                problems.append(Problem(key, f"interpolation {item!r} {why}", allowed))
    return problems


def _chain_problem(key: str, item: Any, leaves: dict[str, Any]) -> str | None:
    seen = {key}
    while isinstance(item, str) and (ref := REFERENCE.match(item)) is not None:
        name = ref.group(1)
        if name == LAYERS and in_layers(key):
            return "names the layer list it is in"
        if not in_layers(name):
            return None  # a schema key: resolved by the config as ever
        if name not in leaves:
            return "names no value of the layer list"
        if name in seen:
            return "refers back to itself"
        seen.add(name)
        item = leaves[name]
    return None
