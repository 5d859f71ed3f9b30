"""Explains a failed Hydra composition: every bad override, one ``Problem`` each.

Hydra stops at the first unknown key, bad type or missing group option. On that (rare) path we
re-compose with each group override on its own to find all of them, apply each other override on
its own to the config of the good group choices (as Hydra applies them after composing: the same
code, so the same errors, without recomposing per override), then check the values of the
remaining good overrides too, so the user sees every problem at once.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError
from omegaconf.nodes import BooleanNode, FloatNode, IntegerNode, StringNode

from fpexp.config.compose import compose_config
from fpexp.config.store import group_names
from fpexp.config.validate import check_config
from fpexp.errors import Problem

_TYPES = {
    IntegerNode: "an integer",
    FloatNode: "a number",
    BooleanNode: "true or false",
    StringNode: "a string",
}


_compose = compose_config
# a list's element type: what its items are called, and an example of such a list
_ELEMENTS = {
    int: ("integers", "[4, 8]"),
    float: ("numbers", "[0.5, 1.0]"),
    str: ("strings", "[no, yes]"),
    bool: ("booleans", "[true, false]"),
}


def _expected(cfg: DictConfig, key: str) -> str:
    """Describe the type the schema expects at ``key``: 'an integer', 'a list of ...'."""
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    try:
        node = parent._get_node(leaf)
    except Exception:
        return ""
    if isinstance(node, ListConfig):
        kind, example = _ELEMENTS.get(node._metadata.element_type, ("values", "[4, 8]"))
        return f"a list of {kind} (e.g. {example})" + (" or null" if node._is_optional() else "")
    for cls, text in _TYPES.items():
        if isinstance(node, cls):
            return text + (" or null" if node._is_optional() else "")
    return ""


def _allowed_keys(cfg: DictConfig, key: str) -> str:
    parent_key = key.rpartition(".")[0]
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    if isinstance(parent, DictConfig):
        return "allowed keys: " + ", ".join(str(k) for k in parent if k != "hydra")
    return ""


def _explain(key: str, value: str, err: Exception, base: DictConfig) -> Problem:
    if isinstance(err, MissingConfigException) and err.options is not None:
        return Problem(key, f"unknown option '{value}'", "one of: " + ", ".join(err.options))
    cause = err.__cause__ or err
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)):
        where = f" for data={base.data.source}" if key.startswith("data.") else ""
        return Problem(key, "unknown key" + where, _allowed_keys(base, key))
    if isinstance(cause, ValidationError):
        expected = _expected(base, key)
        if value[:1] in ("'", '"') and expected.startswith("a list"):
            # A quoted list reached Hydra as a string: the shell passed the quotes through.
            what = f"got the string {value} instead of a list; drop the quotes around it"
            return Problem(key, what, f"expected {expected}")
        return Problem(
            key, f"{value} has the wrong type", f"expected {expected}" if expected else ""
        )
    return Problem(key, str(cause).strip().splitlines()[0])


def _expand(override: Any) -> list[str]:
    """A sweep override ``k=a,b`` becomes ``k=a`` and ``k=b``, each checked on its own."""
    prefix = override.get_key_element()
    if override.is_sweep_override():
        return [f"{prefix}={v}" for v in override.sweep_string_iterator()]
    return [override.input_line]


def _applier(
    base: DictConfig, chosen: list[str], compose: Callable[[list[str]], DictConfig]
) -> Callable[[list[Any]], DictConfig]:
    """Applies config overrides (not group choices) to a copy of ``base`` as Hydra does after
    composing the defaults (its ``_apply_overrides_to_config``: the same values and errors).
    That is Hydra's internal step, used only on the Hydra versions fpexp is tested with;
    elsewhere each check is a full composition (slower, the same problems)."""
    import hydra
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    from fpexp.config.hydra_speedups import TESTED_HYDRA

    internal = getattr(ConfigLoaderImpl, "_apply_overrides_to_config", None)
    if hydra.__version__ not in TESTED_HYDRA or internal is None:
        return lambda overrides: compose([*chosen, *(o.input_line for o in overrides)])

    def apply(overrides: list[Any]) -> DictConfig:
        cfg = copy.deepcopy(base)
        internal(overrides, cfg)
        return cfg

    return apply


def _memo(compose: Callable[[Sequence[str]], DictConfig]) -> Callable[[list[str]], DictConfig]:
    """``compose``, once per list of overrides (within one diagnosis)."""
    done: dict[tuple[str, ...], DictConfig] = {}

    def composed(overrides: list[str]) -> DictConfig:
        key = tuple(overrides)
        if key not in done:
            done[key] = compose(overrides)
        return done[key]

    return composed


def diagnose(overrides: Sequence[str]) -> list[Problem]:
    """Every problem in ``overrides`` against the packaged config, in the order given."""
    parser = OverridesParser.create()
    problems: list[Problem] = []
    parsed = []
    for line in overrides:
        try:
            parsed.append(parser.parse_override(line))
        except HydraException as err:
            text = err.message if isinstance(err, OverrideParseException) else str(err)
            what = text.strip().splitlines()[0]
            problems.append(
                Problem(
                    line, f"cannot parse override: {what}", "key=value, e.g. model.hidden=[8,8]"
                )
            )
    ours = [o for o in parsed if not o.get_key_element().lstrip("+~").startswith("hydra")]
    groups = group_names()
    compose = _memo(_compose)
    chosen: list[str] = []
    for ov in (o for o in ours if o.key_or_group in groups):
        for line in _expand(ov):
            try:
                compose([*chosen, line])
                chosen.append(line)
            except Exception as err:
                problems.append(
                    _explain(ov.key_or_group, line.partition("=")[2], err, compose(chosen))
                )
    base = compose(chosen)
    apply = _applier(base, chosen, compose)
    good: list[Any] = []
    for ov in (o for o in ours if o.key_or_group not in groups):
        for line in _expand(ov):
            try:
                if "/" in ov.key_or_group or ov.package is not None:  # not a plain key: Hydra's
                    compose([*chosen, line])  # defaults list decides what it is
                    good.append(line)
                else:
                    (single,) = parser.parse_overrides([line])
                    apply([single])
                    good.append(single)
            except Exception as err:
                problems.append(_explain(ov.key_or_group, line.partition("=")[2], err, base))
    with contextlib.suppress(Exception):
        problems += check_config(_all_good(chosen, good, compose, apply))
    return problems


def _all_good(
    chosen: list[str],
    good: list[Any],
    compose: Callable[[list[str]], DictConfig],
    apply: Callable[[list[Any]], DictConfig],
) -> DictConfig:
    """The config of every good override: composed where one is not a plain key."""
    if any(isinstance(g, str) for g in good):
        return compose([*chosen, *(g if isinstance(g, str) else g.input_line for g in good)])
    return apply(good)
