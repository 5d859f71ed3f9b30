"""A process-wide memo of Hydra's defaults lists and merged configs (see ``hydra_speedups``).

Most of a composition is the defaults list and the merge of its configs; neither depends on
value overrides (``model.hidden=[8]``, ``hydra.run.dir=...``), which Hydra applies afterwards.
So a sweep's jobs, a notebook's next call and a test suite's next run share them: keyed by the
config name, the overrides that choose defaults (groups, appends, deletions), the search path
and the version base, and used only while every question the composition asked of its sources
(``hydra_observe``) gets the same answer. A key is kept from its second composition on (a single
run pays no copy), and never for a composition that warned (a later one would not warn again).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from fpexp.config.hydra_observe import UNCHECKABLE, observed_sources, still_true
from fpexp.config.speedup_state import Observation, State
from fpexp.config.warning_watch import watching

MEMO: dict[tuple[Any, ...], Entry] = {}
SIGHTED: dict[tuple[Any, ...], None] = {}  # keys composed once
MEMO_LIMIT = 64


@dataclasses.dataclass(frozen=True)
class Entry:
    seen: tuple[Observation, ...]
    defaults_list: Any  # what Hydra's create_defaults_list returned
    config: Any  # the merged config before any value override (a private copy)


def memo_defaults(state: State, create: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(create)
    def create_defaults_list(
        repo: Any, config_name: Any, overrides_list: Any, prepend_hydra: bool, skip_missing: bool
    ) -> Any:
        turn = state.turn
        turn.pending = turn.serving = None
        args = (repo, config_name, overrides_list, prepend_hydra, skip_missing)
        key, overrides = _key(*args)
        seen = state.recorder.seen
        if seen is not None and not observed_sources(repo.get_sources()):
            seen.append(UNCHECKABLE)  # a source whose answers are not recorded: compose afresh
            key = None
        if key is None or seen is None:
            return create(*args)
        entry = MEMO.get(key)
        if entry is not None and still_true(entry.seen):
            seen.extend(entry.seen)  # what this composition now rests on
            result = _reused(entry.defaults_list, overrides)
            turn.serving = (result.defaults, entry)
            return result
        with watching() as warned:
            result = create(*args)
        if not warned[0]:
            turn.pending = (key, result)
        return result

    return create_defaults_list


def memo_composed(state: State, compose: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(compose)
    def _compose_config_from_defaults_list(self: Any, defaults: Any, repo: Any) -> Any:
        turn = state.turn
        serving, pending = turn.serving, turn.pending
        turn.serving = turn.pending = None
        if serving is not None and serving[0] is defaults:
            return copy.deepcopy(serving[1].config)
        with watching() as warned:
            config = compose(self, defaults, repo)
        seen = state.recorder.seen
        if (
            pending is not None
            and pending[1].defaults is defaults
            and seen is not None
            and not warned[0]
        ):
            _remember(pending[0], Entry(tuple(seen), pending[1], config))
        return config

    return _compose_config_from_defaults_list


def _key(
    repo: Any, config_name: Any, overrides_list: Any, prepend_hydra: bool, skip_missing: bool
) -> tuple[tuple[Any, ...] | None, Any]:
    """The memo key and Hydra's reading of the overrides (None where it cannot read them)."""
    from hydra import version
    from hydra._internal.defaults_list import Overrides

    try:
        overrides = Overrides(repo=repo, overrides_list=overrides_list)
    except Exception:
        return None, None  # Hydra's create_defaults_list raises the same: let it
    values = {id(o) for o in overrides.config_overrides}
    choosing = [o.input_line for o in overrides_list if id(o) not in values]
    if any(not isinstance(line, str) for line in choosing):
        return None, None
    sources = tuple(
        (type(s).__qualname__, s.provider, s.path, getattr(s, "store", None))  # the store object
        for s in repo.get_sources()
    )
    base = str(version.getbase())
    return (config_name, tuple(choosing), prepend_hydra, skip_missing, sources, base), overrides


def _reused(defaults_list: Any, overrides: Any) -> Any:
    """A kept defaults list with this composition's value overrides."""
    from hydra._internal.defaults_list import DefaultsList

    kept = copy.copy(defaults_list.overrides)
    kept.config_overrides = overrides.config_overrides
    return DefaultsList(
        defaults=list(defaults_list.defaults),
        config_overrides=overrides.config_overrides,
        defaults_tree=defaults_list.defaults_tree,
        overrides=kept,
    )


def _remember(key: tuple[Any, ...], entry: Entry) -> None:
    if key not in SIGHTED:
        if len(SIGHTED) >= MEMO_LIMIT * 4:
            SIGHTED.clear()
        SIGHTED[key] = None
        return
    if len(MEMO) >= MEMO_LIMIT and key not in MEMO:
        MEMO.clear()
    MEMO[key] = dataclasses.replace(entry, config=copy.deepcopy(entry.config))
