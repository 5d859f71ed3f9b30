"""The wrappers that ``hydra_speedups.installed()`` puts on Hydra's methods (see there).

``WRAPPERS`` maps a method's name to ``make(state, original)``, which returns its wrapper;
``state`` holds one installation's caches.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
from collections.abc import Callable
from importlib import resources
from typing import Any

from omegaconf import OmegaConf

# YAML parses by (config source, file, exact bytes): what a parse returns depends on nothing
# else, so every installation in the process shares them (a notebook's next call, a test
# suite's next run) and a file whose bytes changed is parsed afresh. Bounded: cleared when full.
PARSED: dict[tuple[Any, ...], tuple[Any, Any]] = {}
PARSED_LIMIT = 1024


@dataclasses.dataclass
class State:
    """One installation's caches; gone with it (the YAML parses are the process's)."""

    parsed: dict[tuple[Any, ...], tuple[Any, Any]] = dataclasses.field(
        default_factory=lambda: PARSED
    )
    validated: dict[tuple[int, tuple[str, ...]], list[tuple[Any, Any, list]]] = dataclasses.field(
        default_factory=dict
    )
    ahead: dict[tuple[Any, ...], Any] = dataclasses.field(default_factory=dict)
    failed: dict[tuple[Any, ...], Exception] = dataclasses.field(default_factory=dict)
    reads: list | None = None  # (reader, content) of each file loaded, while recording
    validating: bool = False


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


def _parsed_once(state: State, load: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
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
            if len(state.parsed) >= PARSED_LIMIT:
                state.parsed.clear()
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


def _validating(state: State, validate: Callable[..., Any]) -> Callable[..., Any]:
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


def _queued_sweep_config(state: State, load: Callable[..., Any]) -> Callable[..., Any]:
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


def _mode_composed_ahead(state: State, get_mode: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(get_mode)
    def wrapped(self: Any, config_name: Any, overrides: list[str]) -> Any:
        from hydra.types import RunMode

        state.ahead.clear()
        state.failed.clear()
        loader = self.config_loader
        errors: dict[Any, Exception] = {}
        for run_mode in (RunMode.RUN, RunMode.MULTIRUN):
            try:
                cfg = loader.load_configuration(
                    config_name=config_name, overrides=list(overrides), run_mode=run_mode
                )
            except Exception as err:
                errors[run_mode] = err
                continue
            mode, key = cfg.hydra.mode, tuple(overrides)
            if mode is None:  # Hydra's _run_app then appends hydra.mode=<run_mode>: apply it
                cfg.hydra.mode = run_mode
                cfg.hydra.overrides.hydra.append(f"hydra.mode={run_mode.name}")
                key = (*key, f"hydra.mode={run_mode.name}")
            if mode in (None, run_mode):
                state.ahead[(id(loader), config_name, run_mode, key)] = cfg
            return mode
        if not _sweeps_hydra(overrides):
            # Hydra's get_mode composes for MULTIRUN as we did, only without validating sweeps,
            # whose one MULTIRUN check (no sweep over hydra's settings) passed: it fails too, and
            # says None. Hydra then composes for RUN with hydra.mode=RUN appended, which fails as
            # our RUN composition did (the user's overrides are applied first): hand that over.
            key = (*overrides, f"hydra.mode={RunMode.RUN.name}")
            state.failed[(id(loader), config_name, RunMode.RUN, key)] = errors[RunMode.RUN]
            return None
        return get_mode(self, config_name, overrides)

    return wrapped


def _sweeps_hydra(overrides: list[str]) -> bool:
    """Whether an override sweeps over hydra's settings (what MULTIRUN validation refuses)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except Exception:
        return False  # Hydra's get_mode fails to parse them too
    return any(o.is_sweep_override() and o.is_hydra_override() for o in parsed)


def _composed_ahead(state: State, load: Callable[..., Any]) -> Callable[..., Any]:
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
            failed = state.failed.pop(key, None)
            if failed is not None:
                raise failed
        return load(self, config_name, overrides, run_mode, from_shell, validate_sweep_overrides)

    return load_configuration


def _store_shared(state: State, init: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(init)
    def __init__(self: Any, delegate: Any) -> None:
        # Hydra deep-copies the repository so that initialize_sources() cannot change it; that
        # copies the whole ConfigStore too (~6% of a composition of fpexp's config), which
        # nothing changes while composing and whose load() returns deep copies: share it.
        stores = [s.store for s in getattr(delegate, "sources", ()) if hasattr(s, "store")]
        self.delegate = copy.deepcopy(delegate, {id(store): store for store in stores})
        self.cache = {}

    return __init__


WRAPPERS: dict[str, Callable[[State, Callable[..., Any]], Callable[..., Any]]] = {
    "load_config": _parsed_once,
    "validate_batch_is_legal": _validating,
    "load_sweep_config": _queued_sweep_config,
    "get_mode": _mode_composed_ahead,
    "load_configuration": _composed_ahead,
    "__init__": _store_shared,
}
