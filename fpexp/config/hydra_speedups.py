"""Caches that cut Hydra's composition work (hydra-core 1.3 only).

Composition is most of a small sweep's time (~70%), and Hydra does it twice per job:
``BasicSweeper.validate_batch_is_legal`` composes every job's config, discards it, then the
launcher composes it again. A single run is composed twice too: ``Hydra.get_mode`` composes the
config only to read ``hydra.mode``, then ``Hydra.run`` composes it again. And every composition
re-reads and re-parses each YAML file with pure-Python PyYAML. So:

* ``load_sweep_config`` keeps the config it composed while validating and hands that very
  object to the launcher's call for the same job (then forgets it): one composition per job;
* ``get_mode`` composes what ``Hydra.run`` will ask for next (run mode, same overrides) and
  hands it over once; where that composition fails (a sweep without ``-m``, a config error),
  Hydra's own ``get_mode`` runs as before;
* config sources parse each YAML file once per process and build a fresh OmegaConf node from
  the parsed container on every load, which is exactly what ``OmegaConf.load`` returns.

Both are wrappers around Hydra's methods, installed once by ``install()``; composed configs are
unchanged (tested in ``tests/test_speedups.py``).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from omegaconf import OmegaConf

_installed = False


def _memoized_load(load: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    cache: dict[tuple[Any, ...], tuple[Any, Any]] = {}

    @functools.wraps(load)
    def load_config(self: Any, config_path: str) -> Any:
        key = (type(self), self.provider, self.path, config_path)
        hit = cache.get(key)
        if hit is None:
            result = load(self, config_path)
            hit = cache[key] = (result, OmegaConf.to_container(result.config, resolve=False))
        result, container = hit
        return dataclasses.replace(
            result, config=OmegaConf.create(container), header=copy.copy(result.header)
        )

    return load_config


def _reused_sweep_config(load: Callable[..., Any]) -> Callable[..., Any]:
    pending: dict[tuple[int, tuple[str, ...]], tuple[Any, Any]] = {}

    @functools.wraps(load)
    def load_sweep_config(self: Any, master_config: Any, sweep_overrides: list[str]) -> Any:
        key = (id(master_config), tuple(sweep_overrides))
        hit = pending.pop(key, None)
        if hit is not None and hit[0] is master_config:
            return hit[1]  # validated a moment ago and discarded by the sweeper
        config = load(self, master_config, sweep_overrides)
        pending[key] = (master_config, config)
        return config

    return load_sweep_config


_ahead: dict[tuple[int, Any, tuple[str, ...]], Any] = {}


def _mode_from_run_config(get_mode: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(get_mode)
    def wrapped(self: Any, config_name: Any, overrides: list[str]) -> Any:
        from hydra.types import RunMode

        _ahead.clear()
        try:
            cfg = self.config_loader.load_configuration(
                config_name=config_name, overrides=list(overrides), run_mode=RunMode.RUN
            )
        except Exception:
            return get_mode(self, config_name, overrides)
        mode, key = cfg.hydra.mode, tuple(overrides)
        if mode is None:  # Hydra's _run_app then runs with hydra.mode=RUN appended: apply it
            cfg.hydra.mode = RunMode.RUN
            cfg.hydra.overrides.hydra.append("hydra.mode=RUN")
            key = (*key, "hydra.mode=RUN")
        _ahead[(id(self.config_loader), config_name, key)] = cfg
        return mode

    return wrapped


def _composed_ahead(load: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(load)
    def load_configuration(
        self: Any,
        config_name: Any,
        overrides: list[str],
        run_mode: Any,
        from_shell: bool = True,
        validate_sweep_overrides: bool = True,
    ) -> Any:
        from hydra.types import RunMode

        if run_mode == RunMode.RUN and from_shell and validate_sweep_overrides:
            cfg = _ahead.pop((id(self), config_name, tuple(overrides)), None)
            if cfg is not None:
                return cfg
        return load(self, config_name, overrides, run_mode, from_shell, validate_sweep_overrides)

    return load_configuration


def install() -> None:
    """Wrap Hydra's config loading (idempotent; a no-op on other Hydra versions)."""
    global _installed
    if _installed:
        return
    _installed = True
    import hydra

    if not hydra.__version__.startswith("1.3."):
        return
    from hydra.core.plugins import Plugins

    Plugins.instance()  # its plugin scan re-executes Hydra's core modules: patch what it keeps
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.core_plugins.file_config_source import FileConfigSource
    from hydra._internal.core_plugins.importlib_resources_config_source import (
        ImportlibResourcesConfigSource,
    )
    from hydra._internal.hydra import Hydra

    for source in (FileConfigSource, ImportlibResourcesConfigSource):
        source.load_config = _memoized_load(source.load_config)  # type: ignore[method-assign]
    ConfigLoaderImpl.load_sweep_config = _reused_sweep_config(  # type: ignore[method-assign]
        ConfigLoaderImpl.load_sweep_config
    )
    ConfigLoaderImpl.load_configuration = _composed_ahead(  # type: ignore[method-assign]
        ConfigLoaderImpl.load_configuration
    )
    Hydra.get_mode = _mode_from_run_config(Hydra.get_mode)  # type: ignore[method-assign]
