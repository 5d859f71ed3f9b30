"""The wrappers that ``hydra_speedups.installed()`` puts on Hydra's methods (see there).

``WRAPPERS`` maps (class or module, name) to ``make(state, original)``, which returns the
wrapper; ``state`` holds one installation's caches.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Callable
from typing import Any

from omegaconf import OmegaConf

from fpexp.config.hydra_memo import memo_composed, memo_defaults
from fpexp.config.hydra_observe import (
    asked,
    observed,
    observed_store_load,
    parsed_once,
    recording,
    still_true,
)
from fpexp.config.speedup_state import State
from fpexp.config.warning_watch import watching
from fpexp.config.yaml_memo import saved_with_memo


def _validating(state: State, validate: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(validate)
    def validate_batch_is_legal(self: Any, batch: Any) -> Any:
        from hydra._internal.core_plugins.basic_launcher import BasicLauncher

        state.validated.clear()  # the previous batch's launch is over
        if type(getattr(self, "launcher", None)) is not BasicLauncher:
            return validate(self, batch)  # a launcher that may compose elsewhere: keep nothing
        state.turn.validating = True
        try:
            return validate(self, batch)
        finally:
            state.turn.validating = False

    return validate_batch_is_legal


def _queued_sweep_config(state: State, load: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(load)
    def load_sweep_config(self: Any, master_config: Any, sweep_overrides: list[str]) -> Any:
        key = (id(master_config), tuple(sweep_overrides))
        if state.turn.validating:
            with recording(state.recorder) as seen, watching() as warned:
                config = load(self, master_config, sweep_overrides)
            if not warned[0]:  # else the launch composes (and warns) again, as in plain Hydra
                seen.extend(_job_settings_read(config))
                state.validated.setdefault(key, []).append((master_config, config, seen))
            return config  # Hydra discards it: the queued object is not shared
        queue = state.validated.get(key)
        if queue:
            master, config, seen = queue.pop(0)
            if master is master_config and still_true(seen):
                OmegaConf.copy_cache(from_config=master_config, to_config=config)
                return config
        return load(self, master_config, sweep_overrides)

    return load_sweep_config


def _job_settings_read(config: Any) -> list[Any]:
    """What Hydra read besides the config sources to finish a job's config: the working
    directory, the job's name and each ``hydra.job.env_copy`` variable (a job run before this
    one may have changed them)."""
    from hydra.core.utils import JobRuntime

    asks: list[Callable[[], Any]] = [
        os.getcwd,
        functools.partial(JobRuntime.instance().get, "name"),
    ]
    asks += [functools.partial(os.environ.__getitem__, k) for k in config.hydra.job.env_copy]
    return [(ask, asked(ask)) for ask in asks]


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
                with watching() as warned:
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
            if mode in (None, run_mode) and not warned[0]:  # one that warned: Hydra composes again
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
        with recording(state.recorder):
            return load(
                self, config_name, overrides, run_mode, from_shell, validate_sweep_overrides
            )

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


_SOURCES = ("FileConfigSource", "ImportlibResourcesConfigSource", "StructuredConfigSource")
_QUERIES = ("is_group", "is_config", "list", "available")

WRAPPERS: dict[tuple[str, str], Callable[[State, Callable[..., Any]], Callable[..., Any]]] = {
    ("FileConfigSource", "load_config"): parsed_once,
    ("ImportlibResourcesConfigSource", "load_config"): parsed_once,
    ("StructuredConfigSource", "load_config"): observed_store_load,
    **{(source, query): observed for source in _SOURCES for query in _QUERIES},
    ("Sweeper", "validate_batch_is_legal"): _validating,
    ("ConfigLoaderImpl", "load_sweep_config"): _queued_sweep_config,
    ("Hydra", "get_mode"): _mode_composed_ahead,
    ("ConfigLoaderImpl", "load_configuration"): _composed_ahead,
    ("CachingConfigRepository", "__init__"): _store_shared,
    ("config_loader_impl", "create_defaults_list"): memo_defaults,
    ("ConfigLoaderImpl", "_compose_config_from_defaults_list"): memo_composed,
    ("utils", "_save_config"): saved_with_memo,
}
