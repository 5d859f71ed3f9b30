"""Hydra speed-ups change nothing but speed, only inside fpexp's run, and only on a tested Hydra."""

from __future__ import annotations

import hashlib
import json
import sys
from importlib import import_module
from pathlib import Path

import hydra
import pytest
from conftest import ENV
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from support import rewrite_in_place
from warm_python import WARM

from fpexp.config import hydra_observe, hydra_patches, hydra_speedups
from fpexp.config.store import CONFIG_NAME, config_dir, register

CORE = "hydra._internal.core_plugins"
LOADER = "hydra._internal.config_loader_impl"
# name -> the command line after `python -m fpexp` (every one runs into its own directory)
SWEEPS = {
    "duplicates_plus_tilde": [
        "-m",
        "seed=1,1",
        "+hydra.job.env_set.FPEXP_A=1",
        "+hydra.job.env_set.FPEXP_B=2",
        "~hydra.job.env_set.FPEXP_A",
    ],
    "grid": ["-m", "model.width=2,4", "model.depth=1,2"],
    "interpolations": ["-m", "data=synthetic", "seed=3,4", "model.width=${seed}"],
    "groups": ["-m", "task=binary,multiclass", "data=animals,synthetic"],
    "single_run": ["task=multiclass", "model.width=8", "seed=3"],
    "single_tilde": ["~hydra.callbacks.sweep_tracker", "model.hidden=[3,2]"],
    "bad_sweep": ["-m", "+hydra.job.env_set.FPEXP_C=x,y", "seed=1,2"],
}
JOBS = {"duplicates_plus_tilde": 2, "grid": 4, "interpolations": 2, "groups": 4}

# One process per mode: the speed-ups are process-wide state, so each mode runs every sweep in
# the same process (forked from the warm interpreter: Hydra and fpexp imported, never run).
# "plain" is the unknown-Hydra fallback; compositions are counted in both. summary.png is not
# compared (nor are the other summary files: they hold timings), so it is not drawn.
SCRIPT = """
import json, sys
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from fpexp.config import hydra_speedups
import fpexp.summary_plot
def no_helper():
    raise OSError("not drawn")
fpexp.summary_plot.Renderer = no_helper
fpexp.summary_plot.plot_summary = lambda *args: None
if sys.argv[1] == "plain":
    hydra_speedups.TESTED_HYDRA = frozenset()
impl, count = ConfigLoaderImpl._load_configuration_impl, [0]
def counted(*args, **kwargs):
    count[0] += 1
    return impl(*args, **kwargs)
ConfigLoaderImpl._load_configuration_impl = counted
from fpexp.cli import main
done = {}
for name, args in json.loads(sys.argv[2]).items():
    count[0] = 0
    into = "hydra.sweep.dir" if "-m" in args else "hydra.run.dir"
    done[name] = [main([*args, f"{into}={name}"]), count[0]]
print(json.dumps(done))
"""

# The only lines that name where a mode ran (its working directory): hydra.yaml's
# hydra.runtime.cwd and hydra.runtime.output_dir, multirun.yaml's hydra.runtime.cwd.
LOCATION_KEYS = ("cwd:", "output_dir:")


def _normalised(text: str, cwd: Path) -> str:
    lines = text.splitlines(keepends=True)
    out = [line.replace(str(cwd), "<CWD>") for line in lines]
    changed = {a.strip().split(" ")[0] for a, b in zip(lines, out, strict=True) if a != b}
    assert changed <= set(LOCATION_KEYS), changed
    return "".join(out)


def _run_dir_files(run_dir: Path, cwd: Path) -> dict[str, str]:
    """Every file a run wrote that must match: .hydra/*.yaml normalised, outputs by sha256."""
    files = {}
    for path in sorted(run_dir.rglob("*")):
        name = str(path.relative_to(run_dir))
        if path.is_dir() or path.name == "fpexp.log" or path.name.startswith("summary."):
            continue  # the log and the summary have timings; their rows are checked below
        if path.suffix == ".yaml":
            files[name] = _normalised(path.read_text(), cwd)
        elif name.endswith("run.json"):
            record = json.loads(path.read_text())
            files[name] = json.dumps([record["status"], record["config"]], sort_keys=True)
        else:
            files[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


@pytest.fixture(scope="module")
def both_modes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, Path]]:
    cwds = {mode: tmp_path_factory.mktemp(mode) for mode in ("plain", "fast")}
    procs = {  # the two modes at once: each is one process
        mode: WARM.start([mode, json.dumps(SWEEPS)], cwd, ENV, code=SCRIPT, text=True)
        for mode, cwd in cwds.items()
    }
    results = {}
    for mode, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        results[mode] = (json.loads(out.splitlines()[-1]), cwds[mode])
    return results


@pytest.mark.slow
@pytest.mark.parametrize("name", SWEEPS)
def test_every_run_file_is_byte_for_byte_plain_hydras(both_modes, name):
    (plain, plain_cwd), (fast, fast_cwd) = both_modes["plain"], both_modes["fast"]
    assert fast[name][0] == plain[name][0] == (2 if name == "bad_sweep" else 0)
    plain_files = _run_dir_files(plain_cwd / name, plain_cwd)
    assert _run_dir_files(fast_cwd / name, fast_cwd) == plain_files
    records = [json.loads(v) for k, v in plain_files.items() if k.endswith("run.json")]
    assert len(records) == JOBS.get(name, 0 if name == "bad_sweep" else 1)
    assert all(status == "completed" for status, _ in records)
    if name in JOBS:
        jobs = JOBS[name]
        assert {f"{j}/.hydra/{f}.yaml" for j in range(jobs) for f in ("config", "hydra")} <= set(
            plain_files
        )
        assert plain[name][1] - fast[name][1] == jobs  # each job composed once, not twice
    elif name != "bad_sweep":
        assert plain[name][1] - fast[name][1] == 1  # a run composed once, not twice


def test_a_sweep_over_duplicate_values_runs_every_job(tmp_path, monkeypatch):
    """``seed=1,1``: two jobs with identical overrides get a config object each."""
    import fpexp.app
    from fpexp.cli import main

    seen, run = [], fpexp.app.run_experiment
    monkeypatch.setattr(fpexp.app, "run_experiment", lambda *a: seen.append(_active()) or run(*a))
    monkeypatch.setattr("fpexp.summary_plot.Renderer", _no_renderer)  # summary.png: not looked at
    monkeypatch.setattr("fpexp.summary_plot.plot_summary", lambda *a: None)
    monkeypatch.chdir(tmp_path)
    assert main(["-m", "seed=1,1", "hydra.sweep.dir=sweep"]) == 0
    for job in ("0", "1"):
        assert json.loads((tmp_path / "sweep" / job / "run.json").read_text())["status"] == (
            "completed"
        )
    assert seen == [True, True]  # the speed-ups were on during fpexp's run
    assert not _active()  # and are off after it


def _no_renderer() -> None:
    raise OSError("not drawn")


def _active() -> bool:
    return hydra_speedups.active()


def _owners() -> dict[tuple[str, str], object]:
    """Every class or module the speed-ups may patch, by (owner, name), read after Hydra's
    plugin scan (its first scan re-executes Hydra's core modules: read the classes kept)."""
    from hydra.core.plugins import Plugins

    Plugins.instance()
    owners = {}
    for module, owner_name, name in hydra_speedups._SIGNATURES:
        owner = hydra_speedups._source_in_use(owner_name) or import_module(module)
        owners[(owner_name or module.rsplit(".", 1)[-1], name)] = (
            getattr(owner, owner_name, owner) if owner_name else owner
        )
    return owners


def _patched() -> dict[tuple[str, str], object]:
    """What each patched name holds now."""
    owners = _owners()
    return {key: vars(owners[key]).get(key[1]) for key in hydra_patches.WRAPPERS}


def test_importing_the_cli_patches_nothing():
    before = _patched()
    import fpexp.cli  # noqa: F401

    assert _patched() == before
    assert not _active()


def test_the_patches_are_removed_on_exit_nested_and_on_error():
    plain = _patched()
    with hydra_speedups.installed() as on:
        assert on and _active()
        patched = _patched()
        assert all(patched[k] is not plain[k] for k in plain)
        with hydra_speedups.installed() as inner:
            assert inner and _patched() == patched
        assert _patched() == patched  # the inner block leaves the outer one's patches
    assert _patched() == plain
    with pytest.raises(RuntimeError, match="boom"), hydra_speedups.installed():
        raise RuntimeError("boom")
    assert _patched() == plain and not _active()


def test_a_failing_run_leaves_nothing_installed(tmp_path, monkeypatch):
    from fpexp.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["model.nope=1", "hydra.run.dir=run"]) == 2
    assert not _active()


def _other_signature(self, config_name, overrides, extra=None):
    return None


def _marked() -> list[str]:
    """The patched names of Hydra's classes and modules that carry a speed-up now."""
    return [
        f"{owner}.{name}"
        for (owner, name), fn in _patched().items()
        if hasattr(fn, "__fpexp_speedup__")
    ]


@pytest.mark.parametrize(
    "break_hydra",
    [
        lambda mp: mp.setattr(hydra, "__version__", "1.3.9"),
        lambda mp: mp.setattr(hydra, "__version__", "1.4.0"),
        lambda mp: mp.delattr("hydra.plugins.config_source.ConfigSource._normalize_file_name"),
        lambda mp: mp.delattr("hydra.plugins.sweeper.Sweeper.validate_batch_is_legal"),
        lambda mp: mp.setattr("hydra._internal.hydra.Hydra.get_mode", _other_signature),
        lambda mp: mp.delattr(import_module(f"{CORE}.basic_launcher"), "BasicLauncher"),
        lambda mp: mp.setattr(import_module(LOADER), "create_defaults_list", _other_signature),
        lambda mp: mp.delattr("hydra.core.config_store.ConfigStore._load"),
        lambda mp: mp.setattr(_owners()[("StructuredConfigSource", "list")], "list", len),
    ],
    ids=[
        "newer-1.3",
        "1.4",
        "no-normalize",
        "no-validate",
        "get_mode-signature",
        "no-launcher",
        "defaults-list-signature",
        "no-store-load",
        "source-list-builtin",
    ],
)
def test_an_untested_hydra_runs_plain(monkeypatch, break_hydra):
    with hydra_speedups.installed():
        assert len(_marked()) == len(hydra_patches.WRAPPERS)  # the tested Hydra: every one
    break_hydra(monkeypatch)
    with hydra_speedups.installed() as on:
        assert on is False
        assert _marked() == []
        assert not _active()


def _compose(conf: Path, *overrides: str) -> dict:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            cfg = compose("c", overrides=list(overrides), return_hydra_config=True)
            return OmegaConf.to_container(cfg, resolve=False)
    finally:
        GlobalHydra.instance().clear()


@pytest.mark.parametrize("inside", [False, True], ids=["after-import", "inside-installed"])
def test_an_edited_yaml_file_is_seen_by_the_next_composition(tmp_path, inside):
    import fpexp.cli  # noqa: F401

    conf = tmp_path / "conf"
    (conf / "g").mkdir(parents=True)
    (conf / "c.yaml").write_text("defaults:\n  - g: one\n  - _self_\nx: 1\n")
    (conf / "g" / "one.yaml").write_text("y: 1\n")
    with hydra_speedups.installed() if inside else _nothing():
        first = _compose(conf)
        rewrite_in_place(conf / "c.yaml", "defaults:\n  - g: one\n  - _self_\nx: 2\n")
        rewrite_in_place(conf / "g" / "one.yaml", "y: 2\n")
        second = _compose(conf)
    assert (first["x"], first["g"]["y"]) == (1, 1)
    assert (second["x"], second["g"]["y"]) == (2, 2)


def _nothing():
    from contextlib import nullcontext

    return nullcontext()


def test_a_file_edited_during_a_sweep_is_seen_by_the_later_jobs(tmp_path, monkeypatch):
    """Plain Hydra composes each job at its launch: so must the speed-ups (not at validation)."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "c.yaml").write_text("x: 1\ny: 0\n")
    seen = []

    def task(cfg):
        seen.append(cfg.x)
        rewrite_in_place(conf / "c.yaml", "x: 2\ny: 0\n")

    app = hydra.main(version_base="1.3", config_path=str(conf), config_name="c")(task)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["app", "-m", "y=1,1,2", "hydra.sweep.dir=sweep"])
    with hydra_speedups.installed() as on:
        assert on
        app()
    assert seen == [1, 2, 2]


def test_cached_composition_is_identical(compose_cfg):
    """The shipped config, composed with and without the speed-ups, twice each."""
    register()
    cases = [["task=multiclass", "model.width=8"], ["data=synthetic", "seed=3"], []]

    def all_trees() -> list:
        trees = []
        for overrides in cases * 2:
            GlobalHydra.instance().clear()
            with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
                cfg = compose(CONFIG_NAME, overrides=overrides, return_hydra_config=True)
            tree = OmegaConf.to_container(cfg, resolve=False)
            tree["hydra"]["runtime"].pop("output_dir", None)
            trees.append(tree)
        return trees

    plain = all_trees()
    with hydra_speedups.installed():
        fast = all_trees()
    assert fast == plain


def test_yaml_parses_are_kept_for_the_process_by_exact_bytes(tmp_path, monkeypatch):
    """A later call reuses the parse of identical bytes (a notebook's, a suite's next run) and
    parses a file whose bytes changed afresh; the cache is bounded."""
    source_class = _owners()[("FileConfigSource", "load_config")]
    (tmp_path / "c.yaml").write_text("a: 1\n")
    source = source_class(provider="test", path=f"file://{tmp_path}")
    monkeypatch.setattr(hydra_observe, "PARSED", {})
    with hydra_speedups.installed():
        assert source.load_config("c.yaml").config == {"a": 1}
    assert len(hydra_observe.PARSED) == 1  # kept after the block
    with hydra_speedups.installed():
        first = source.load_config("c.yaml").config
        (tmp_path / "c.yaml").write_text("a: 2\n")  # same size, new bytes
        assert source.load_config("c.yaml").config == {"a": 2} and first == {"a": 1}
    monkeypatch.setattr(hydra_observe, "PARSED_LIMIT", 2)
    with hydra_speedups.installed():
        (tmp_path / "c.yaml").write_text("a: 3\n")
        assert source.load_config("c.yaml").config == {"a": 3}
    assert len(hydra_observe.PARSED) == 1  # full: cleared before the new parse
