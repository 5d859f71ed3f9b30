"""``yaml_memo.to_yaml``: the text ``OmegaConf.to_yaml`` writes, byte for byte, on fpexp's configs
(with their ``hydra`` node, as ``run_job`` saves them) and on random hostile ones, emitted twice
in a row (the second time from the memo)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from omegaconf import OmegaConf
from support import composed_with_hydra

from fpexp.config import hydra_speedups, yaml_memo

NASTY = [
    "",
    " ",
    "a: b",
    "- x",
    "#no",
    "yes",
    "null",
    "~",
    "1.0",
    "0x1F",
    "1e3",
    ".inf",
    "${a.b}",
    "???",
    "é ünïcødé ✓",
    "tab\there",
    "line\nbreak",
    "trailing\n",
    " lead",
    "trail ",
    "'quoted'",
    '"dq"',
    "back\\slash",
    "\x00nul\x07bell",
    "\ufeffbom",
    "\U0010ffff",
    "word " * 30,
    "x" * 200,
    "key: with: colons",
    "[flow]",
    "{flow: map}",
    "&anchor",
    "*alias",
    "!tag",
    "%directive",
    "@at",
    "`tick",
    "|",
    ">",
]
SCALARS: list[Any] = [*NASTY, 0, -1, 10**30, 0.0, -0.0, 1.5, float("inf"), float("nan")]
SCALARS += [True, False, None]


def _random_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.45:
        return rng.choice(SCALARS)
    if roll < 0.7:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return _random_dict(rng, depth + 1)


def _random_dict(rng: random.Random, depth: int) -> dict[str, Any]:
    keys = [rng.choice(NASTY) or "k" for _ in range(rng.randrange(0, 5))]
    return {k: _random_value(rng, depth) for k in keys}


def _fpexp_configs() -> list[Any]:
    made = []
    for cfg in composed_with_hydra():
        task = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
        made += [cfg, OmegaConf.masked_copy(cfg, "hydra"), task, cfg.hydra.overrides.task]
    return made


def _same_twice(container: Any) -> None:
    want = OmegaConf.to_yaml(OmegaConf.create(container) if container != {} else {})
    assert yaml_memo.to_yaml(container) == want
    assert yaml_memo.to_yaml(container) == want  # from the memo


def test_fpexps_configs_are_written_as_omegaconf_writes_them():
    for cfg in _fpexp_configs():
        want = OmegaConf.to_yaml(cfg)
        container = OmegaConf.to_container(cfg, enum_to_str=True)
        assert yaml_memo.to_yaml(container) == want
        assert yaml_memo.to_yaml(container) == want


@pytest.mark.parametrize("seed", range(150))
def test_random_hostile_configs_are_written_as_omegaconf_writes_them(seed):
    rng = random.Random(seed)
    container = {"hydra": _random_dict(rng, 0), **_random_dict(rng, 0)}
    want = OmegaConf.to_yaml(container)
    assert yaml_memo.to_yaml(container) == want
    assert yaml_memo.to_yaml(container) == want


@pytest.mark.parametrize(
    "container",
    [{}, [], {"a": {}}, {"a": []}, {"z": -0.0, "y": 0.0}, {"n": 1, "b": True}, {"b": True}],
)
def test_values_that_compare_equal_but_print_apart_are_kept_apart(container):
    assert yaml_memo.to_yaml(container) == OmegaConf.to_yaml(container)
    assert yaml_memo.to_yaml({"a": {"x": 0.0}}) == "a:\n  x: 0.0\n"
    assert yaml_memo.to_yaml({"a": {"x": -0.0}}) == "a:\n  x: -0.0\n"
    assert yaml_memo.to_yaml({"a": {"x": 1}}) == "a:\n  x: 1\n"
    assert yaml_memo.to_yaml({"a": {"x": True}}) == "a:\n  x: true\n"


def test_hydras_save_config_is_replaced_only_inside_the_speedups():
    import hydra.core.utils

    plain = hydra.core.utils._save_config
    with hydra_speedups.installed() as on:
        assert on and hydra.core.utils._save_config is not plain
    assert hydra.core.utils._save_config is plain


@pytest.mark.parametrize(
    "key",
    [
        "a" * 70 + " bbbbbbbbx: " + " ".join(["more"] * 20),  # wrapped after an "x:" (review)
        "a" * 128,  # too long for a simple key
        "k: " * 50,
        "line\nbreak",
    ],
)
def test_a_key_not_written_on_one_line_is_not_split(key):
    data = {key: {"a": 1, "b": 2}, "c": 3}
    want = OmegaConf.to_yaml(OmegaConf.create(data))
    assert yaml_memo.to_yaml(data) == want
    assert yaml_memo.to_yaml(data) == want
