"""Hydra's ``.hydra/*.yaml`` files, byte for byte, without re-emitting what a process has emitted.

``run_job`` writes ``config.yaml``, ``hydra.yaml`` and ``overrides.yaml`` with
``OmegaConf.to_yaml``, whose pure-Python emitter takes ~10 ms for ``hydra.yaml`` alone, at every
run and sweep job, although most of it (help texts, logging, launcher, sweeper) is the same
every time. A block mapping's YAML is its items' YAML one after the other, each item written
the same wherever it stands; so each top-level item (and each item of a top-level mapping, such
as ``hydra``'s) is emitted once per distinct content and kept. Only content made of dicts with
text keys, lists, text, numbers, booleans and None is split (nothing there can be an anchor or
alias); anything else is emitted whole, as OmegaConf does. ``tests/test_yaml_memo.py`` compares
the texts with ``OmegaConf.to_yaml`` on fpexp's configs and on random hostile ones.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

_SCALARS = frozenset({str, int, float, bool, type(None)})


def _frozen(data: Any) -> Any:
    """A hashable image of ``data``, apart wherever YAML is (None: not to be split)."""
    kind = type(data)
    if kind is float:
        return (kind, repr(data))  # -0.0 == 0.0, yet YAML writes them apart
    if kind in _SCALARS:
        return (kind, data)
    if kind is list:
        items = tuple(_frozen(x) for x in data)
        return None if None in items else ("l", items)
    if kind is dict:
        if any(type(k) is not str for k in data):
            return None
        pairs = tuple((k, _frozen(v)) for k, v in data.items())
        return None if any(v is None for _, v in pairs) else ("d", pairs)
    return None


def _emit(data: Any) -> str:
    import yaml
    from omegaconf._utils import get_omega_conf_dumper

    text: str = yaml.dump(
        data,
        default_flow_style=False,
        allow_unicode=True,
        sort_keys=False,
        Dumper=get_omega_conf_dumper(),
    )
    return text


def _thawed(frozen: Any) -> Any:
    """The plain data ``frozen`` is the image of (the same types and values, in order)."""
    kind, content = frozen
    if kind == "l":
        return [_thawed(x) for x in content]
    if kind == "d":
        return {k: _thawed(v) for k, v in content}
    return float(content) if kind is float else content  # repr round-trips a float exactly


@functools.lru_cache(maxsize=1024)
def _item(key: str, frozen: Any) -> str:
    """``key: value`` as it stands in a block mapping (``frozen``: the value's image)."""
    return _emit({key: _thawed(frozen)})


@functools.lru_cache(maxsize=1024)
def _inner_item(key: str, inner: str, frozen: Any) -> tuple[str, str]:
    """The head line of ``key:`` and, under it, ``inner: value`` as it stands there."""
    head, _, block = _emit({key: {inner: _thawed(frozen)}}).partition("\n")
    return head + "\n", block


def _cached(key: str, frozen: Any) -> str:
    """One top-level item's text; a non-empty mapping item item by item."""
    head = _simple_head(key)
    if frozen[0] == "d" and frozen[1] and head is not None:
        parts = [_inner_item(key, k, f) for k, f in frozen[1]]
        if all(line == head and block.startswith("  ") for line, block in parts):
            return head + "".join(block for _, block in parts)
    return _item(key, frozen)  # not "key:" over an indented block: whole


@functools.lru_cache(maxsize=1024)
def _simple_head(key: str) -> str | None:
    """``key:`` and a line break where ``key`` is written on one line as a simple key (then
    a mapping under it is its items, indented, one after the other); else None (a key of 128
    or more characters, or one needing ``? ``, may be wrapped over several lines)."""
    one = _emit({key: 0})
    if one.count("\n") != 1 or not one.endswith(": 0\n"):
        return None
    return one[: -len(" 0\n")] + "\n"


def to_yaml(container: Any) -> str:
    """``yaml.dump`` of a plain container exactly as ``OmegaConf.to_yaml`` writes it."""
    frozen = _frozen(container)
    if frozen is None or frozen[0] != "d" or not container:
        return _emit(container)
    return "".join(_cached(k, f) for k, f in frozen[1])


def saved_with_memo(state: Any, save: Callable[..., Any]) -> Callable[..., Any]:
    """Hydra's ``_save_config`` writing ``to_yaml``'s text (the same bytes)."""
    del state

    @functools.wraps(save)
    def _save_config(cfg: Any, filename: str, output_dir: Path) -> None:
        from omegaconf import OmegaConf

        output_dir.mkdir(parents=True, exist_ok=True)
        text = to_yaml(OmegaConf.to_container(cfg, resolve=False, enum_to_str=True))
        with open(str(output_dir / filename), "w", encoding="utf-8") as file:
            file.write(text)

    return _save_config
