"""Differential test: every composition inside ``hydra_speedups.installed()`` is plain Hydra's.

A scenario is a list of steps: some change the world (config files written, rewritten in place
or deleted; ConfigStore nodes; resolvers; the cwd; environment variables), the others compose.
Each scenario runs plain, then with the speed-ups (caches cleared; for ``KEPT`` scenarios once
more with the caches that run left: a notebook's next call), each compose step composing the
same thing 3 times in a row (a cross-call memo stores on the 2nd and serves from the 3rd). The
records (config tree, every node's class/object type/ref type/local flags, root and ``hydra``
flags, cached resolver calls, the error and its causes, the warnings) must be equal step by
step. Composed configs are then changed in place, so a memo handing out (part of) its own
object shows. Both ways Hydra is driven are covered: its compose API (warnings per
composition), and its CLI path (``get_mode``, then ``load_configuration`` for RUN, or for
MULTIRUN plus the basic sweeper's split and validation and each job's sweep config; warnings
as the set the run emits; their counts in a run and a sweep: the test at the end).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.plugins import Plugins
from omegaconf import DictConfig, ListConfig, OmegaConf, flag_override
from omegaconf.basecontainer import BaseContainer

from fpexp.config import hydra_memo, hydra_observe, hydra_speedups
from fpexp.config.store import CONFIG_NAME, config_dir, register

# Compositions of one step in a row: the memo keeps each composition at once here (``_Sighted``)
# and the second reuses it (the compose API way shows it step by step). A CLI run's own
# hand-overs (get_mode's composition, a sweep's validated jobs) and reuses (a sweep's jobs after
# the first) happen within one run; KEPT runs start with the caches the previous run left.
REPEAT = {"api": 2, "cli": 1, "cli_exact": 1}
COMPOSING = ("compose", "load_configuration", "job")


@dataclasses.dataclass
class SchemaA:
    x: int = 1
    y: str = "a"


@dataclasses.dataclass
class SchemaB:
    x: int = 5
    z: float = 0.5


@dataclasses.dataclass
class World:
    """One run of a scenario: where its files are, how it composes, what it recorded."""

    root: Path
    way: str
    fast: bool
    mp: pytest.MonkeyPatch
    records: list[dict] = dataclasses.field(default_factory=list)
    last: list[dict] = dataclasses.field(default_factory=list)  # the last compose step's


# ----------------------------------------------------------------------------------- steps
@dataclasses.dataclass(frozen=True)
class Write:
    """Write (create or replace) a file; ``{root}`` in the text names the world's directory."""

    path: str
    text: str

    def apply(self, world: World) -> None:
        target = world.root / self.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.text.replace("{root}", str(world.root)))


@dataclasses.dataclass(frozen=True)
class Rewrite:
    """New content, same size, inode and mtime (padded with newlines): only the bytes differ."""

    path: str
    text: str

    def apply(self, world: World) -> None:
        target = world.root / self.path
        st = target.stat()
        data = self.text.encode()
        assert len(data) <= st.st_size, f"{self.path}: the rewrite must not grow the file"
        with open(target, "r+b") as f:
            f.write(data + b"\n" * (st.st_size - len(data)))
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert (target.stat().st_size, target.stat().st_ino) == (st.st_size, st.st_ino)


@dataclasses.dataclass(frozen=True)
class Delete:
    path: str

    def apply(self, world: World) -> None:
        (world.root / self.path).unlink()


@dataclasses.dataclass(frozen=True)
class Store:
    """Register (or re-register) a ConfigStore node: a dataclass or an instance of one."""

    name: str
    node: Any
    group: str | None = None

    def apply(self, world: World) -> None:
        ConfigStore.instance().store(name=self.name, node=self.node, group=self.group)


@dataclasses.dataclass(frozen=True)
class Resolver:
    """(Re-)register an OmegaConf resolver that returns ``value``."""

    name: str
    value: str

    def apply(self, world: World) -> None:
        value = self.value
        OmegaConf.register_new_resolver(self.name, lambda: value, replace=True)


@dataclasses.dataclass(frozen=True)
class Chdir:
    path: str

    def apply(self, world: World) -> None:
        world.mp.chdir(world.root / self.path)


@dataclasses.dataclass(frozen=True)
class Env:
    key: str
    value: str | None

    def apply(self, world: World) -> None:
        if self.value is None:
            world.mp.delenv(self.key, raising=False)
        else:
            world.mp.setenv(self.key, self.value)


@dataclasses.dataclass(frozen=True)
class Expect:
    """The scenario's own check that the world did what it meant: ``text`` is in the record
    (tree, error or warnings) of every composition of the previous compose step, in every run
    (``get_mode``, a sweep's split and validation aside)."""

    text: str
    every: bool = True  # else: in the record of some call of the step

    def apply(self, world: World) -> None:
        composed = [r for r in world.last if r["call"].split(":")[-1] in COMPOSING]
        assert composed, "Expect must follow a compose step"
        if not self.every:
            assert self.text in repr(world.last), (self.text, world.last)
        for record in composed if self.every else ():
            assert self.text in repr(record), (self.text, record)


@dataclasses.dataclass(frozen=True)
class Compose:
    """Compose ``REPEAT[way]`` times in a row, as the world's way says; record each composition.
    ``multirun``: ``python -m fpexp -m ...`` (the CLI way only: the compose API has no sweeps)."""

    name: str = "c"
    overrides: tuple[str, ...] = ()
    version_base: str = "1.3"
    job_name: str = "app"
    conf: str = "conf"  # relative to the world's root, or absolute
    multirun: bool = False
    during_jobs: tuple[Any, ...] = ()  # steps run after each sweep job's launch (its task)

    def apply(self, world: World) -> None:
        if self.multirun and world.way == "api":
            return
        world.last = []
        # Plain Hydra keeps nothing from one composition to the next: unless the step changes
        # the world itself, its one composition is the expected record of all repeats.
        repeat = 1 if self.during_jobs else REPEAT[world.way]
        once = not world.fast and not self.during_jobs
        for _ in range(1 if once else repeat):
            world.last += WAYS[world.way](self, world)
        if once:
            world.last *= repeat
        world.records += world.last


# ------------------------------------------------------------------------------- recording
def _error(err: BaseException) -> list[tuple[str, str]]:
    """The exception and its explicit causes (what HYDRA_FULL_ERROR shows), type + message."""
    chain: list[tuple[str, str]] = []
    seen: BaseException | None = err
    while seen is not None and len(chain) < 10:
        chain.append((type(seen).__name__, str(seen)))
        seen = seen.__cause__
    return chain


def _type_name(t: Any) -> str:
    return getattr(t, "__qualname__", repr(t))


def _nodes(node: Any, path: str = "") -> Iterator[tuple[Any, ...]]:
    """Every node: its class, object type, ref type, optional, local flags (recursively)."""
    meta = node._metadata
    object_type = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
    yield (
        path,
        type(node).__name__,
        _type_name(object_type),
        _type_name(meta.ref_type),
        meta.optional,
        dict(meta.flags),
    )
    if isinstance(node, DictConfig | ListConfig) and not (
        node._is_missing() or node._is_none() or node._is_interpolation()
    ):
        keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
        for key in keys:
            yield from _nodes(node._get_node(key), f"{path}.{key}")


def _describe(cfg: Any) -> dict[str, Any]:
    if not isinstance(cfg, DictConfig):
        return {"value": repr(cfg)}
    described = {
        "tree": OmegaConf.to_container(cfg, resolve=False),
        "nodes": list(_nodes(cfg)),
        "root": (OmegaConf.is_struct(cfg), OmegaConf.is_readonly(cfg)),
        # which resolver calls are cached (their values: ``now`` changes every second)
        "cache": {k: sorted(v, key=repr) for k, v in cfg._metadata.resolver_cache.items()},
    }
    if "hydra" in cfg:
        described["hydra"] = (OmegaConf.is_struct(cfg.hydra), OmegaConf.is_readonly(cfg.hydra))
        described["tree"]["hydra"].get("runtime", {}).pop("output_dir", None)
    return described


def _poke(node: Any) -> None:
    """Change every container of a composed config: a later composition sharing any part of
    it (a memo handing out its own object) would show the change."""
    if not isinstance(node, DictConfig | ListConfig) or (
        node._is_missing() or node._is_none() or node._is_interpolation()
    ):
        return
    children = [node._get_node(k) for k in (node.keys() if isinstance(node, DictConfig) else [])]
    children += list(node._iter_ex(resolve=False)) if isinstance(node, ListConfig) else []
    with flag_override(node, ["readonly", "struct"], [False, False]):
        try:
            if isinstance(node, DictConfig):
                node["_poked_"] = 1
            else:
                node.append(1)
        except Exception:
            pass  # a typed container refusing it: nothing to see there
    for child in children:
        _poke(child)


def _call(label: str, fn: Callable[[], Any]) -> tuple[dict[str, Any], Any]:
    """Run one Hydra call and record its result or error and the warnings it emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value, error = fn(), None
        except Exception as err:
            value, error = None, _error(err)
    record = {
        "call": label,
        "result": None if error else _describe(value),
        "error": error,
        "warnings": [(w.category.__name__, str(w.message)) for w in caught],
    }
    return record, value


def _hydra_session(step: Compose, world: World) -> AbstractContextManager[Any]:
    GlobalHydra.instance().clear()
    return initialize_config_dir(
        config_dir=str(world.root / step.conf),
        version_base=step.version_base,
        job_name=step.job_name,
    )


# ------------------------------------------------------------------------------------ ways
def _via_compose_api(step: Compose, world: World) -> list[dict]:
    """Hydra's compose API, with the hydra node."""
    try:
        with warnings.catch_warnings(record=True), _hydra_session(step, world):
            warnings.simplefilter("always")  # initialize's own warnings: not a composition's
            record, cfg = _call(
                "compose",
                lambda: compose(step.name, list(step.overrides), return_hydra_config=True),
            )
    finally:
        GlobalHydra.instance().clear()
    _poke(cfg)
    return [record]


def _via_cli(step: Compose, world: World, exact: bool = False) -> list[dict]:
    """As ``python -m fpexp OVERRIDES`` (or ``-m OVERRIDES``) composes. The speed-ups move
    compositions from one call to another (``get_mode`` composes what the run asks for next;
    a sweep's validation composes what each job's launch asks for): unless ``exact``, a CLI
    run's warnings are compared as the set it emits, not counted per call."""
    try:
        with warnings.catch_warnings(record=True), _hydra_session(step, world):
            warnings.simplefilter("always")
            records = _cli_run(step, world)
    finally:
        GlobalHydra.instance().clear()
    if not exact:
        emitted = sorted({tuple(w) for r in records for w in r["warnings"]})
        for record in records:
            composing = record["call"].split(":")[-1] in COMPOSING
            record["warnings"] = emitted if composing else []
    return records


def _cli_run(step: Compose, world: World) -> list[dict]:
    """Hydra's ``_run_hydra``/``_run_app``: ``get_mode``, then the composition for that mode;
    for MULTIRUN the basic sweeper's validation of every job, then each job's launch."""
    from hydra.types import RunMode

    hydra = GlobalHydra.instance().hydra
    assert hydra is not None
    loader = hydra.config_loader
    overrides, multirun = list(step.overrides), step.multirun
    tag = "multirun" if multirun else "run"
    mode_record, mode = _call(f"{tag}:get_mode", lambda: hydra.get_mode(step.name, overrides))
    if mode is None:
        mode = RunMode.MULTIRUN if multirun else RunMode.RUN
        overrides.append(f"hydra.mode={mode.name}")
    elif multirun and mode == RunMode.RUN:
        mode = RunMode.MULTIRUN
        overrides.append("hydra.mode=MULTIRUN")
    record, cfg = _call(
        f"{tag}:load_configuration",
        lambda: loader.load_configuration(step.name, overrides, run_mode=mode),
    )
    records = [mode_record, record]
    if cfg is not None and mode == RunMode.MULTIRUN:
        records += _sweep_jobs(loader, cfg, step.during_jobs, world)
    _poke(cfg)
    return records


def _sweep_jobs(loader: Any, master: DictConfig, during: tuple, world: World) -> list[dict]:
    """The basic sweeper's split and validation of the batch, then the launcher's composition
    of each job (the speed-ups hand over what validation composed)."""
    from hydra._internal.callbacks import Callbacks
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import HydraContext

    def batch() -> list[list[str]]:
        task = OmegaConf.to_container(master.hydra.overrides.task, resolve=False)
        parsed = OverridesParser.create(config_loader=loader).parse_overrides(task)
        return BasicSweeper.split_arguments(parsed, None)[0]

    split_record, jobs = _call("sweep:split", batch)
    records = [split_record]
    if jobs is None:
        return records
    sweeper = BasicSweeper(max_batch_size=None)
    sweeper.config = master
    sweeper.launcher = BasicLauncher()
    sweeper.hydra_context = HydraContext(config_loader=loader, callbacks=Callbacks())
    validated, _ = _call("sweep:validate", lambda: sweeper.validate_batch_is_legal(jobs))
    records.append(validated)
    for job in jobs:
        record, cfg = _call(
            f"sweep:job {job}", lambda job=job: loader.load_sweep_config(master, job)
        )
        records.append(record)
        _poke(cfg)
        for step in during:  # what the job's task does to the process
            step.apply(world)
    return records


WAYS: dict[str, Callable[[Compose, World], list[dict]]] = {
    "api": _via_compose_api,
    "cli": _via_cli,
    "cli_exact": functools.partial(_via_cli, exact=True),
}


# ------------------------------------------------------------------------------- scenarios
C, W, R, D, E = Compose, Write, Rewrite, Delete, Expect
M = functools.partial(Compose, multirun=True)
BASE = [
    W("conf/c.yaml", "defaults:\n  - g: one\n  - _self_\nx: 1\n"),
    W("conf/g/one.yaml", "y: 1\n"),
    W("conf/g/two.yaml", "y: 2\n"),
    W("conf/g2/a.yaml", "w: 1\n"),
]
FPEXP = config_dir()
SEARCHPATH = "hydra:\n  searchpath:\n    - file://{root}/extra\n"
API, CLI, BOTH = ("api",), ("cli",), ("api", "cli")
# name -> (the ways it composes in, its steps); a multirun step composes in the CLI way only
SCENARIOS: dict[str, tuple[tuple[str, ...], list[Any]]] = {
    "value_overrides": (
        API,
        [
            *BASE,
            *(C(overrides=(o,)) for o in ("x=1", "x=2", "hydra.run.dir=b")),
            E("'dir': 'b'"),
            C(overrides=("x=3", "+hydra.job.env_set.EQ_A=1", "hydra.job.name=other")),
        ],
    ),
    "sweeps_and_cli_errors": (
        CLI,
        [
            *BASE,
            C(overrides=("x=1",)),
            M(overrides=("x=1,2", "hydra.sweep.dir=s")),
            M(overrides=("x=3", "g=one,two", "+g2=a")),
            E("+g2=a"),
            C(overrides=("x=1,2",)),
            M(overrides=("g=nope,one",)),
            M(overrides=("hydra.run.dir=a,b",)),
            C(overrides=("x=4",)),
            E("'x': 4"),
        ],
    ),
    "group_overrides": (
        API,
        [
            *BASE,
            *(C(overrides=o) for o in [("g=two",), ("+g2=a",), ("~g",), ("g=null",)]),
            C(overrides=("g=two", "+g2=a", "x=5")),
            E("'g': {'y': 2}"),
        ],
    ),
    "rewrite_primary": (
        API,
        [
            *BASE,
            C(),
            R("conf/c.yaml", "defaults:\n  - g: two\n  - _self_\nx: 7\n"),
            C(),
            E("'g': {'y': 2}, 'x': 7"),
        ],
    ),
    "rewrite_option_and_nested_default": (
        CLI,
        [
            *BASE,
            W("conf/g/one.yaml", "defaults:\n  - /n: a\ny: 1\n"),
            W("conf/n/a.yaml", "m: 1\n"),
            C(overrides=("x=2",)),
            R("conf/n/a.yaml", "m: 2\n"),
            C(overrides=("x=2",)),
            E("'m': 2"),
            R("conf/g/one.yaml", "y: 9\n"),
            M(overrides=("x=2,3",)),
            E("'g': {'y': 9}"),
        ],
    ),
    "shadowed_by_an_earlier_search_path_dir": (
        API,
        [
            *BASE,
            W("conf/c.yaml", "defaults:\n  - g: one\n  - _self_\nx: 1\n" + SEARCHPATH),
            W("extra/g/three.yaml", "y: 3\n"),
            C(overrides=("g=three",)),
            E("'y': 3"),
            W("conf/g/three.yaml", "y: 33\n"),  # conf/ comes before hydra.searchpath's dirs
            C(overrides=("g=three",)),
            E("'y': 33"),
            D("conf/g/three.yaml"),
            C(overrides=("g=three",)),
        ],
    ),
    "search_path_from_the_command_line": (
        CLI,
        [
            *BASE,
            W("extra/g/four.yaml", "y: 4\n"),
            C(overrides=("g=four", "hydra.searchpath=[file://extra]")),
            E("'y': 4"),
            W("conf/g/four.yaml", "y: 44\n"),
            C(overrides=("g=four", "hydra.searchpath=[file://extra]")),
            E("'y': 44"),
            C(overrides=("g=four",)),
        ],
    ),
    "optional_default_appears_and_goes": (
        API,
        [
            *BASE,
            W("conf/c.yaml", "defaults:\n  - g: one\n  - optional o: x\n  - _self_\nx: 1\n"),
            C(),
            W("conf/o/x.yaml", "q: 1\n"),
            C(),
            E("'q': 1"),
            D("conf/o/x.yaml"),
            C(),
        ],
    ),
    "group_gains_an_option": (
        CLI,
        [
            *BASE,
            W("conf/h/a.yaml", "z: 1\n"),
            M(overrides=("+h=glob(*)",)),
            C(overrides=("g=three",)),
            E("MissingConfigException"),
            W("conf/g/three.yaml", "y: 3\n"),
            W("conf/h/b.yaml", "z: 2\n"),
            C(overrides=("g=three",)),
            M(overrides=("+h=glob(*)",)),
            E("+h=b", every=False),
        ],
    ),
    "config_store_schema_re_registered": (
        API,
        [
            *BASE,
            Store("base_c", SchemaA),
            W("conf/c.yaml", "defaults:\n  - base_c\n  - _self_\nx: 2\n"),
            C(),
            Store("base_c", SchemaB),
            C(),
            E("'z': 0.5"),
            Store("base_c", SchemaA(y="b")),
            C(),
            E("'y': 'b'"),
            C(overrides=("x=abc",)),
            E("ValidationError"),
        ],
    ),
    "config_store_option_re_registered": (
        API,
        [
            *BASE,
            Store("three", SchemaA, group="g"),
            C(overrides=("g=three",)),
            Store("three", SchemaB, group="g"),
            C(overrides=("g=three",)),
            E("'z': 0.5"),
            Store("three", SchemaB(x=8), group="g"),
            C(overrides=("g=three", "g.x=9")),
            C(overrides=("g=three", "g.x=nine")),
        ],
    ),
    "schema_matched_by_name": (
        API,
        [
            *BASE,
            W("conf/g/s.yaml", "x: 2\n"),
            Store("s", SchemaA, group="g"),
            C(overrides=("g=s",)),
            E("schema"),
            Store("s", SchemaB, group="g"),
            C(overrides=("g=s",)),
            R("conf/g/s.yaml", "x: 3\n"),
            C(overrides=("g=s", "g.z=1.5")),
        ],
    ),
    "warnings_on_every_composition": (
        BOTH,
        [
            *BASE,
            Store("base_c", SchemaA),
            W("conf/c.yaml", "defaults:\n  - base_c\nx: 2\n"),
            W("conf/g/pk.yaml", "# @package _group_\ny: 3\n"),
            C(),
            E("missing `_self_`"),
            Env("SELF_WARNING_AS_ERROR", "1"),
            C(),
            Env("SELF_WARNING_AS_ERROR", None),
            W("conf/c.yaml", "defaults:\n  - g: pk\n  - _self_\nx: 2\n"),
            C(version_base="1.1"),
            E("'# @package _group_'"),
            C(version_base="1.3"),
            E("'_group_': {'y': 3}"),
            Env("HYDRA_DEPRECATION_WARNINGS_AS_ERRORS", "1"),
            C(version_base="1.1"),
            E("HydraDeprecationError"),
        ],
    ),
    "errors_then_good": (
        API,
        [
            *BASE,
            C(overrides=("g=nope",)),
            C(overrides=("x=[",)),
            C(overrides=("nokey=1",)),
            C(overrides=("x=1,2",)),
            C(name="nosuch"),
            C(overrides=("x=4",)),
            E("'x': 4"),
        ],
    ),
    "relative_search_path_and_chdir": (
        API,
        [
            *BASE,
            W(
                "conf/c.yaml",
                "defaults:\n  - g: one\n  - _self_\nx: 1\nhydra:\n  searchpath: [file://rel]\n",
            ),
            W("a/rel/g/four.yaml", "y: 4\n"),
            W("b/rel/g/four.yaml", "y: 5\n"),
            Chdir("a"),
            C(overrides=("g=four",)),
            E("'y': 4"),
            Chdir("b"),
            C(overrides=("g=four",)),
            E("'y': 5"),
            Chdir("."),
            C(overrides=("g=four",)),
            E("not available"),
        ],
    ),
    "environment_and_resolvers_in_the_defaults_list": (
        API,
        [
            *BASE,
            W("conf/c.yaml", "defaults:\n  - g: ${oc.env:EQ_G,one}\n  - _self_\nx: 1\n"),
            C(),
            Env("EQ_G", "two"),
            C(),
            E("'g': {'y': 2}"),
            W("conf/c.yaml", "defaults:\n  - g: ${eq_pick:}\n  - _self_\nx: 1\n"),
            Resolver("eq_pick", "one"),
            C(),
            Resolver("eq_pick", "two"),
            C(),
            E("'g': {'y': 2}"),
        ],
    ),
    "environment_copied_and_job_name": (
        CLI,
        [
            *BASE,
            Env("EQ_V", "1"),
            C(overrides=("hydra.job.env_copy=[EQ_V]",)),
            Env("EQ_V", "2"),
            C(overrides=("hydra.job.env_copy=[EQ_V]",)),
            E("'EQ_V': '2'"),
            C(job_name="first"),
            C(job_name="second"),
            E("'second'"),
        ],
    ),
    "modes_and_missing_choices": (
        CLI,
        [
            *BASE,
            W("conf/c.yaml", "defaults:\n  - g: ???\n  - _self_\nx: 1\n"),
            C(),  # RUN: "You must specify 'g'"; MULTIRUN (get_mode's) skips it
            E("You must specify"),
            M(overrides=("g=one,two",)),
            C(overrides=("g=one", "hydra.mode=MULTIRUN", "x=1,2")),
            W("conf/c.yaml", "defaults:\n  - g: one\n  - _self_\nx: 1\nhydra:\n  mode: MULTIRUN\n"),
            C(overrides=("x=3,4",)),
            E("x=4", every=False),
        ],
    ),
    "fpexps_own_config": (  # its CLI path: tests/test_speedups.py, every run file byte for byte
        API,
        [
            C(name=CONFIG_NAME, overrides=("task=multiclass", "model.hidden=[8]"), conf=FPEXP),
            C(name=CONFIG_NAME, overrides=("data=synthetic", "seed=3"), conf=FPEXP),
            M(name=CONFIG_NAME, overrides=("model.hidden=[8]", "seed=5"), conf=FPEXP),
        ],
    ),
}
# run a third time with the caches the second run left (same bytes, new files: a notebook's
# next call in a fresh directory)
KEPT = ("shadowed_by_an_earlier_search_path_dir",)


# ---------------------------------------------------------------------------------- runner
def _clear_caches() -> None:
    hydra_memo.MEMO.clear()
    hydra_memo.SIGHTED.clear()
    hydra_observe.PARSED.clear()


class _Sighted(dict):
    """Every key counts as composed before: the memo keeps each composition at once, so the
    second of a step's compositions already reuses it (the rule that a key is kept from its
    second composition on is tests/test_hydra_memo.py's)."""

    def __contains__(self, key: object) -> bool:
        return True


def _run(steps: list[Any], root: Path, way: str, fast: bool) -> list[dict]:
    """One run of a scenario in a fresh copy of its world (same paths: same messages)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    Plugins.instance()  # its first scan stores Hydra's plugin nodes: before the snapshot
    store = ConfigStore.instance()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store, "repo", copy.deepcopy(store.repo))
        mp.setattr(BaseContainer, "_resolvers", dict(BaseContainer._resolvers))
        for key in ("SELF_WARNING_AS_ERROR", "HYDRA_DEPRECATION_WARNINGS_AS_ERRORS", "EQ_G"):
            mp.delenv(key, raising=False)
        mp.chdir(root)
        mp.setattr(hydra_memo, "SIGHTED", _Sighted())
        world = World(root=root, way=way, fast=fast, mp=mp)
        with hydra_speedups.installed() if fast else nullcontext(False) as on:
            assert on == fast
            for step in steps:
                step.apply(world)
    return world.records


def _assert_same(plain: list[dict], other: list[dict], label: str) -> None:
    assert len(other) == len(plain), label
    for i, (want, got) in enumerate(zip(plain, other, strict=True)):
        assert got == want, f"{label}: record {i} ({want['call']}) differs"


def _differential(steps: list[Any], root: Path, way: str, kept: bool = False) -> None:
    GlobalHydra.instance().clear()
    try:
        _clear_caches()
        plain = _run(steps, root, way, fast=False)
        _clear_caches()
        _assert_same(plain, _run(steps, root, way, fast=True), "fast, caches cleared")
        if kept:
            _assert_same(plain, _run(steps, root, way, fast=True), "fast, caches kept")
    finally:
        GlobalHydra.instance().clear()
        _clear_caches()


CASES = [(name, way) for name, (ways, _) in sorted(SCENARIOS.items()) for way in ways]


@pytest.mark.parametrize(("scenario", "way"), CASES, ids=[f"{n}-{w}" for n, w in CASES])
def test_speedups_compose_what_plain_hydra_composes(tmp_path, scenario, way):
    if scenario == "fpexps_own_config":
        register()
    _differential(SCENARIOS[scenario][1], tmp_path / "world", way, kept=scenario in KEPT)


def test_a_cli_run_emits_each_composition_warning_as_often_as_plain_hydra(tmp_path):
    steps = [
        W("conf/c.yaml", "defaults:\n  - g: one\nx: 1\n"),  # no _self_: Hydra warns
        W("conf/g/one.yaml", "y: 1\n"),
        C(),
        M(overrides=("x=1,2",)),
    ]
    _differential(steps, tmp_path / "world", "cli_exact")


# What a sweep job's task may do to the process before the next job's launch composes it:
# plain Hydra composes each job at its launch; the speed-ups hand over what the sweep's
# validation composed before any job ran, when the files it read are unchanged.
SWEEP_BASE = [*BASE, W("conf/c.yaml", "defaults:\n  - g: ${oc.env:EQ_G,one}\n  - _self_\nx: 1\n")]
DURING_JOBS: dict[str, tuple[list[Any], tuple[Any, ...]]] = {
    "file_rewritten": ([], (R("conf/g/one.yaml", "y: 7\n"),)),
    "file_rewritten_memo_reused": (  # no interpolation: job 1's validation reuses job 0's merge
        [W("conf/c.yaml", "defaults:\n  - g: one\n  - _self_\nx: 1\n")],
        (R("conf/g/one.yaml", "y: 7\n"),),
    ),
    "env_in_the_defaults_list": ([], (Env("EQ_G", "two"),)),
    "env_copied": ([Env("EQ_V", "0")], (Env("EQ_V", "1"),)),
    "config_store_node": ([Store("s", SchemaA, group="g")], (Store("s", SchemaB, group="g"),)),
}


@pytest.mark.parametrize("change", sorted(DURING_JOBS))
def test_a_sweep_job_sees_what_earlier_jobs_changed(tmp_path, change):
    before, during = DURING_JOBS[change]
    overrides = ("x=1,2", "hydra.job.env_copy=[EQ_V]") if change == "env_copied" else ("x=1,2",)
    group = ("g=s",) if change == "config_store_node" else ()
    steps = [*SWEEP_BASE, *before, M(overrides=(*overrides, *group), during_jobs=during)]
    _differential(steps, tmp_path / "world", "cli")
