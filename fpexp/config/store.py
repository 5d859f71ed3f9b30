"""Registers fpexp's schema and resolvers with Hydra, and locates the YAML config tree."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from fpexp.config.schema import FpexpConfig
from fpexp.data.sources import SOURCES

CONFIG_NAME = "config"
_registered = False


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


def register() -> None:
    """Idempotently store the schema nodes and the ``fpexp.stamp`` resolver."""
    global _registered
    if _registered:
        return
    cs = ConfigStore.instance()
    cs.store(name="fpexp_schema", node=FpexpConfig)
    for name, source in SOURCES.items():
        cs.store(group="schema/data", name=name, node=source.schema)
    # Cached per composed config (like Hydra's own ``now``), and Hydra copies the cache into
    # every sweep job, so a run or a whole sweep gets one stamp.
    OmegaConf.register_new_resolver("fpexp.stamp", run_stamp, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("fpexp.help_groups", _help_groups, replace=True)
    OmegaConf.register_new_resolver("fpexp.help_commands", _help_commands, replace=True)
    _registered = True


def register_launcher() -> None:
    """Make ``hydra/launcher=joblib`` fpexp's isolating joblib launcher (``fpexp/launcher.py``):
    the joblib plugin's own settings and defaults, another ``_target_``. Called before each run
    (``cli.run_hydra``); a no-op without the plugin (``pip install 'fpexp[parallel]'``)."""
    from dataclasses import dataclass

    from hydra.core.plugins import Plugins

    try:
        from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf
    except ImportError:
        return
    Plugins.instance()  # its plugin scan stores the joblib plugin's entry: ours replaces it

    @dataclass
    class IsolatingJoblibConf(JobLibLauncherConf):
        _target_: str = "hydra_plugins.fpexp_launcher.joblib_launcher.IsolatingJoblibLauncher"

    ConfigStore.instance().store(
        group="hydra/launcher", name="joblib", node=IsolatingJoblibConf, provider="fpexp"
    )
