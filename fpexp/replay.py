"""What a rerun may take from a record: validated values only, never a record's own overrides.

A run directory may come from someone else. Its config is replayed only as fpexp's own schema
keys with plain values (no resolver calls; ``_target_`` only inside ``model.layers``, see
``layer_problems`` and ``foreign_targets``), its group choices only as options
of the packaged config groups, and its Hydra overrides only from a short allow-list of harmless
settings; output directories, mode and launcher are where and how it ran, not what, and are
dropped. Anything else is refused with one line naming the key and the file.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fpexp.errors import Problem
from fpexp.layer_refs import REFERENCE, dangling, in_layers

# Hydra settings a record may carry into a rerun, with the value types each accepts.
ALLOWED_HYDRA = {"hydra.job.chdir": (bool,), "hydra.verbose": (bool, str, list)}
# Where and how a run ran: dropped from a rerun (the rerun has its own directory and mode).
DROPPED_HYDRA = ("hydra.run.", "hydra.sweep.", "hydra/launcher", "hydra.launcher", "hydra.mode")
_REFERENCE = REFERENCE
_NAME = re.compile(r"^[A-Za-z_][\w.\-]*$")
_SCALARS = (type(None), bool, int, float, str)


def schema_keys(data_source: Any) -> list[str]:
    """fpexp's own config keys (dotted), with the data keys of ``data_source``'s schema
    (only ``data.source`` when that is not one of the data schemas)."""
    from fpexp.config.schema import FpexpConfig
    from fpexp.data.sources import SOURCES

    keys = []
    for f in dataclasses.fields(FpexpConfig):
        node = f.default_factory if f.default_factory is not dataclasses.MISSING else None
        if f.name == "data":
            entry = SOURCES.get(data_source) if isinstance(data_source, str) else None
            schema = entry.schema if entry is not None else None
            names = [g.name for g in dataclasses.fields(schema)] if schema else ["source"]
            keys += [f"data.{n}" for n in names]
        elif node is not None and dataclasses.is_dataclass(node):
            keys += [f"{f.name}.{g.name}" for g in dataclasses.fields(node)]
        else:
            keys.append(f.name)
    return keys


def _value_problem(value: Any, keys: list[str]) -> str | None:
    """Why ``value`` is not a plain config value (None when it is)."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, _SCALARS):
            return f"a {type(item).__name__} is not a plain value"
        if isinstance(item, str) and "${" in item:
            ref = _REFERENCE.match(item)
            if ref is None or not (ref.group(1) in keys or in_layers(ref.group(1))):
                return f"interpolation {item!r} is not a reference to one of fpexp's keys"
    return None


def config_problems(config: Any, where: str) -> list[Problem]:
    """Every key of a recorded config that is not a schema key with a plain value."""
    from fpexp.data.sources import SOURCES
    from fpexp.overrides import flatten

    allowed = f"{where}: a record may hold only fpexp's own config keys with plain values"
    if not isinstance(config, dict):
        return [Problem("config", f"is a {type(config).__name__}, not a mapping", where)]
    source = config["data"].get("source") if isinstance(config.get("data"), dict) else None
    keys = schema_keys(source)
    problems = []
    for key, value in flatten(config).items():
        if key not in keys:
            problems.append(Problem(key, "not a key of fpexp's config", allowed))
        elif (why := _PLAIN.get(key, _value_problem)(value, keys)) is not None:
            problems.append(Problem(key, why, allowed))
        elif key == "data.source" and (not isinstance(value, str) or value not in SOURCES):
            problems.append(Problem(key, f"unknown data source {value!r}", allowed))
    return problems + dangling(flatten(config, lists=True), allowed)


LAYERS = "model.layers"
_IDENT = re.compile(r"^[A-Za-z_]\w*$")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_MAX_DEPTH = 32
# Modules whose code a record may make a rerun import: torch's own (trusted with fpexp).
TRUSTED_MODULES = ("torch",)


def layer_problem(value: Any, keys: list[str], depth: int = 0) -> str | None:
    """Why a recorded ``model.layers`` is not lists and mappings of plain values with
    identifier keys, ``_target_`` dotted names and only ``_target_``/``_args_`` special keys
    (None when it is). Imports nothing."""
    from fpexp.layer_list import SPECIAL_KEYS

    if value is None or depth > _MAX_DEPTH:
        return None if value is None else f"nested deeper than {_MAX_DEPTH} levels"
    if isinstance(value, list):
        return next((w for v in value if (w := layer_problem(v, keys, depth + 1))), None)
    if not isinstance(value, dict):
        return _value_problem(value, keys)
    for name, item in value.items():
        if not isinstance(name, str) or not _IDENT.match(name):
            return f"{name!r} is not a plain argument name"
        if name.startswith("_") and name.endswith("_") and name not in SPECIAL_KEYS:
            return f"special key {name} is not allowed (only {', '.join(SPECIAL_KEYS)})"
        if name == "_target_" and not (isinstance(item, str) and _DOTTED.match(item)):
            return f"_target_ {item!r} is not a dotted Python name"
        if name == "_args_" and not isinstance(item, list):
            return f"_args_ {item!r} is not a list"
        if (why := layer_problem(item, keys, depth + 1)) is not None:
            return why
    return None


def foreign_targets(config: Any, where: str, allowed: Sequence[str] = ()) -> list[Problem]:
    """Every ``_target_`` of a recorded ``model.layers`` whose module is neither torch's
    nor one the user named (``allowed``: a module and its submodules): resolving it would
    run that module's code, which the record chose. Nothing is imported here."""
    from fpexp.layer_list import targets

    layers = (config.get("model") or {}).get("layers") if isinstance(config, dict) else None
    trusted = (*TRUSTED_MODULES, *allowed)
    problems = []
    for key, target in targets(layers):
        if not any(target == m or target.startswith(m + ".") for m in trusted):
            module = target.rsplit(".", 1)[0]
            what = f"{target!r} from a record would import {module!r}, code the record chose"
            how = f"{where}: torch.* targets, or name the module: --allow-module {module}"
            problems.append(Problem(key, what, how))
    return problems


_PLAIN = {LAYERS: layer_problem}  # keys whose values are more than plain values


def refuse_foreign_targets(config: Any, where: str, allowed: Sequence[str] = ()) -> None:
    """``UsageError`` naming every ``foreign_targets`` problem, before anything imports."""
    from fpexp.errors import UsageError

    if problems := foreign_targets(config, where, allowed):
        raise UsageError(problems)


def resolved(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (already checked by ``config_problems``) with its ``${key}`` references
    replaced by the values they name, as OmegaConf would resolve them."""
    from fpexp.overrides import flatten

    flat = flatten(config)
    named = {**flatten(config, lists=True), **flat}  # a layer list's values by index too

    def value(v: Any, depth: int = 0) -> Any:
        if isinstance(v, list):
            return [value(x, depth) for x in v]
        if isinstance(v, dict):  # a layer's arguments
            return {k: value(x, depth) for k, x in v.items()}
        ref = _REFERENCE.match(v) if isinstance(v, str) else None
        return value(named.get(ref.group(1)), depth + 1) if ref and depth < 8 else v

    return {k: value(v) for k, v in flat.items()}


def choice_problems(choices: Any, where: str) -> list[Problem]:
    """Group choices that are not options of the packaged config groups."""
    from fpexp.config.store import config_dir, group_names

    if not isinstance(choices, dict):
        return [Problem("command.choices", "is not a mapping", where)]
    groups, problems = group_names(), []
    for group, option in choices.items():
        options = _options(config_dir(), str(group)) if group in groups else []
        if group not in groups:
            problems.append(Problem(str(group), "not a config group", f"{where}: {sorted(groups)}"))
        elif not isinstance(option, str) or option not in options:
            what = f"{option!r} is not an option of this group"
            problems.append(Problem(str(group), what, f"{where}: one of {', '.join(options)}"))
    return problems


def refuse_unknown_choices(choices: Any, where: str) -> None:
    """One-line ``UsageError`` for the first choice that is not a packaged option: only what
    recomposes a config (``rerun``, ``diff --overrides``) needs them; listing does not."""
    from fpexp.errors import UsageError

    if problems := choice_problems(choices, where):
        raise UsageError(problems[:1])


@functools.lru_cache(maxsize=16)
def _options(conf: str, group: str) -> list[str]:
    """The packaged options of a config group (the files do not change within a process)."""
    return sorted(p.stem for p in (Path(conf) / group).glob("*.yaml"))


def hydra_settings(overrides: Any, where: str) -> tuple[list[str], list[Problem]]:
    """The allowed Hydra settings among a run's recorded Hydra overrides, rebuilt from their
    parsed values, and a problem for every override that is neither allowed nor dropped."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType

    from fpexp.overrides import render

    allowed = f"{where}: a rerun replays only {', '.join(ALLOWED_HYDRA)}"
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        return [], [Problem("hydra.overrides.hydra", "is not a list of strings", where)]
    parser, kept, problems = OverridesParser.create(), [], []
    for text in overrides:
        try:
            (override,) = parser.parse_overrides([text])
        except Exception as err:  # any parse failure of untrusted text is one line
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            problems.append(Problem(repr(text)[:60], f"not a valid override ({first})", where))
            continue
        key = override.key_or_group
        if key.startswith(DROPPED_HYDRA):
            continue
        plain = override.type == OverrideType.CHANGE and not override.is_sweep_override()
        value = override.value() if plain else None
        types = ALLOWED_HYDRA.get(key)
        if types is None or value is None or not isinstance(value, types):
            problems.append(Problem(key, "not replayed from a record", allowed))
        elif not _plain_names(value):
            problems.append(Problem(key, f"unexpected value {value!r}", allowed))
        else:
            kept.append(f"{key}={render(value)}")
    return kept, problems


def _plain_names(value: Any) -> bool:
    """A bool, or logger names (``hydra.verbose=[fpexp,__main__]``)."""
    items = value if isinstance(value, list) else [value]
    return all(isinstance(v, bool) or (isinstance(v, str) and _NAME.match(v)) for v in items)
