"""Speed-ups of Hydra's composition for fpexp's own run: exactly Hydra's configs, less work.

Composition is most of a small sweep's time, and Hydra 1.3 does it twice per job
(``Sweeper.validate_batch_is_legal`` composes every job's config and discards it, then the
launcher composes it again), twice per single run (``Hydra.get_mode`` composes only to read
``hydra.mode``), and re-parses every YAML file each time. Inside ``installed()``:

* the configs a sweep validates for Hydra's basic launcher are queued, one per job and in order
  (duplicate overrides get one each), and the launcher's call for that job takes its own from the
  queue: each object goes to exactly one job, and only if every file it was composed from still
  has the same content, else the job is composed afresh; resolver caches are copied from the
  master config at hand-over, as Hydra does at launch;
* ``get_mode`` composes what ``Hydra.run``/``multirun`` will ask for next and hands it over once;
  where both compositions fail (bad overrides), Hydra's own ``get_mode`` would fail the same way
  and ``Hydra.run`` would again: it says None and hands the failure over once (where a sweep
  over hydra's settings makes the two differ, Hydra's own ``get_mode`` runs);
* YAML config files are parsed once per content: each load reads the file and reuses the parse
  of identical bytes, building a fresh node, which is what ``OmegaConf.load`` returns (the
  parses are kept for the process: keyed by the exact bytes, a changed file is parsed again);
* the repository copy Hydra makes for every composition shares the ConfigStore instead of
  deep-copying it (nothing changes the store while composing; its ``load`` returns copies).

The wrappers are in ``hydra_patches``. They go on Hydra's private classes, so only on the exact
Hydra versions tested (``TESTED_HYDRA``) and only where every patched method still has the tested
signature; anything else runs plain Hydra. They are removed when the block exits, however.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager

from fpexp.config.hydra_patches import WRAPPERS, State

TESTED_HYDRA = frozenset({"1.3.8"})
_MARK = "__fpexp_speedup__"
_HYDRA = "hydra._internal."
# (module, class, method) -> the parameters of Hydra's method, as tested
_SIGNATURES = {
    (f"{_HYDRA}core_plugins.file_config_source", "FileConfigSource", "load_config"): (
        "self config_path"
    ),
    (
        f"{_HYDRA}core_plugins.importlib_resources_config_source",
        "ImportlibResourcesConfigSource",
        "load_config",
    ): "self config_path",
    (f"{_HYDRA}config_loader_impl", "ConfigLoaderImpl", "load_sweep_config"): (
        "self master_config sweep_overrides"
    ),
    (f"{_HYDRA}config_loader_impl", "ConfigLoaderImpl", "load_configuration"): (
        "self config_name overrides run_mode from_shell validate_sweep_overrides"
    ),
    (f"{_HYDRA}hydra", "Hydra", "get_mode"): "self config_name overrides",
    (f"{_HYDRA}config_repository", "CachingConfigRepository", "__init__"): "self delegate",
    ("hydra.plugins.sweeper", "Sweeper", "validate_batch_is_legal"): "self batch",
    ("hydra.plugins.config_source", "ConfigSource", "_normalize_file_name"): "filename",
}


def _targets() -> dict[tuple[str, str, str], type] | None:
    """The classes to patch, or None where this Hydra is not exactly the one tested."""
    import importlib

    import hydra

    if hydra.__version__ not in TESTED_HYDRA:
        return None
    try:
        from hydra.core.plugins import Plugins

        Plugins.instance()  # its plugin scan re-executes Hydra's core modules: patch what it keeps
        found = {}
        for (module, cls_name, method), params in _SIGNATURES.items():
            cls = getattr(importlib.import_module(module), cls_name)
            fn = cls.__dict__.get(method)  # defined there, not inherited: restored there
            fn = fn.__func__ if isinstance(fn, staticmethod) else fn
            if not callable(fn) or " ".join(inspect.signature(fn).parameters) != params:
                return None
            found[(module, cls_name, method)] = cls
        launchers = importlib.import_module("hydra._internal.core_plugins.basic_launcher")
        return found if isinstance(getattr(launchers, "BasicLauncher", None), type) else None
    except (ImportError, AttributeError, TypeError, ValueError):
        return None


def active() -> bool:
    """Whether the speed-ups are installed now (inside some ``installed()`` block)."""
    targets = _targets()
    if targets is None:
        return False
    return any(hasattr(getattr(c, m[2]), _MARK) for m, c in targets.items() if m[2] in WRAPPERS)


@contextmanager
def installed() -> Iterator[bool]:
    """Hydra's composition speed-ups for the block; yields whether they are in effect.

    Plain Hydra where this Hydra is not the tested one. Reentrant: a block inside another
    changes nothing, and the outer one removes the patches when it exits.
    """
    targets = _targets()
    if targets is None or active():
        yield targets is not None
        return
    state = State()
    saved = []
    try:
        for (_, _, method), cls in targets.items():
            if method not in WRAPPERS:
                continue
            original = cls.__dict__[method]
            saved.append((cls, method, original))
            wrapper = WRAPPERS[method](state, original)
            setattr(wrapper, _MARK, True)
            setattr(cls, method, wrapper)
        yield True
    finally:
        for cls, method, original in reversed(saved):
            setattr(cls, method, original)
