"""Faster deep copies of OmegaConf configs, exactly what OmegaConf's own ``__deepcopy__`` give.

Hydra deep-copies a job's whole config about five times (the memo's merged config, the masked
``hydra`` node twice, the task config, the Hydra config); a copy is ~7 ms, most of it spent
building throw-away nodes (``DictConfig(None)``, ``AnyNode()``: their ``__init__`` validates
and toggles flags, and everything it sets is then overwritten) and copying every node's
``Metadata`` through ``copy``'s generic reduce/reconstruct path. The copies here build the same
objects directly: the same classes, the same instance attributes in the same order with the
same values, the same ``memo`` entries, every child still copied through ``copy.deepcopy``.
Whatever they do not know exactly (an ``EnumNode``, a non-empty resolver cache, a value of a
type ``copy`` does not treat as atomic) goes through OmegaConf's and ``copy``'s own code.

Installed only by ``hydra_speedups.installed()``, only on the OmegaConf versions tested
(``TESTED_OMEGACONF``), and removed when it exits. ``tests/test_omegaconf_copies.py`` compares
every copied object graph with OmegaConf's own, attribute by attribute.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable
from typing import Any

TESTED_OMEGACONF = frozenset({"2.3.1"})
_NIL: Any = object()
_VALUE_NODES = (
    *("AnyNode", "StringNode", "PathNode", "IntegerNode"),
    *("BytesNode", "FloatNode", "BooleanNode"),
)


def _atomic_types() -> frozenset[type] | None:
    """The types ``copy.deepcopy`` returns as they are (None if ``copy`` has changed)."""
    dispatch = getattr(copy, "_deepcopy_dispatch", None)
    atomic = getattr(copy, "_deepcopy_atomic", None)
    if not isinstance(dispatch, dict) or atomic is None:
        return None
    return frozenset(t for t, f in dispatch.items() if f is atomic)


def _remembered(memo: dict[int, Any], original: Any, made: Any) -> Any:
    """What ``copy.deepcopy`` does with a copy it made: memo entry and keep-alive list."""
    memo[id(original)] = made
    try:
        memo[id(memo)].append(original)
    except KeyError:
        memo[id(memo)] = [original]
    return made


def _field_copier(atomic: frozenset[type]) -> Callable[[Any, dict[int, Any]], Any]:
    deepcopy = copy.deepcopy

    def copied(value: Any, memo: dict[int, Any]) -> Any:
        """``copy.deepcopy(value, memo)``, without its generic path for a metadata field."""
        kind = type(value)
        found = memo.get(id(value), _NIL)
        if found is not _NIL:
            return found
        if kind in atomic or issubclass(kind, type):
            return value
        if kind is dict and all(
            type(k) in atomic and type(v) in atomic and id(k) not in memo and id(v) not in memo
            for k, v in value.items()
        ):  # what deepcopy makes of it, unless the memo says otherwise for an item
            return _remembered(memo, value, dict(value))
        if kind is defaultdict and not value and value.default_factory is dict:
            return _remembered(memo, value, defaultdict(dict))
        return deepcopy(value, memo)

    return copied


def _metadata_copy(copied: Callable[[Any, dict[int, Any]], Any]) -> Callable[..., Any]:
    def __deepcopy__(self: Any, memo: dict[int, Any]) -> Any:
        # copy's reconstruct path: a new object, memo entry first, then the copied state
        cls: Any = type(self)
        made = cls.__new__(cls)
        memo[id(self)] = made
        state, copied_state = self.__dict__, {}  # type: ignore[var-annotated]
        memo[id(state)] = copied_state
        for k, v in state.items():
            copied_state[k] = copied(v, memo)
        _remembered(memo, state, copied_state)
        made.__dict__.update(copied_state)
        return made

    return __deepcopy__


def _value_node_copy(cls: Any) -> Callable[..., Any]:
    def __deepcopy__(self: Any, memo: dict[int, Any]) -> Any:
        # ``cls()`` then ``_deepcopy_impl``: the attributes __init__ sets, in its order
        made = cls.__new__(cls)
        own, new = self.__dict__, made.__dict__
        new["_metadata"] = copy.deepcopy(own["_metadata"], memo=memo)
        new["_parent"] = own["_parent"]
        new["_flags_cache"] = None
        new["_val"] = own["_val"]
        return made

    return __deepcopy__


def _container_copy(
    cls: Any, kind: Any, copied: Callable[[Any, dict[int, Any]], Any]
) -> Callable[..., Any]:
    def __deepcopy__(self: Any, memo: dict[int, Any]) -> Any:
        # ``cls(None)`` then OmegaConf's own __deepcopy__ body
        made = cls.__new__(cls)
        own, new = self.__dict__, made.__dict__
        new["_metadata"] = copy.deepcopy(own["_metadata"], memo=memo)
        new["_parent"] = None
        new["_flags_cache"] = copied(own["_flags_cache"], memo)
        content = own["_content"]
        if isinstance(content, kind):
            items = content.items() if kind is dict else enumerate(content)
            copies: Any = {} if kind is dict else []
            for k, v in items:
                old_parent = v.__dict__["_parent"]
                try:
                    v.__dict__["_parent"] = None
                    vc = copy.deepcopy(v, memo=memo)
                    vc.__dict__["_parent"] = made
                    if kind is dict:
                        copies[k] = vc
                    else:
                        copies.append(vc)
                finally:
                    v.__dict__["_parent"] = old_parent
            content = copies
        new["_content"] = content
        new["_parent"] = own["_parent"]
        return made

    return __deepcopy__


def replacements() -> list[tuple[type, Callable[..., Any]]] | None:
    """(class, its new ``__deepcopy__``) for this OmegaConf, or None where it is not tested."""
    import omegaconf
    from omegaconf import nodes
    from omegaconf.base import Metadata

    atomic = _atomic_types()
    if omegaconf.__version__ not in TESTED_OMEGACONF or atomic is None:
        return None
    copied = _field_copier(atomic)
    made: list[tuple[type, Callable[..., Any]]] = [
        (Metadata, _metadata_copy(copied)),
        (omegaconf.DictConfig, _container_copy(omegaconf.DictConfig, dict, copied)),
        (omegaconf.ListConfig, _container_copy(omegaconf.ListConfig, list, copied)),
    ]
    made += [(getattr(nodes, n), _value_node_copy(getattr(nodes, n))) for n in _VALUE_NODES]
    if "__deepcopy__" in Metadata.__dict__ or any(
        "__deepcopy__" not in cls.__dict__ for cls, _ in made[1:]
    ):
        return None
    return made


def install() -> list[tuple[type, Any]]:
    """Put the copies on OmegaConf's classes; what to give back to ``restore``."""
    saved: list[tuple[type, Any]] = []
    for cls, fn in replacements() or ():
        saved.append((cls, cls.__dict__.get("__deepcopy__", _NIL)))
        type.__setattr__(cls, "__deepcopy__", fn)
    return saved


def restore(saved: list[tuple[type, Any]]) -> None:
    for cls, original in reversed(saved):
        if original is _NIL:
            type.__delattr__(cls, "__deepcopy__")
        else:
            type.__setattr__(cls, "__deepcopy__", original)
