"""Speed-ups of Hydra's composition for fpexp's own run: exactly Hydra's configs, less work.

Composition is most of a small run's and a sweep's time: Hydra 1.3 composes every job twice
(``Sweeper.validate_batch_is_legal`` composes and discards it, then the launcher composes it
again), every single run twice (``Hydra.get_mode`` composes only to read ``hydra.mode``), and
re-parses every YAML file and rebuilds the same defaults list and merge each time. Inside
``installed()``:

* every composition records what it asked of the config sources (``hydra_observe``);
* the defaults list and merged config of a composition are kept for the process and reused by
  a later composition with the same group choices, search path and version base while every one
  of those questions still gets the same answer; value overrides are applied afresh
  (``hydra_memo``);
* the configs a sweep validates for Hydra's basic launcher are queued, one per job and in order
  (duplicate overrides get one each), and the launcher's call for that job takes its own from the
  queue: each object goes to exactly one job, and only if every answer it was composed from still
  holds, else the job is composed afresh; resolver caches are copied from the master config at
  hand-over, as Hydra does at launch;
* ``get_mode`` composes what ``Hydra.run``/``multirun`` will ask for next and hands it over once;
  where both compositions fail (bad overrides), Hydra's own ``get_mode`` would fail the same way
  and ``Hydra.run`` would again: it says None and hands the failure over once (where a sweep
  over hydra's settings makes the two differ, Hydra's own ``get_mode`` runs);
* YAML config files are parsed once per content: each load reads the file and reuses the parse
  of identical bytes, handing out a deep copy of what ``OmegaConf.load`` returned for them;
* the repository copy Hydra makes for every composition shares the ConfigStore instead of
  deep-copying it (nothing changes the store while composing; its ``load`` returns copies);
* OmegaConf's deep copies (five of a job's whole config in Hydra's ``run_job`` and the
  composition) build the same objects directly instead of through throw-away nodes and
  ``copy``'s generic path (``omegaconf_copies``; on the tested OmegaConf only);
* ``run_job``'s ``.hydra/*.yaml`` are written from a memo of each top-level item's YAML text
  (``yaml_memo``): the same bytes, without re-emitting the help texts, logging and launcher
  settings every run.

The wrappers are in ``hydra_patches``. They go on Hydra's private classes, so only on the exact
Hydra versions tested (``TESTED_HYDRA``) and only where every patched method still has the tested
signature; anything else runs plain Hydra. They are removed when the block exits, however.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fpexp.config import omegaconf_copies
from fpexp.config.hydra_observe import MARK
from fpexp.config.hydra_patches import WRAPPERS
from fpexp.config.speedup_state import State

TESTED_HYDRA = frozenset({"1.3.8"})
_MARK = MARK
_HYDRA = "hydra._internal."
_LOADER = f"{_HYDRA}config_loader_impl"
_SOURCE_MODULES = {
    "FileConfigSource": f"{_HYDRA}core_plugins.file_config_source",
    "ImportlibResourcesConfigSource": f"{_HYDRA}core_plugins.importlib_resources_config_source",
    "StructuredConfigSource": f"{_HYDRA}core_plugins.structured_config_source",
}
_QUERIES = {
    "load_config": "self config_path",
    "is_group": "self config_path",
    "is_config": "self config_path",
    "list": "self config_path results_filter",
    "available": "self",
}
# (module, class or "" for the module itself, name) -> the parameters of Hydra's code, as tested
_SIGNATURES = {
    **{
        (module, cls, query): params
        for cls, module in _SOURCE_MODULES.items()
        for query, params in _QUERIES.items()
    },
    (_LOADER, "ConfigLoaderImpl", "load_sweep_config"): "self master_config sweep_overrides",
    (_LOADER, "ConfigLoaderImpl", "load_configuration"): (
        "self config_name overrides run_mode from_shell validate_sweep_overrides"
    ),
    (_LOADER, "ConfigLoaderImpl", "_compose_config_from_defaults_list"): "self defaults repo",
    (_LOADER, "", "create_defaults_list"): (
        "repo config_name overrides_list prepend_hydra skip_missing"
    ),
    (f"{_HYDRA}hydra", "Hydra", "get_mode"): "self config_name overrides",
    (f"{_HYDRA}config_repository", "CachingConfigRepository", "__init__"): "self delegate",
    ("hydra.plugins.sweeper", "Sweeper", "validate_batch_is_legal"): "self batch",
    ("hydra.plugins.config_source", "ConfigSource", "_normalize_file_name"): "filename",
    ("hydra.core.config_store", "ConfigStore", "_load"): "self config_path",
    (f"{_HYDRA}defaults_list", "Overrides", "__init__"): "self repo overrides_list",
    ("hydra.core.utils", "", "_save_config"): "cfg filename output_dir",
}


def _targets() -> dict[tuple[str, str, str], Any] | None:
    """The classes (or modules) to patch, or None where this Hydra is not the one tested."""
    import importlib

    import hydra

    if hydra.__version__ not in TESTED_HYDRA:
        return None
    try:
        from hydra.core.plugins import Plugins

        Plugins.instance()  # its plugin scan re-executes Hydra's core modules: patch what it keeps
        found = {}
        for (module, owner_name, name), params in _SIGNATURES.items():
            owner = _source_in_use(owner_name) or importlib.import_module(module)
            owner = getattr(owner, owner_name, owner) if owner_name else owner
            fn = owner.__dict__.get(name)  # defined there, not inherited: restored there
            fn = fn.__func__ if isinstance(fn, staticmethod) else fn
            if not callable(fn) or " ".join(inspect.signature(fn).parameters) != params:
                return None
            found[(module, owner_name, name)] = owner
        launchers = importlib.import_module("hydra._internal.core_plugins.basic_launcher")
        return found if isinstance(getattr(launchers, "BasicLauncher", None), type) else None
    except (ImportError, AttributeError, TypeError, ValueError):
        return None


_SCHEMES = {"FileConfigSource": "file", "ImportlibResourcesConfigSource": "pkg"}
_SCHEMES["StructuredConfigSource"] = "structured"


def _source_in_use(name: str) -> Any:
    """The config source class compositions use for ``name`` (Hydra's SourcesRegistry): after a
    ``Singleton.set_state`` (Hydra's pytest fixture) it may not be the module's current class."""
    if name not in _SCHEMES:
        return None
    from hydra._internal.sources_registry import SourcesRegistry

    cls = SourcesRegistry.instance().types.get(_SCHEMES[name])
    return cls if isinstance(cls, type) and cls.__name__ == name else None


def _wrapper_key(target: tuple[str, str, str]) -> tuple[str, str]:
    module, owner_name, name = target
    return (owner_name or module.rsplit(".", 1)[-1], name)


def active() -> bool:
    """Whether the speed-ups are installed now (inside some ``installed()`` block)."""
    targets = _targets()
    if targets is None:
        return False
    return any(
        hasattr(getattr(owner, t[2]), _MARK)
        for t, owner in targets.items()
        if _wrapper_key(t) in WRAPPERS
    )


class _Installation:
    """The one installation of the process: made by the first block to enter (any thread),
    removed when the last one leaves; entering and leaving are atomic."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.saved: list[tuple[Any, str, Any]] = []
        self.copies: list[tuple[type, Any]] = []  # omegaconf_copies.install's


_INSTALLATION = _Installation()


@contextmanager
def installed() -> Iterator[bool]:
    """Hydra's composition speed-ups for the block; yields whether they are in effect.

    Plain Hydra where this Hydra is not the tested one. Reentrant and thread-safe: the first
    block to enter installs them, the last to leave removes them, however it ends.
    """
    targets = _targets()
    if targets is None:
        yield False
        return
    with _INSTALLATION.lock:
        if _INSTALLATION.users == 0:
            _INSTALLATION.saved = _install(targets)
            _INSTALLATION.copies = omegaconf_copies.install()
        _INSTALLATION.users += 1
    try:
        yield True
    finally:
        with _INSTALLATION.lock:
            _INSTALLATION.users -= 1
            if _INSTALLATION.users == 0:
                for owner, name, original in reversed(_INSTALLATION.saved):
                    setattr(owner, name, original)
                _INSTALLATION.saved = []
                omegaconf_copies.restore(_INSTALLATION.copies)
                _INSTALLATION.copies = []


def _install(targets: dict[tuple[str, str, str], Any]) -> list[tuple[Any, str, Any]]:
    state, saved = State(), []
    for target, owner in targets.items():
        make = WRAPPERS.get(_wrapper_key(target))
        if make is None:
            continue
        name = target[2]
        original = owner.__dict__[name]
        saved.append((owner, name, original))
        wrapper = make(state, original)
        setattr(wrapper, _MARK, True)
        setattr(owner, name, wrapper)
    return saved
