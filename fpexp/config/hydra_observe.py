"""What a composition asked of Hydra's config sources, and whether every answer still holds.

While a composition records (``recording``), every question a config source answers is kept
with its answer: a file's exact bytes, whether a path is a group or a config, a group's options,
whether a source is available, which ConfigStore node a name holds (the object itself), or the
error raised. ``still_true`` asks each question again: the same answers mean Hydra would compose
the same (it reads nothing else of the sources). YAML parses are kept by exact bytes here too.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import os
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

from omegaconf import OmegaConf

from fpexp.config.speedup_state import Observation, Recorder, State

NEVER = ("never",)  # the answer to a question that cannot be asked again: never the same
OBSERVED = ("FileConfigSource", "ImportlibResourcesConfigSource", "StructuredConfigSource")
MARK = "__fpexp_speedup__"  # on every wrapper hydra_speedups puts on
_RECORDING = ("load_config", "is_group", "is_config", "list", "available")
_CORE = "hydra._internal.core_plugins."
_PLAIN = (bytes, str, bool, int, tuple, type(None))

# YAML parses by (config source, file, exact bytes): what a parse returns depends on nothing
# else, so every installation in the process shares them (a notebook's next call, a test
# suite's next run) and a file whose bytes changed is parsed afresh. Bounded: cleared when full.
PARSED: dict[tuple[Any, ...], tuple[Any, bool]] = {}
PARSED_LIMIT = 1024


@contextlib.contextmanager
def recording(recorder: Recorder) -> Iterator[list[Observation]]:
    """Keep this thread's observations for the block (an enclosing recording gets them too)."""
    outer = recorder.seen
    seen: list[Observation] = []
    recorder.seen = seen
    try:
        yield seen
    finally:
        recorder.seen = outer
        if outer is not None:
            outer.extend(seen)


def asked(ask: Callable[[], Any]) -> tuple[Any, ...]:
    """The answer to a question now: ("ok", value) or ("error", type, message)."""
    try:
        value = ask()
    except Exception as err:
        return ("error", type(err), str(err))
    return ("ok", tuple(value) if isinstance(value, list) else value)


def _never() -> None:
    return None


UNCHECKABLE = (_never, NEVER)  # an observation that no later answer matches


def observed_sources(sources: Any) -> bool:
    """Whether every config source is one whose answers are being recorded: Hydra's file,
    package and ConfigStore sources with the recording methods on (a ConfigSource plugin's
    are not; nor a class Hydra's plugin scan made anew after they were put on)."""
    return all(
        type(s).__qualname__ in OBSERVED
        and type(s).__module__.startswith(_CORE)
        and all(getattr(getattr(type(s), m, None), MARK, False) for m in _RECORDING)
        for s in sources
    )


def still_true(seen: tuple[Observation, ...] | list[Observation]) -> bool:
    """Whether every question gets the answer it got (a ConfigStore node: the same object)."""
    for ask, before in seen:
        if before is NEVER:
            return False
        now = asked(ask)
        if now[0] != before[0]:
            return False
        if now[0] == "error" or isinstance(before[1], _PLAIN):
            if type(now[1]) is not type(before[1]) or now != before:
                return False
        elif now[1] is not before[1]:
            return False
    return True


def observed(state: State, method: Callable[..., Any]) -> Callable[..., Any]:
    """A config source's query method (is_group, is_config, list, available), recorded."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen = state.recorder.seen
        if seen is None:
            return method(self, *args, **kwargs)
        ask = functools.partial(method, self, *args, **kwargs)
        try:
            result = method(self, *args, **kwargs)
        except Exception as err:
            seen.append((ask, ("error", type(err), str(err))))
            raise
        seen.append((ask, ("ok", tuple(result) if isinstance(result, list) else result)))
        return result

    return wrapper


def observed_store_load(state: State, load: Callable[..., Any]) -> Callable[..., Any]:
    """The ConfigStore source's ``load_config``, recorded as the node the store holds."""

    @functools.wraps(load)
    def load_config(self: Any, config_path: str) -> Any:
        seen = state.recorder.seen
        if seen is not None:
            ask = functools.partial(self.store._load, self._normalize_file_name(config_path))
            answer = asked(ask)
            node = getattr(answer[1], "node", None) if answer[0] == "ok" else None
            interpolates = node is not None and _interpolates_defaults(
                OmegaConf.to_container(node, resolve=False)
            )
            seen.append((ask, NEVER if interpolates else answer))
        return load(self, config_path)

    return load_config


def parsed_once(state: State, load: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """A YAML source's ``load_config``: parsed once per exact bytes, recorded as those bytes."""

    @functools.wraps(load)
    def load_config(self: Any, config_path: str) -> Any:
        seen = state.recorder.seen
        try:
            read = _reader(self, config_path)
            content = read()
        except Exception:
            if seen is not None:
                seen.append(UNCHECKABLE)  # cannot be checked later: compose afresh
            return load(self, config_path)  # Hydra's own error (missing file, ...)
        key = (type(self), self.provider, self.path, config_path, content)
        hit = PARSED.get(key)
        if hit is None:
            result = load(self, config_path)  # Hydra reads the file again: the same bytes?
            if _changed(read, content):  # edited meanwhile: what Hydra parsed is unknown
                if seen is not None:
                    seen.append(UNCHECKABLE)
                return result
            if len(PARSED) >= PARSED_LIMIT:
                PARSED.clear()
            interpolates = _interpolates_defaults(OmegaConf.to_container(result.config))
            hit = PARSED[key] = (result, interpolates)
        result, interpolates = hit
        if seen is not None:
            seen.append((read, NEVER if interpolates else ("ok", content)))
        # Hydra changes the config it is handed, so the kept parse is never handed out: a deep
        # copy is (the same nodes, flags and metadata; ~0.7 ms for fpexp's config.yaml, against
        # ~4 ms to re-create it from a container).
        return dataclasses.replace(
            result, config=copy.deepcopy(result.config), header=dict(result.header)
        )

    return load_config


def _changed(read: Callable[[], bytes], content: bytes) -> bool:
    try:
        return read() != content
    except Exception:
        return True


def _interpolates_defaults(container: Any) -> bool:
    """Whether a config's defaults list or ``hydra.searchpath`` holds an interpolation: Hydra
    resolves them while composing, with any resolver (``${oc.env:...}``), so the composition
    cannot be checked later by asking the sources again."""
    if not isinstance(container, dict):
        return False
    hydra = container.get("hydra")
    searchpath = hydra.get("searchpath") if isinstance(hydra, dict) else None
    return any("${" in repr(part) for part in (container.get("defaults"), searchpath) if part)


def _reader(source: Any, config_path: str) -> Callable[[], bytes]:
    """Reads the bytes Hydra's ``load_config`` of ``source`` parses for ``config_path`` (a
    relative search path is relative to the working directory at each read, as in Hydra)."""
    name = source._normalize_file_name(config_path)
    if source.scheme() == "file":
        return functools.partial(_read_file, source.path, name)
    return resources.files(source.path).joinpath(name).read_bytes


def _read_file(directory: str, name: str) -> bytes:
    with open(os.path.realpath(os.path.join(directory, name)), "rb") as f:
        return f.read()
