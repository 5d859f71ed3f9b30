"""``+key=value``: a key fpexp's schema does not know is refused, however it was added.

Hydra's ``+`` (and ``++``) opens the schema's struct flag, so ``+model.dropout=0.5`` composes,
is recorded and would be ignored. Every run refuses it (``unknown_keys``, part of
``check_config``); ``preflight`` finds it before Hydra makes a run or sweep directory, through
Hydra's public override parser and compose API. It costs nothing without such an override.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from fpexp.config.schema import FpexpConfig, ModelConfig, OutputConfig, TaskConfig
from fpexp.data.sources import SOURCES
from fpexp.errors import Problem

MAX_COMBINATIONS = 32  # group choices composed; beyond, each job's own check still refuses


def _schema_keys(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def unknown_keys(cfg: Any) -> list[Problem]:
    """Keys the schema does not know. Composition refuses them, but Hydra's ``+key=value``
    (and ``++``) opens the schema's struct flag: such a key would be recorded and ignored."""
    sections = {"task": TaskConfig, "model": ModelConfig, "output": OutputConfig}
    data = cfg.get("data")
    source = data.get("source") if isinstance(data, Mapping) else None
    if source in SOURCES:
        sections["data"] = SOURCES[source].schema
    top = _schema_keys(FpexpConfig)
    out = [
        Problem(str(k), "unknown key", "allowed keys: " + ", ".join(top))
        for k in cfg
        if k not in top and k != "hydra"
    ]
    for name, cls in sections.items():
        node, allowed = cfg.get(name), _schema_keys(cls)
        if not isinstance(node, Mapping):
            continue
        where = f" for data={source}" if name == "data" else ""
        out += [
            Problem(f"{name}.{k}", "unknown key" + where, "allowed keys: " + ", ".join(allowed))
            for k in node
            if k not in allowed
        ]
    return out


def _hydra(line: str) -> bool:
    return line.lstrip("+~").startswith("hydra")


def preflight(args: Sequence[str]) -> list[Problem]:
    """Unknown keys added by ``+``/``++`` overrides in ``args`` (a command line for the
    packaged config), for every combination of the group choices it sweeps."""
    if not any(a.startswith("+") and not _hydra(a) for a in args) or any(
        a.startswith("-") and a not in ("-m", "--multirun") for a in args
    ):
        return []  # nothing added to fpexp's config, or another config (--config-dir ...)
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType

    from fpexp.config.compose import compose_config
    from fpexp.config.store import group_names

    try:
        parsed = OverridesParser.create().parse_overrides([a for a in args if a[:1] != "-"])
    except Exception:
        return []  # Hydra reports an override it cannot parse
    groups, adds = [], []
    for ov in parsed:
        lines = _values(ov)
        if ov.key_or_group in group_names() and ov.type == OverrideType.CHANGE:
            groups.append(lines)
        elif ov.type in (OverrideType.ADD, OverrideType.FORCE_ADD) and not _hydra(ov.input_line):
            adds.append(lines[0])  # the key is what matters, not its value
    problems: list[Problem] = []
    for combo in itertools.islice(itertools.product(*groups), MAX_COMBINATIONS):
        try:
            cfg = compose_config([*combo, *adds])
        except Exception:
            continue  # a composition error: Hydra reports it, with diagnose's help
        problems += [p for p in unknown_keys(cfg) if p not in problems]
    return problems


def _values(override: Any) -> list[str]:
    """``k=a,b`` as ``k=a`` and ``k=b``; any other override (a range sweep too) as given."""
    if override.is_sweep_override():
        key = override.get_key_element()
        try:
            return [f"{key}={v}" for v in override.sweep_string_iterator()]
        except Exception:
            pass
    return [override.input_line]
