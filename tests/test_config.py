"""Shipped configs: each composes, validates, documents its command, and shows in --help."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpexp.config.schema import hidden_widths
from fpexp.config.store import config_dir
from fpexp.config.validate import check_config, check_device, check_in_features
from fpexp.data import SOURCES

CONF = Path(config_dir())
GROUP_OPTIONS = [
    (p.parent.name, p.stem) for p in sorted(CONF.glob("*/*.yaml")) if p.parent.name != "hydra"
]


def test_config_tree_is_the_top_level_conf_in_a_checkout():
    assert Path(__file__).resolve().parent.parent / "conf" == CONF


@pytest.mark.parametrize("path", sorted(CONF.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_yaml_starts_with_the_command_that_uses_it(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# python -m fpexp"), f"{path}: {first!r}"


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS)
def test_every_group_option_composes_and_validates(compose_cfg, group, option):
    cfg = compose_cfg(f"{group}={option}")
    assert check_config(cfg) == []


def test_default_config(compose_cfg):
    cfg = compose_cfg()
    assert cfg.task.kind == "binary" and cfg.task.threshold == 0.5
    assert cfg.task.classes is None  # the lesson data names its classes; other data by index
    assert hidden_widths(cfg.model) == [4] and cfg.model.activation == "none"
    assert cfg.model.bias is True and cfg.model.in_features is None
    assert cfg.data.source == "animals" and cfg.device == "cpu" and cfg.dtype == "float32"


def test_synthetic_seed_follows_the_run_seed_unless_set(compose_cfg):
    assert compose_cfg("data=synthetic", "seed=7").data.seed == 7
    assert compose_cfg("data=synthetic", "seed=7", "data.seed=3").data.seed == 3


def test_data_sources_table_and_config_group_agree(compose_cfg):
    from fpexp.config.help import group_options

    assert sorted(SOURCES) == [p.stem for p in group_options()["data"]]
    for name, entry in SOURCES.items():
        cfg = compose_cfg(f"data={name}", "data.path=x.csv") if name == "file" else None
        cfg = cfg or compose_cfg(f"data={name}")
        assert cfg.data.source == name and set(cfg.data) == set(entry.schema.__dataclass_fields__)


def keys(problems):
    return [p.key for p in problems]


def test_validation_reports_every_problem_at_once(compose_cfg):
    cfg = compose_cfg(
        "model.hidden=[0,4,-2]",
        "model.activation=swish",
        "task.threshold=1.5",
        "task.classes=[a,b,c]",
        "dtype=int8",
        "device=tpu",
    )
    assert keys(check_config(cfg)) == [
        "task.threshold",
        "task.classes",
        "model.hidden[0]",
        "model.hidden[2]",
        "model.activation",
        "device",
        "dtype",
    ]


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["task=multiclass", "task.out_features=4", "task.classes=[a,b,c]"], "task.classes"),
        (["task=multiclass", "task.threshold=0.5"], "task.threshold"),
        (["task=regression", "task.classes=[a]"], "task.classes"),
        (["task.out_features=2"], "task.out_features"),
        (["task.threshold=-0.1"], "task.threshold"),
        (["task.classes=[a,a]"], "task.classes"),
        (["model.in_features=0"], "model.in_features"),
        (["data=synthetic", "data.n_features=0"], "data.n_features"),
    ],
)
def test_single_value_problems(compose_cfg, overrides, key):
    assert keys(check_config(compose_cfg(*overrides))) == [key]


def test_threshold_bounds_are_inclusive(compose_cfg):
    assert check_config(compose_cfg("task.threshold=0")) == []
    assert check_config(compose_cfg("task.threshold=1")) == []


@pytest.mark.parametrize(
    ("spec", "cuda", "mps", "bad"),
    [
        ("cpu", 0, False, False),
        ("auto", 0, False, False),
        ("cuda", 0, False, True),
        ("cuda", 1, False, False),
        ("cuda:1", 1, False, True),
        ("cuda:1", 2, False, False),
        ("mps", 0, False, True),
        ("mps", 0, True, False),
    ],
)
def test_device_availability(spec, cuda, mps, bad):
    assert bool(check_device(spec, cuda, mps)) is bad


def test_in_features_must_match_the_data(compose_cfg):
    model = compose_cfg("model.in_features=5").model
    (problem,) = check_in_features(model, 6, "animals")
    assert str(problem) == (
        "model.in_features: 5 does not match the 6 features of data 'animals' (null or 6)"
    )
    assert check_in_features(compose_cfg("model.in_features=6").model, 6, "animals") == []


def test_help_lists_every_group_option_and_subcommand_from_the_tree():
    from fpexp.commands import COMMANDS
    from fpexp.config.help import commands_text, groups_text

    groups = groups_text().splitlines()
    for group in {g for g, _ in GROUP_OPTIONS}:
        options = sorted(o for g, o in GROUP_OPTIONS if g == group)
        assert f"{group}: {', '.join(options)}" in groups
        for option in options:
            described = [line for line in groups if line.strip().startswith(option + " ")]
            assert described and not described[0].strip().endswith(option), option
    commands = commands_text().splitlines()
    assert [line.split()[1] for line in commands] == list(COMMANDS)
