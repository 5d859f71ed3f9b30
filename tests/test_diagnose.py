"""The error path of a bad override: every problem found, with as few compositions as Hydra allows.

``diagnose`` applies plain config overrides to the composed config of the good group choices
(Hydra's own code for them) instead of recomposing per override; the speed-ups hand Hydra's
failed composition over instead of repeating it. Both must say exactly what plain Hydra says.
"""

from __future__ import annotations

import pytest
from conftest import call_fpexp
from hydra._internal.config_loader_impl import ConfigLoaderImpl

from fpexp.config import hydra_speedups
from fpexp.config.diagnose import diagnose

ALLOWED = (
    "allowed keys: hidden, width, depth, activation, bias, in_features, weights, layers, norm, "
    "dropout, weights_key, weights_prefix"
)
# Overrides that are not a plain key=value (deletions, additions, group paths, packages,
# sweeps, a group choice before its keys): the problems, as recomposing per override found them.
UNUSUAL = [
    (
        ["~model.nothing"],
        ["model.nothing: Could not delete from config. 'model.nothing' does not exist."],
    ),
    (["+model.hidden=[3]"], []),
    (
        ["schema/data=file"],
        ["schema/data: Could not override 'schema/data'. No match in the defaults list."],
    ),
    (["model@x=mlp"], ["model: Could not override 'model@x'."]),
    (
        ["++model.zzz=3", "model.hiden=1"],
        [f"model.hiden: unknown key ({ALLOWED})", f"model.zzz: unknown key ({ALLOWED})"],
    ),
    (["seed=1,a"], ["seed: a has the wrong type (expected an integer)"]),
    (
        ["data=synthetic", "data.n_rows=5", "data.path=x"],
        [
            "data.path: unknown key for data=synthetic (allowed keys: source, n_rows, "
            "n_features, seed)"
        ],
    ),
    (
        ["~model.weights", "task.threshold=2"],
        [
            "model.weights: Could not delete from config. 'model.weights' does not exist.",
            "task.threshold: 2.0 is outside [0, 1] (a probability between 0 and 1)",
        ],
    ),
]


@pytest.mark.parametrize(("overrides", "lines"), UNUSUAL, ids=lambda v: " ".join(v)[:30])
def test_unusual_overrides_are_diagnosed_as_by_recomposing(overrides, lines):
    assert [str(p) for p in diagnose(overrides)] == lines


@pytest.fixture
def compositions(monkeypatch) -> list[int]:
    """Counts the compositions of the config (Hydra's, whatever asks for them)."""
    count = [0]
    compose = ConfigLoaderImpl._load_configuration_impl

    def counting(self, *args, **kwargs):
        count[0] += 1
        return compose(self, *args, **kwargs)

    monkeypatch.setattr(ConfigLoaderImpl, "_load_configuration_impl", counting)
    return count


@pytest.mark.parametrize(
    ("overrides", "fast", "plain"),
    [
        # with the speed-ups: RUN and MULTIRUN (both fail), then diagnose's base (and one per
        # group choice); plain (untested) Hydra: get_mode, run, then diagnose's base and one
        # full composition per plain override it checks (Hydra's internal step is not used)
        (["model.hiden=3", "seed=x"], 3, 5),
        (["task=ranking", "seed=x"], 4, 5),  # and one per group choice
        (["hydra.job.chdir=1,2", "seed=x"], 5, 4),  # a sweep over hydra: Hydra's get_mode too
    ],
)
def test_a_composition_error_says_what_plain_hydra_says(
    tmp_path, monkeypatch, compositions, overrides, fast, plain
):
    quick = call_fpexp([*overrides, f"hydra.run.dir={tmp_path / 'a'}"], tmp_path)
    assert compositions[0] == fast
    monkeypatch.setattr(hydra_speedups, "TESTED_HYDRA", frozenset())  # plain Hydra
    compositions[0] = 0
    slow = call_fpexp([*overrides, f"hydra.run.dir={tmp_path / 'b'}"], tmp_path)
    assert compositions[0] == plain
    assert (quick.returncode, quick.stdout, quick.stderr) == (2, "", slow.stderr)
    assert slow.returncode == 2 and slow.stderr.startswith("fpexp: error: ")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    "overrides",
    [o for o, _ in UNUSUAL] + [["model.hiden=3", "seed=x", "task.threshold=2"]],
    ids=lambda v: " ".join(v)[:30],
)
def test_on_an_untested_hydra_each_check_is_a_full_composition_with_the_same_problems(
    monkeypatch, overrides
):
    """``_apply_overrides_to_config`` is Hydra-internal: used only on a tested Hydra."""
    fast = [str(p) for p in diagnose(overrides)]
    monkeypatch.setattr(hydra_speedups, "TESTED_HYDRA", frozenset())
    assert [str(p) for p in diagnose(overrides)] == fast
