"""Registers fpexp's schema and resolvers with Hydra, and locates the YAML config tree."""

from __future__ import annotations

import functools
import secrets
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from fpexp.config.schema import FpexpConfig
from fpexp.data.sources import SOURCES

CONFIG_NAME = "config"
SCHEMA_NAME = "fpexp_schema"


def config_dir() -> str:
    """The ``conf/`` tree: shipped as ``fpexp/conf`` in a wheel, top-level in a checkout."""
    package = Path(__file__).resolve().parent.parent
    shipped = package / "conf"
    return str(shipped if shipped.is_dir() else package.parent / "conf")


def group_names() -> set[str]:
    """The config groups a user chooses from (``task``, ``model``, ``data``)."""
    return {p.name for p in Path(config_dir()).iterdir() if p.is_dir() and p.name != "hydra"}


def run_stamp() -> str:
    """``YYYY-MM-DD/HH-MM-SS.mmm-xxxxxx``: sortable by time, unique across processes."""
    now = datetime.now()
    return f"{now:%Y-%m-%d}/{now:%H-%M-%S}.{now.microsecond // 1000:03d}-{secrets.token_hex(3)}"


def _help_groups() -> str:
    from fpexp.config.help import groups_text

    return groups_text()


def _help_commands() -> str:
    from fpexp.config.help import commands_text

    return commands_text()


def _registered() -> bool:
    """Whether Hydra's ConfigStore and OmegaConf (process-wide registries) hold fpexp's nodes
    and resolvers: asked of them, not remembered, so a registry reset is seen."""
    repo = ConfigStore.instance().repo
    return f"{SCHEMA_NAME}.yaml" in repo and OmegaConf.has_resolver("fpexp.stamp")


def register() -> None:
    """Idempotently store the schema nodes and the ``fpexp.stamp`` resolver."""
    if _registered():
        return
    _store_made_once(_store_schema)
    # Cached per composed config (like Hydra's own ``now``), and Hydra copies the cache into
    # every sweep job, so a run or a whole sweep gets one stamp.
    OmegaConf.register_new_resolver("fpexp.stamp", run_stamp, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("fpexp.help_groups", _help_groups, replace=True)
    OmegaConf.register_new_resolver("fpexp.help_commands", _help_commands, replace=True)


def register_launcher() -> None:
    """Make ``hydra/launcher=joblib`` fpexp's isolating joblib launcher (``fpexp/launcher.py``):
    the joblib plugin's own settings and defaults, another ``_target_``. Called before each run
    (``cli.run_hydra``); a no-op without the plugin (``pip install 'fpexp[parallel]'``)."""
    from hydra.core.plugins import Plugins

    Plugins.instance()  # its plugin scan stores the joblib plugin's entry: ours replaces it
    _store_made_once(_store_isolating_joblib)


def _store_schema(cs: ConfigStore) -> None:
    cs.store(name=SCHEMA_NAME, node=FpexpConfig)
    for name, source in SOURCES.items():
        cs.store(group="schema/data", name=name, node=source.schema)


def _store_isolating_joblib(cs: ConfigStore) -> None:
    from dataclasses import dataclass

    try:
        from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf
    except ImportError:
        return

    @dataclass
    class IsolatingJoblibConf(JobLibLauncherConf):
        _target_: str = "hydra_plugins.fpexp_launcher.joblib_launcher.IsolatingJoblibLauncher"

    cs.store(group="hydra/launcher", name="joblib", node=IsolatingJoblibConf, provider="fpexp")


def _store_made_once(store: Callable[[ConfigStore], None]) -> None:
    """Put the nodes ``store`` stores into the ConfigStore: the very node objects of the
    first call in this process. The Python API gives every call the store it found (without
    fpexp's nodes), so each call stores them again; the same objects (never changed: Hydra
    loads deep copies) let Hydra's composition memo (``hydra_memo``, which checks a node by
    identity) serve the next call, and spare building them again."""
    _merged(ConfigStore.instance().repo, _made(store))


_MAKING = threading.Lock()


@functools.cache
def _made(store: Callable[[ConfigStore], None]) -> dict[str, Any]:
    """The groups and nodes ``store`` stores, stored once into an empty ConfigStore tree."""
    cs = ConfigStore.instance()
    with _MAKING:
        found, cs.repo = cs.repo, {}
        try:
            store(cs)
            return cs.repo
        finally:
            cs.repo = found


def _merged(into: dict[str, Any], made: dict[str, Any]) -> None:
    for key, value in made.items():
        if isinstance(value, dict):
            _merged(into.setdefault(key, {}), value)
        else:
            into[key] = value
