"""The composition memo (fpexp/config/hydra_memo.py): reused only when nothing it read changed."""

from __future__ import annotations

import threading
import warnings
from importlib import import_module
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from support import rewrite_in_place

from fpexp.config import hydra_memo, hydra_speedups

LOADER = "hydra._internal.config_loader_impl"
WARN = warnings.warn


@pytest.fixture
def memo(monkeypatch):
    """An empty memo for the test (the process's own is left as it was)."""
    monkeypatch.setattr(hydra_memo, "MEMO", {})
    monkeypatch.setattr(hydra_memo, "SIGHTED", {})
    return hydra_memo


@pytest.fixture
def counted(monkeypatch):
    """How many times Hydra's own create_defaults_list runs (the memo wraps this counter)."""
    module = import_module(LOADER)
    original, calls = module.create_defaults_list, []

    def create_defaults_list(repo, config_name, overrides_list, prepend_hydra, skip_missing):
        calls.append(config_name)
        return original(repo, config_name, overrides_list, prepend_hydra, skip_missing)

    monkeypatch.setattr(module, "create_defaults_list", create_defaults_list)
    return calls


def _compose(conf: Path, *overrides: str, name: str = "c") -> dict:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            cfg = compose(name, overrides=list(overrides))
            return OmegaConf.to_container(cfg, resolve=False)
    finally:
        GlobalHydra.instance().clear()


def _tree(tmp_path: Path) -> Path:
    conf = tmp_path / "conf"
    (conf / "g").mkdir(parents=True)
    (conf / "c.yaml").write_text("defaults:\n  - g: one\n  - optional o: x\n  - _self_\nv: 0\n")
    (conf / "g" / "one.yaml").write_text("y: 1\n")
    (conf / "g" / "two.yaml").write_text("y: 2\n")
    return conf


def test_value_overrides_share_one_composition_and_group_choices_do_not(tmp_path, memo, counted):
    conf = _tree(tmp_path)
    with hydra_speedups.installed():
        got = [_compose(conf, f"v={i}") for i in range(5)]
        assert got == [{"g": {"y": 1}, "v": i} for i in range(5)]
        assert len(counted) == 2  # kept from the second composition, reused from the third
        assert _compose(conf, "g=two", "v=7") == {"g": {"y": 2}, "v": 7}
        assert _compose(conf, "g=two", "v=8") == {"g": {"y": 2}, "v": 8}
        assert len(counted) == 4  # another choice, another key
        assert _compose(conf, "g=two", "v=9") == {"g": {"y": 2}, "v": 9}
        assert len(counted) == 4
    assert len(memo.MEMO) == 2


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda conf: (conf / "g" / "one.yaml").write_text("y: 5\n"), {"g": {"y": 5}, "v": 0}),
        (
            lambda conf: (conf / "o").mkdir() or (conf / "o" / "x.yaml").write_text("z: 1\n"),
            {"g": {"y": 1}, "o": {"z": 1}, "v": 0},
        ),
        (
            lambda conf: (conf / "c.yaml").write_text("defaults:\n  - g: two\n  - _self_\nv: 3\n"),
            {"g": {"y": 2}, "v": 3},
        ),
        (lambda conf: (conf / "g" / "one.yaml").unlink(), "MissingConfigException"),
    ],
    ids=["option-edited", "optional-appears", "primary-edited", "option-deleted"],
)
def test_any_change_to_what_was_read_composes_afresh(tmp_path, memo, counted, change, expected):
    conf = _tree(tmp_path)
    with hydra_speedups.installed():
        for _ in range(3):
            assert _compose(conf) == {"g": {"y": 1}, "v": 0}
        assert len(counted) == 2
        change(conf)
        try:
            got = _compose(conf)
        except Exception as err:
            got = type(err).__name__
        assert got == expected
        assert len(counted) == 3


def test_a_file_shadowing_a_later_one_on_the_search_path_is_seen(tmp_path, memo):
    """``g/one.yaml`` comes from the second search path entry until the first one gets one."""
    conf, extra = tmp_path / "conf", tmp_path / "extra"
    conf.mkdir()
    (extra / "g").mkdir(parents=True)
    (extra / "g" / "one.yaml").write_text("y: 1\n")
    (conf / "c.yaml").write_text(
        f"defaults:\n  - g: one\n  - _self_\nhydra:\n  searchpath: [file://{extra}]\n"
    )
    with hydra_speedups.installed():
        for _ in range(3):
            assert _compose(conf) == {"g": {"y": 1}}
        (conf / "g").mkdir()
        (conf / "g" / "one.yaml").write_text("y: 9\n")
        assert _compose(conf) == {"g": {"y": 9}}


def test_a_configstore_node_registered_again_is_seen(tmp_path, memo, monkeypatch):
    store = ConfigStore.instance()
    monkeypatch.setitem(store.repo, "s", {})  # the group, gone after the test
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "c.yaml").write_text("defaults:\n  - s: a\n  - _self_\n")
    store.store(group="s", name="a", node={"k": 1})
    with hydra_speedups.installed():
        for _ in range(3):
            assert _compose(conf) == {"s": {"k": 1}}
        store.store(group="s", name="a", node={"k": 2})
        assert _compose(conf) == {"s": {"k": 2}}


def test_a_composition_that_warns_warns_every_time_and_is_not_kept(tmp_path, memo):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "c.yaml").write_text("x: 1\n")
    store = ConfigStore.instance()
    store.store(name="c", node={"x": 0})  # automatic schema matching: deprecated, warns
    try:
        with hydra_speedups.installed():
            for _ in range(4):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    assert _compose(conf) == {"x": 1}
                assert any(
                    "ConfigStore schema with the same name" in str(w.message) for w in caught
                )
        assert memo.MEMO == {}
    finally:
        store.repo.pop("c.yaml", None)
    assert warnings.warn is WARN  # the watch over warnings.warn is gone with the compositions


def test_threads_compose_at_once_each_its_own_config(tmp_path, memo):
    """Observations and the memo's bookkeeping are per thread: six loaders compose at once."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.types import RunMode

    conf = _tree(tmp_path)
    results: dict[int, list] = {}
    start = threading.Barrier(6)

    def work(i: int) -> None:
        loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(conf)))
        start.wait()
        overrides = [f"g={'one' if i % 2 else 'two'}", f"v={i}"]
        results[i] = [
            OmegaConf.to_container(
                loader.load_configuration("c", overrides, RunMode.RUN), resolve=False
            )
            for _ in range(4)
        ]

    with hydra_speedups.installed():
        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for i in range(6):
        assert len(results[i]) == 4
        for got in results[i]:
            got.pop("hydra")
            assert got == {"g": {"y": 1 if i % 2 else 2}, "v": i}
    assert len(memo.MEMO) == 2


def test_a_group_option_edited_by_a_sweep_job_is_seen_by_every_later_job(
    tmp_path, memo, monkeypatch
):
    """A job's validated config is handed to its launch only if what it was composed from is
    unchanged, also when its validation took the defaults list and merge from the memo."""
    import sys

    import hydra

    conf = tmp_path / "conf"
    (conf / "g").mkdir(parents=True)
    (conf / "c.yaml").write_text("defaults:\n  - g: one\n  - _self_\nx: 0\n")
    (conf / "g" / "one.yaml").write_text("y: 1\n")
    seen = []

    def task(cfg):
        seen.append((cfg.x, cfg.g.y))
        rewrite_in_place(conf / "g" / "one.yaml", f"y: {cfg.x + 1}\n")

    app = hydra.main(version_base="1.3", config_path=str(conf), config_name="c")(task)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["app", "-m", "x=1,2,3,4", "hydra.sweep.dir=sweep"])
    with hydra_speedups.installed() as on:
        assert on
        app()
    assert seen == [(1, 1), (2, 2), (3, 3), (4, 4)]


# Found by a hostile review of the memo: each composed the wrong config (or leaked the patches).
@pytest.mark.parametrize("again", [True, False], ids=["stored-again", "not-stored-again"])
def test_a_configstore_replaced_by_a_new_one_is_the_one_asked(tmp_path, memo, again):
    """Hydra's own pytest fixture resets the singletons after each test: a composition must use
    the store it is given, not answers from the old one (stale node, or no 'Could not find')."""
    import copy

    from hydra.core.singleton import Singleton

    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "c.yaml").write_text("defaults:\n  - db: s\n  - _self_\n")
    saved = copy.deepcopy(Singleton.get_state())
    try:
        ConfigStore.instance().store(group="db", name="s", node={"host": "one"})
        with hydra_speedups.installed():
            for _ in range(3):
                assert _compose(conf) == {"db": {"host": "one"}}
            Singleton.set_state(copy.deepcopy(saved))
            if again:
                ConfigStore.instance().store(group="db", name="s", node={"host": "two"})
                assert _compose(conf) == {"db": {"host": "two"}}
            else:
                with pytest.raises(Exception, match="Could not find 'db/s'"):
                    _compose(conf)
    finally:
        Singleton.set_state(saved)


def test_a_search_path_read_from_the_environment_is_composed_at_each_jobs_launch(
    tmp_path, memo, monkeypatch
):
    import os
    import sys

    import hydra

    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "c.yaml").write_text(
        "defaults:\n  - db: a\n  - _self_\nhydra:\n  searchpath: ['file://${oc.env:EXTRA}']\nx: 0\n"
    )
    for name in ("A", "B"):
        (tmp_path / name / "db").mkdir(parents=True)
        (tmp_path / name / "db" / "a.yaml").write_text(f"host: from-{name}\n")
    monkeypatch.setenv("EXTRA", str(tmp_path / "A"))
    seen = []

    def task(cfg):
        seen.append((cfg.x, cfg.db.host))
        os.environ["EXTRA"] = str(tmp_path / "B")

    app = hydra.main(version_base="1.3", config_path=str(conf), config_name="c")(task)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["app", "-m", "x=1,2,3", "hydra.sweep.dir=sweep"])
    with hydra_speedups.installed():
        app()
    assert seen == [(1, "from-A"), (2, "from-B"), (3, "from-B")]


def test_a_config_source_plugin_turns_the_memo_off(tmp_path, memo, monkeypatch):
    """A ConfigSource plugin's answers are not recorded: nothing composed from one is kept."""
    from hydra._internal.sources_registry import SourcesRegistry
    from hydra.core.object_type import ObjectType
    from hydra.plugins.config_source import ConfigLoadError, ConfigResult, ConfigSource

    options = {"db/a.yaml": {"host": "one"}}

    class MemSource(ConfigSource):
        @staticmethod
        def scheme() -> str:
            return "memtest"

        def load_config(self, config_path: str) -> ConfigResult:
            name = self._normalize_file_name(config_path)
            if name not in options:
                raise ConfigLoadError(f"not found {name}")
            return ConfigResult(
                config=OmegaConf.create(options[name]),
                path=f"memtest://{self.path}",
                provider=self.provider,
                header={"package": None},
            )

        def available(self) -> bool:
            return True

        def is_group(self, config_path: str) -> bool:
            path = config_path.strip("/")
            return path == "" or any(k.startswith(path + "/") for k in options)

        def is_config(self, config_path: str) -> bool:
            return self._normalize_file_name(config_path) in options

        def list(self, config_path: str, results_filter: ObjectType | None) -> list[str]:
            path = config_path.strip("/") + "/"
            return sorted(k[len(path) : -5] for k in options if k.startswith(path))

    registry = SourcesRegistry.instance()
    monkeypatch.setitem(registry.types, "memtest", MemSource)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "c.yaml").write_text(
        "defaults:\n  - db: a\n  - _self_\nhydra:\n  searchpath: [memtest://x]\n"
    )
    with hydra_speedups.installed():
        for _ in range(3):
            assert _compose(conf) == {"db": {"host": "one"}}
        options["db/a.yaml"] = {"host": "two"}
        assert _compose(conf) == {"db": {"host": "two"}}
    assert memo.MEMO == {}


def test_a_file_edited_while_hydra_reads_it_is_not_kept_as_its_old_bytes(tmp_path, monkeypatch):
    """An edit landing between fpexp's read of a file and Hydra's own: the parse is not kept
    under the bytes fpexp read (a later composition of those bytes got the edit's content)."""
    from fpexp.config import hydra_observe

    monkeypatch.setattr(hydra_observe, "PARSED", {})
    conf = tmp_path / "conf"
    conf.mkdir()
    path = conf / "c.yaml"
    path.write_bytes(b"x: AAA\n")
    source_class = hydra_speedups._targets()[
        ("hydra._internal.core_plugins.file_config_source", "FileConfigSource", "load_config")
    ]
    real, edits = source_class.load_config, [b"x: BBB\n"]

    def saved_meanwhile(self, config_path):
        if edits and config_path.startswith("c"):
            path.write_bytes(edits.pop())  # an editor saves right now
        return real(self, config_path)

    monkeypatch.setattr(source_class, "load_config", saved_meanwhile)
    with hydra_speedups.installed():
        assert _compose(conf) == {"x": "BBB"}  # what Hydra read
        path.write_bytes(b"x: AAA\n")
        assert _compose(conf) == {"x": "AAA"}
        assert _compose(conf) == {"x": "AAA"}


def _holder(start: threading.Barrier):
    import time

    def hold(seconds: float) -> None:
        start.wait()
        with hydra_speedups.installed():
            assert hydra_speedups.active()
            time.sleep(seconds)

    return hold


def test_threads_entering_and_leaving_at_once_leave_hydra_as_it_was():
    """The first block to enter installs the speed-ups, the last to leave removes them."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    original = ConfigLoaderImpl.__dict__["load_configuration"]
    hydra_speedups._targets()
    for _ in range(30):
        start = threading.Barrier(3)
        hold = _holder(start)
        threads = [threading.Thread(target=hold, args=(s,)) for s in (0.0, 0.001, 0.003)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not hydra_speedups.active()
        assert ConfigLoaderImpl.__dict__["load_configuration"] is original


def test_the_apis_next_call_is_served_by_the_memo(tmp_path, memo, counted, capsys):
    """Each API call gets the ConfigStore it found, so fpexp's nodes are stored again per call:
    the same node objects each time (``store._store_made_once``), else the memo, which checks
    ConfigStore nodes by identity, would never serve a notebook's or a test's next run."""
    from hydra.core.plugins import Plugins

    import fpexp

    Plugins.instance()  # its scan stores the plugins' nodes, once a process (hydra_state)
    repo = ConfigStore.instance().repo
    held = _groups_copied(repo)
    runs = [fpexp.run("model.hidden=[3]", root=tmp_path) for _ in range(2)]
    assert counted == ["config", "config"]  # a key is kept from its second composition on
    third = fpexp.run("model.hidden=[5]", root=tmp_path)
    assert counted == ["config", "config"]  # the third is the memo's
    assert third.config["model"]["hidden"] == [5] and runs[0].config["model"]["hidden"] == [3]
    fresh = fpexp.run("task=multiclass", root=tmp_path)  # another group choice: composed
    assert counted == ["config", "config", "config"]
    assert fresh.config["task"]["kind"] == "multiclass"
    assert ConfigStore.instance().repo is repo  # the caller's store, as it was
    assert _groups_copied(repo) == held


def _groups_copied(repo: dict) -> dict:
    return {k: _groups_copied(v) if isinstance(v, dict) else v for k, v in repo.items()}


def test_the_wrappers_pickle_by_value_each_with_a_fresh_state():
    """Found in the suite: after ``Singleton.set_state`` (Hydra's pytest fixture) cloudpickle
    sends Hydra's config source classes to joblib's workers by value, wrappers included, and
    failed on their state ("cannot pickle 'Recorder' object"): the sweep's jobs never ran."""
    import pickle

    import cloudpickle

    from fpexp.config.hydra_patches import WRAPPERS
    from fpexp.config.speedup_state import State

    state = State()
    state.ahead["kept"] = object()
    for make in set(WRAPPERS.values()):
        wrapper = make(state, lambda *args, **kwargs: None)
        assert pickle.loads(cloudpickle.dumps(wrapper)).__wrapped__ is not None
    fresh = pickle.loads(cloudpickle.dumps(state))
    assert fresh.ahead == {} and fresh.recorder.seen is None
