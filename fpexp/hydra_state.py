"""Hydra's and OmegaConf's process-wide state, as it was before a run.

Hydra keeps its state in singletons: ``GlobalHydra`` (the initialised Hydra and its config
loader), ``HydraConfig`` (what ``HydraConfig.get()`` returns), ``JobRuntime`` (the job name),
``VersionBase`` (``version_base`` of the last ``hydra.main``) and the ``ConfigStore``. A run
replaces or fills all of them, and ``hydra.main`` refuses to start while ``GlobalHydra`` is
initialised. ``save_hydra`` keeps them, clears ``GlobalHydra`` and hides the caller's
ConfigStore nodes for the run (so fpexp works, with its own configs, inside a running Hydra
app) and afterwards puts every one back: the app's ``HydraConfig.get()`` and config loader
are its own again, the ConfigStore holds what it held (fpexp's schema nodes and its joblib
launcher are stored by each run, ``cli.run_hydra``, into the run's copy) and OmegaConf's
resolvers are the same functions (Hydra re-registers ``now``, ``hydra``...).
Singletons first made during the call are dropped, so a later Hydra app starts fresh, except
the plugin scan (``Plugins``, ``SourcesRegistry``), done before the snapshot, once a process.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

Restore = Callable[[], None]
# What a run sees of the ConfigStore: Hydra's own nodes and its plugins' (then fpexp stores its
# own). A caller's nodes (an app's ``config``, ``task/...``) would be merged into fpexp's files
# of the same name as their schema, so they are hidden for the length of the call.
_OWN = ("hydra", "_dummy_empty_config_.yaml")


def _tree(repo: dict[str, Any]) -> dict[str, Any]:
    """The ConfigStore's nested groups copied; its nodes shared (nothing changes a node)."""
    return {k: _tree(v) if isinstance(v, dict) else v for k, v in repo.items()}


def _call_state() -> dict[type, tuple[str, bool]]:
    """The singletons a run changes -> the attribute that holds their state, and whether that
    object is changed in place (kept as a copy; the others are put back as the same object)."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import JobRuntime
    from hydra.version import VersionBase

    return {
        GlobalHydra: ("hydra", False),
        HydraConfig: ("cfg", False),
        JobRuntime: ("conf", True),
        VersionBase: ("version_base", False),
    }


def save_hydra() -> Restore:
    """Save Hydra's singletons, store and resolvers, then clear ``GlobalHydra`` for the run."""
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.plugins import Plugins
    from hydra.core.singleton import Singleton
    from omegaconf.basecontainer import BaseContainer

    Plugins.instance()  # the plugin scan stores the plugins' configs, once a process
    instances: dict[type, Any] = Singleton._instances
    kept: dict[type, tuple[Any, Any] | None] = {}
    for cls, (attr, in_place) in _call_state().items():
        if (instance := instances.get(cls)) is not None:
            value = getattr(instance, attr)
            kept[cls] = (instance, copy.deepcopy(value) if in_place else value)
        else:
            kept[cls] = None
    store = ConfigStore.instance()
    repo, resolvers = store.repo, dict(BaseContainer._resolvers)
    store.repo = _tree({k: v for k, v in repo.items() if k in _OWN})  # the run's, a copy
    GlobalHydra.instance().clear()

    def restore() -> None:
        for cls, (attr, _) in _call_state().items():
            if (saved := kept[cls]) is None:
                instances.pop(cls, None)  # made by the run: the next Hydra app makes its own
            else:
                instances[cls] = saved[0]
                setattr(saved[0], attr, saved[1])
        store.repo = repo  # the very dict, untouched: the run stored into its copy
        BaseContainer._resolvers.clear()
        BaseContainer._resolvers.update(resolvers)

    return restore
