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
* ``get_mode`` composes what ``Hydra.run``/``multirun`` will ask for next and hands it over once
  (where that fails, Hydra's own ``get_mode`` runs);
* YAML config files are parsed once per content: each load reads the file and reuses the parse
  of identical bytes, building a fresh node, which is what ``OmegaConf.load`` returns.

The patches are on Hydra's private classes, so they apply only to the exact Hydra versions
tested (``TESTED_HYDRA``) and only where every patched method still has the tested signature;
anything else runs plain Hydra. They are removed when the block exits, however it exits.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from omegaconf import OmegaConf

TESTED_HYDRA = frozenset({"1.3.8"})
_MARK = "__fpexp_speedup__"
# (module, class, method) -> the tested parameters of Hydra's method
_SIGNATURES = {
    ("hydra._internal.core_plugins.file_config_source", "FileConfigSource", "load_config"): (
        "self",
        "config_path",
    ),
    (
        "hydra._internal.core_plugins.importlib_resources_config_source",
        "ImportlibResourcesConfigSource",
        "load_config",
    ): ("self", "config_path"),
    ("hydra._internal.config_loader_impl", "ConfigLoaderImpl", "load_sweep_config"): (
        "self",
        "master_config",
        "sweep_overrides",
    ),
    ("hydra._internal.config_loader_impl", "ConfigLoaderImpl", "load_configuration"): (
        "self",
        "config_name",
        "overrides",
        "run_mode",
        "from_shell",
        "validate_sweep_overrides",
    ),
    ("hydra._internal.hydra", "Hydra", "get_mode"): ("self", "config_name", "overrides"),
    ("hydra._internal.config_repository", "CachingConfigRepository", "__init__"): (
        "self",
        "delegate",
    ),
    ("hydra.plugins.sweeper", "Sweeper", "validate_batch_is_legal"): ("self", "batch"),
    ("hydra.plugins.config_source", "ConfigSource", "_normalize_file_name"): ("filename",),
}


@dataclasses.dataclass
class _State:
    """One installation's caches; gone with it."""

    parsed: dict[tuple[Any, ...], tuple[Any, Any]] = dataclasses.field(default_factory=dict)
    validated: dict[tuple[int, tuple[str, ...]], list[tuple[Any, Any, list]]] = dataclasses.field(
        default_factory=dict
    )
    ahead: dict[tuple[Any, ...], Any] = dataclasses.field(default_factory=dict)
    reads: list | None = None  # (reader, content) of each file loaded, while recording
    validating: bool = False


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
            if not callable(fn) or tuple(inspect.signature(fn).parameters) != params:
                return None
            found[(module, cls_name, method)] = cls
        launchers = importlib.import_module("hydra._internal.core_plugins.basic_launcher")
        return found if isinstance(getattr(launchers, "BasicLauncher", None), type) else None
    except (ImportError, AttributeError, TypeError, ValueError):
        return None


def _reader(source: Any, config_path: str) -> Callable[[], bytes]:
    """Reads the bytes Hydra's ``load_config`` of ``source`` parses for ``config_path``."""
    name = source._normalize_file_name(config_path)
    if source.scheme() == "file":
        full_path = os.path.realpath(os.path.join(source.path, name))
        return functools.partial(_read_file, full_path)
    return resources.files(source.path).joinpath(name).read_bytes


def _read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _parsed_once(state: _State, load: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    @functools.wraps(load)
    def load_config(self: Any, config_path: str) -> Any:
        try:
            read = _reader(self, config_path)
            content = read()
        except Exception:
            if state.reads is not None:
                state.reads.append((_unreadable, b""))  # cannot check it later: recompose
            return load(self, config_path)  # Hydra's own error (missing file, ...)
        key = (type(self), self.provider, self.path, config_path, content)
        hit = state.parsed.get(key)
        if hit is None:
            result = load(self, config_path)
            hit = state.parsed[key] = (result, OmegaConf.to_container(result.config))
        if state.reads is not None:
            state.reads.append((read, content))
        result, container = hit
        return dataclasses.replace(
            result, config=OmegaConf.create(container), header=dict(result.header)
        )

    return load_config


def _unreadable() -> None:
    return None


def _unchanged(reads: list) -> bool:
    try:
        return all(read() == content for read, content in reads)
    except Exception:
        return False


def _validating(state: _State, validate: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(validate)
    def validate_batch_is_legal(self: Any, batch: Any) -> Any:
        from hydra._internal.core_plugins.basic_launcher import BasicLauncher

        state.validated.clear()  # the previous batch's launch is over
        if type(getattr(self, "launcher", None)) is not BasicLauncher:
            return validate(self, batch)  # a launcher that may compose elsewhere: keep nothing
        state.validating = True
        try:
            return validate(self, batch)
        finally:
            state.validating = False

    return validate_batch_is_legal


def _queued_sweep_config(state: _State, load: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(load)
    def load_sweep_config(self: Any, master_config: Any, sweep_overrides: list[str]) -> Any:
        key = (id(master_config), tuple(sweep_overrides))
        if state.validating:
            state.reads = []
            try:
                config = load(self, master_config, sweep_overrides)
                state.validated.setdefault(key, []).append((master_config, config, state.reads))
            finally:
                state.reads = None
            return config  # Hydra discards it: the queued object is not shared
        queue = state.validated.get(key)
        if queue:
            master, config, reads = queue.pop(0)
            if master is master_config and _unchanged(reads):
                OmegaConf.copy_cache(from_config=master_config, to_config=config)
                return config
        return load(self, master_config, sweep_overrides)

    return load_sweep_config


def _mode_composed_ahead(state: _State, get_mode: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(get_mode)
    def wrapped(self: Any, config_name: Any, overrides: list[str]) -> Any:
        from hydra.types import RunMode

        state.ahead.clear()
        loader = self.config_loader
        for run_mode in (RunMode.RUN, RunMode.MULTIRUN):
            try:
                cfg = loader.load_configuration(
                    config_name=config_name, overrides=list(overrides), run_mode=run_mode
                )
            except Exception:
                continue
            mode, key = cfg.hydra.mode, tuple(overrides)
            if mode is None:  # Hydra's _run_app then appends hydra.mode=<run_mode>: apply it
                cfg.hydra.mode = run_mode
                cfg.hydra.overrides.hydra.append(f"hydra.mode={run_mode.name}")
                key = (*key, f"hydra.mode={run_mode.name}")
            if mode in (None, run_mode):
                state.ahead[(id(loader), config_name, run_mode, key)] = cfg
            return mode
        return get_mode(self, config_name, overrides)

    return wrapped


def _composed_ahead(state: _State, load: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(load)
    def load_configuration(
        self: Any,
        config_name: Any,
        overrides: list[str],
        run_mode: Any,
        from_shell: bool = True,
        validate_sweep_overrides: bool = True,
    ) -> Any:
        if from_shell and validate_sweep_overrides:
            key = (id(self), config_name, run_mode, tuple(overrides))
            cfg = state.ahead.pop(key, None)
            if cfg is not None:
                return cfg
        return load(self, config_name, overrides, run_mode, from_shell, validate_sweep_overrides)

    return load_configuration


def _store_shared(state: _State, init: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(init)
    def __init__(self: Any, delegate: Any) -> None:
        # Hydra deep-copies the repository so that initialize_sources() cannot change it; that
        # copies the whole ConfigStore too (~1/3 of a small composition), which nothing changes
        # while composing and whose load() returns deep copies: the copy shares it instead.
        stores = [s.store for s in getattr(delegate, "sources", ()) if hasattr(s, "store")]
        self.delegate = copy.deepcopy(delegate, {id(store): store for store in stores})
        self.cache = {}

    return __init__


_WRAPPERS = {
    "load_config": _parsed_once,
    "validate_batch_is_legal": _validating,
    "load_sweep_config": _queued_sweep_config,
    "get_mode": _mode_composed_ahead,
    "load_configuration": _composed_ahead,
    "__init__": _store_shared,
}


def active() -> bool:
    """Whether the speed-ups are installed now (inside some ``installed()`` block)."""
    targets = _targets()
    if targets is None:
        return False
    return any(hasattr(getattr(c, m[2]), _MARK) for m, c in targets.items() if m[2] in _WRAPPERS)


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
    state = _State()
    saved = []
    try:
        for (_, _, method), cls in targets.items():
            if method not in _WRAPPERS:
                continue
            original = cls.__dict__[method]
            saved.append((cls, method, original))
            wrapper = _WRAPPERS[method](state, original)
            setattr(wrapper, _MARK, True)
            setattr(cls, method, wrapper)
        yield True
    finally:
        for cls, method, original in reversed(saved):
            setattr(cls, method, original)
