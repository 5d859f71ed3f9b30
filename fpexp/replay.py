"""What a rerun may take from a record: validated values only, never a record's own overrides.

A run directory may come from someone else. Its config is replayed only as fpexp's own schema
keys with plain values (no ``_target_``, no resolver calls), its group choices only as options
of the packaged config groups, and its Hydra overrides only from a short allow-list of harmless
settings; output directories, mode and launcher are where and how it ran, not what, and are
dropped. Anything else is refused with one line naming the key and the file.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path
from typing import Any

from fpexp.errors import Problem

# Hydra settings a record may carry into a rerun, with the value types each accepts.
ALLOWED_HYDRA = {"hydra.job.chdir": (bool,), "hydra.verbose": (bool, str, list)}
# Where and how a run ran: dropped from a rerun (the rerun has its own directory and mode).
DROPPED_HYDRA = ("hydra.run.", "hydra.sweep.", "hydra/launcher", "hydra.launcher", "hydra.mode")
_REFERENCE = re.compile(r"^\$\{([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\}$")
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
            if ref is None or ref.group(1) not in keys:
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
        elif (why := _value_problem(value, keys)) is not None:
            problems.append(Problem(key, why, allowed))
        elif key == "data.source" and (not isinstance(value, str) or value not in SOURCES):
            problems.append(Problem(key, f"unknown data source {value!r}", allowed))
    return problems


def resolved(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (already checked by ``config_problems``) with its ``${key}`` references
    replaced by the values they name, as OmegaConf would resolve them."""
    from fpexp.overrides import flatten

    flat = flatten(config)

    def value(v: Any, depth: int = 0) -> Any:
        if isinstance(v, list):
            return [value(x, depth) for x in v]
        ref = _REFERENCE.match(v) if isinstance(v, str) else None
        return value(flat.get(ref.group(1)), depth + 1) if ref and depth < 8 else v

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
