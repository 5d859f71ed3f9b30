"""The state one ``hydra_speedups.installed()`` block gives its wrappers (see there)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

# (ask again, the answer given): a question a composition asked of a config source
Observation = tuple[Callable[[], Any], Any]


class Recorder(threading.local):
    """One thread's observations of config sources: None while nothing on it records."""

    seen: list[Observation] | None = None


class Turn(threading.local):
    """One thread's composition between its defaults list and its merge (``hydra_memo``)."""

    pending: tuple[Any, Any] | None = None  # (key, defaults list) composed afresh
    serving: tuple[Any, Any] | None = None  # (defaults, memo entry) taken from the memo
    validating: bool = False  # a sweep's batch is being validated on this thread


@dataclasses.dataclass
class State:
    """One installation's caches and per-thread bookkeeping; gone with it.

    Pickled as a fresh, empty one: cloudpickle (joblib's workers) pickles a class by value when
    the class it finds under its module's name is another object (after Hydra's plugin scan
    re-executed the module, or ``Singleton.set_state``), wrappers and their state included; a
    worker process then starts with empty caches, as a process of its own would."""

    def __reduce__(self) -> tuple[type[State], tuple[()]]:
        return State, ()

    validated: dict[tuple[int, tuple[str, ...]], list[tuple[Any, Any, list]]] = dataclasses.field(
        default_factory=dict
    )
    ahead: dict[tuple[Any, ...], Any] = dataclasses.field(default_factory=dict)
    failed: dict[tuple[Any, ...], Exception] = dataclasses.field(default_factory=dict)
    recorder: Recorder = dataclasses.field(default_factory=Recorder)
    turn: Turn = dataclasses.field(default_factory=Turn)
