"""``omegaconf_copies``: a deep copy made with it is OmegaConf's own deep copy, object for object.

Each config is copied twice with the same kind of ``memo``: by OmegaConf's own ``__deepcopy__``
and with ``omegaconf_copies`` installed. The two object graphs must be the same graph: the same
classes, the same instance attributes in the same order, the very same objects where a copy
keeps the original's (values, parents, anything ``copy`` treats as atomic), and fresh objects
shared exactly where OmegaConf's copy shares them; the memo must hold the same originals.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import pathlib
from collections import defaultdict
from typing import Any

import pytest
from omegaconf import DictConfig, ListConfig, OmegaConf, flag_override
from omegaconf.base import Metadata, Node
from support import composed_with_hydra

from fpexp.config import hydra_speedups, omegaconf_copies


class Colour(enum.Enum):
    RED = 1
    BLUE = 2


@dataclasses.dataclass
class Inner:
    n: int = 3
    ratio: float = 0.5
    flag: bool = True
    raw: bytes = b"\x00x"
    where: pathlib.Path = pathlib.Path("/tmp/x")
    maybe: int | None = None


@dataclasses.dataclass
class Typed:
    name: str = "a"
    colour: Colour = Colour.BLUE
    inner: Inner = dataclasses.field(default_factory=Inner)
    widths: list[int] = dataclasses.field(default_factory=lambda: [1, 2])
    table: dict[str, float] = dataclasses.field(default_factory=lambda: {"x": 1.0})
    missing: str = "???"
    ref: str = "${name}"


class Opaque:
    """A value only ``allow_objects`` admits: copied by reference, shared as it was."""


def _fpexp_configs() -> list[Any]:
    made = []
    for cfg in composed_with_hydra():
        str(cfg.hydra.run.dir)  # fills the cached resolver's cache where ${now:} is used
        made += [cfg, cfg.hydra, cfg.model]
    return made


def _handmade_configs() -> list[Any]:
    typed = OmegaConf.structured(Typed)
    plain = OmegaConf.create(
        {
            "a": 1,
            "b": [1, {"c": None}, "${a}", "???"],
            "d": {"e": 1.5, "f": "x"},
            "none": None,
            "interp": "${d}",
            "k": {1: "int key", Colour.RED: "enum key"},
        }
    )
    OmegaConf.set_struct(plain.d, True)
    OmegaConf.set_readonly(plain.b, True)
    shared = Opaque()
    objects = OmegaConf.create({"o": shared, "p": [shared]}, flags={"allow_objects": True})
    same_flags = OmegaConf.create({"x": {"y": 1}, "z": {"w": 2}})
    same_flags.z._metadata.flags = same_flags.x._metadata.flags  # one dict, two nodes
    with flag_override(same_flags, "struct", True):
        cached = OmegaConf.create({"t": "${oc.env:HOME}"})
    cached._metadata.resolver_cache["oc.env"][("HOME",)] = "/somewhere"
    return [
        typed,
        typed.inner,
        plain,
        plain.b,
        objects,
        same_flags,
        cached,
        OmegaConf.create([1, [2, [3]], {"x": "${0}"}]),
        DictConfig(None),
        DictConfig("${a}"),
        ListConfig("???"),
        DictConfig(content={}, flags={"readonly": True}),
    ]


CONFIGS = _handmade_configs()


def _own_copy(obj: Any, memo: dict[int, Any]) -> Any:
    assert not any("__deepcopy__" in c.__dict__ for c in (Metadata,))
    return copy.deepcopy(obj, memo)


def _fast_copy(obj: Any, memo: dict[int, Any]) -> Any:
    saved = omegaconf_copies.install()
    assert saved, "omegaconf_copies installs nothing on this OmegaConf"
    try:
        return copy.deepcopy(obj, memo)
    finally:
        omegaconf_copies.restore(saved)


def _originals(obj: Any) -> dict[int, Any]:
    """Every object reachable from ``obj`` (through attributes and containers), by id."""
    seen: dict[int, Any] = {}
    todo = [obj]
    while todo:
        x = todo.pop()
        if id(x) in seen:
            continue
        seen[id(x)] = x
        if isinstance(x, (dict, defaultdict)):
            todo += [*x.keys(), *x.values()]
        elif isinstance(x, (list, tuple)):
            todo += list(x)
        elif isinstance(x, (Node, Metadata)):
            todo += list(vars(x).values())
    return seen


def _same_graph(a: Any, b: Any, originals: dict[int, Any], pairs: dict[int, Any]) -> None:
    if id(a) in originals or id(b) in originals:
        assert a is b, f"one copy kept an original the other copied: {a!r} / {b!r}"
        return
    if id(a) in pairs:
        assert pairs[id(a)] is b, f"shared differently: {a!r}"
        return
    pairs[id(a)] = b
    assert type(a) is type(b)
    if isinstance(a, (Node, Metadata)):
        assert list(vars(a)) == list(vars(b))
        for key in vars(a):
            _same_graph(vars(a)[key], vars(b)[key], originals, pairs)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        if isinstance(a, defaultdict):
            assert a.default_factory is b.default_factory
        for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True):
            _same_graph(ka, kb, originals, pairs)
            _same_graph(va, vb, originals, pairs)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same_graph(x, y, originals, pairs)
    else:
        assert a is b or a == b, f"{a!r} != {b!r}"


def _compare(obj: Any) -> None:
    originals = _originals(obj)
    memo_a: dict[int, Any] = {}
    memo_b: dict[int, Any] = {}
    a, b = _own_copy(obj, memo_a), _fast_copy(obj, memo_b)
    assert a is not obj and b is not obj
    pairs: dict[int, Any] = {}
    _same_graph(a, b, originals, pairs)
    alive = sorted(map(id, memo_a.pop(id(memo_a), [])))
    assert alive == sorted(map(id, memo_b.pop(id(memo_b), []))), "other originals kept alive"
    assert set(memo_a) == set(memo_b), "the memo holds other originals"
    for key in memo_a:  # the same copies, paired as in the graphs
        _same_graph(memo_a[key], memo_b[key], originals, pairs)
    assert OmegaConf.to_yaml(a) == OmegaConf.to_yaml(b) == OmegaConf.to_yaml(obj)


@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_a_copy_is_omegaconfs_own_object_for_object(index):
    _compare(CONFIGS[index])


def test_fpexps_composed_configs_are_copied_as_omegaconf_copies_them():
    for cfg in _fpexp_configs():
        _compare(cfg)


def test_the_copies_are_installed_only_inside_the_speedups_and_removed_after():
    from omegaconf import nodes

    before = {c: c.__dict__.get("__deepcopy__") for c in (DictConfig, ListConfig, nodes.AnyNode)}
    with hydra_speedups.installed() as on:
        assert on
        assert "__deepcopy__" in Metadata.__dict__
        assert DictConfig.__dict__["__deepcopy__"] is not before[DictConfig]
    assert "__deepcopy__" not in Metadata.__dict__
    assert {c: c.__dict__.get("__deepcopy__") for c in before} == before


def test_an_untested_omegaconf_gets_its_own_copies(monkeypatch):
    import omegaconf

    monkeypatch.setattr(omegaconf, "__version__", "2.4.0")
    assert omegaconf_copies.replacements() is None
    assert omegaconf_copies.install() == []


def test_a_memo_that_substitutes_a_flag_value_is_honoured():
    """``copy.deepcopy(x, memo)`` looks every value up in ``memo`` first, atomic ones too (a
    caller may pre-fill it); the fast path for a flags dict did not (hostile review)."""
    cfg = OmegaConf.create({"a": {"b": 1}})
    OmegaConf.set_readonly(cfg.a, True)
    own = copy.deepcopy(cfg, {id(True): False}).a._metadata.flags
    fast = _fast_copy(cfg, {id(True): False}).a._metadata.flags
    assert own == {"readonly": False} and fast == own
