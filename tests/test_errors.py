"""Bad input: one line per problem on stderr, exit 2, no traceback, a failed record, no outputs."""

from __future__ import annotations

import json

import pytest
from conftest import run_fpexp
from support import RUN_BOOKKEEPING

# (overrides, the exact stderr lines). Value problems are found inside the run: the run
# directory exists and its record says failed. Composition problems stop before any run dir.
IN_RUN = [
    (["model.hidden=[0]"], ["model.hidden[0]: width 0 is not positive (integers >= 1)"]),
    (["model.hidden=[4,-3]"], ["model.hidden[1]: width -3 is not positive (integers >= 1)"]),
    (
        ["model.activation=swish"],
        [
            "model.activation: unknown activation 'swish' (one of: none, relu, tanh, sigmoid, gelu, silu, leaky_relu, elu)"
        ],
    ),
    (
        ["device=cuda"],
        [
            "device: 'cuda' requested but CUDA is not available on this machine (available here: cpu, auto)"
        ],
    ),
    (["dtype=float16"], ["dtype: unknown dtype 'float16' (one of: float32, float64, bfloat16)"]),
    (
        ["model.in_features=5"],
        ["model.in_features: 5 does not match the 6 features of data 'animals' (null or 6)"],
    ),
    (
        ["task.threshold=1.5"],
        ["task.threshold: 1.5 is outside [0, 1] (a probability between 0 and 1)"],
    ),
    (
        ["task.threshold=-0.01"],
        ["task.threshold: -0.01 is outside [0, 1] (a probability between 0 and 1)"],
    ),
    (
        ["task.classes=[a,b,c]"],
        ["task.classes: 3 class names for a binary task (exactly 2: [negative, positive])"],
    ),
    (
        ["task=multiclass", "task.classes=[a,b]"],
        ["task.classes: 2 class names for 3 outputs (exactly task.out_features = 3 names)"],
    ),
    (
        ["model.hidden=[0]", "model.activation=swish", "task.threshold=2"],
        [
            "task.threshold: 2.0 is outside [0, 1] (a probability between 0 and 1)",
            "model.hidden[0]: width 0 is not positive (integers >= 1)",
            "model.activation: unknown activation 'swish' (one of: none, relu, tanh, sigmoid, gelu, silu, leaky_relu, elu)",
        ],
    ),
]

AT_COMPOSE = [
    (
        ["model.hidden=[2.5]"],
        [
            "model.hidden: [2.5] has the wrong type (expected a list of integers (e.g. [4, 8]) or null)"
        ],
    ),
    (
        ["model.hidden=[a]"],
        [
            "model.hidden: [a] has the wrong type (expected a list of integers (e.g. [4, 8]) or null)"
        ],
    ),
    (
        ["task=ranking"],
        ["task: unknown option 'ranking' (one of: binary, multiclass, multilabel, regression)"],
    ),
    (
        ["model.hiden=[8]"],
        [
            "model.hiden: unknown key (allowed keys: hidden, width, depth, activation, bias, in_features, weights, layers, norm, dropout, weights_key, weights_prefix)"
        ],
    ),
    (
        ["lr=0.1"],
        [
            "lr: unknown key (allowed keys: task, model, data, device, dtype, seed, batch_size, progress, output, reuse)"
        ],
    ),
    (["model.bias=maybe"], ["model.bias: maybe has the wrong type (expected true or false)"]),
    (["seed=abc"], ["seed: abc has the wrong type (expected an integer)"]),
    (
        ["task.threshold=high"],
        ["task.threshold: high has the wrong type (expected a number or null)"],
    ),
    (
        ["model.hidden='[4,8]'"],
        [
            "model.hidden: got the string '[4,8]' instead of a list; drop the quotes around it (expected a list of integers (e.g. [4, 8]) or null)"
        ],
    ),
    (
        ["model.hidden=["],
        [
            "model.hidden=[: cannot parse override: no viable alternative at input '[' (key=value, e.g. model.hidden=[8,8])"
        ],
    ),
    (
        ["model.hiden=3", "data.n_rows=5", "model.activation=swish", "task.threshold=7"],
        [
            "model.hiden: unknown key (allowed keys: hidden, width, depth, activation, bias, in_features, weights, layers, norm, dropout, weights_key, weights_prefix)",
            "data.n_rows: unknown key for data=animals (allowed keys: source)",
            "task.threshold: 7.0 is outside [0, 1] (a probability between 0 and 1)",
            "model.activation: unknown activation 'swish' (one of: none, relu, tanh, sigmoid, gelu, silu, leaky_relu, elu)",
        ],
    ),
]


def _assert_clean_error(res, lines):
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.splitlines() == [f"fpexp: error: {line}" for line in lines]
    assert "Traceback" not in res.stdout + res.stderr


@pytest.mark.parametrize(
    ("overrides", "lines"),
    IN_RUN,
    ids=lambda v: " ".join(v)[:40] if isinstance(v, list) and v and "=" in v[0] else None,
)
def test_value_errors_fail_the_run_cleanly(tmp_path, overrides, lines):
    run_dir = tmp_path / "run"
    res = run_fpexp(overrides, run_dir, cwd=tmp_path)
    _assert_clean_error(res, lines)
    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["status"] == "failed"
    assert rec["error"] == "; ".join(lines)
    assert rec["outputs"] == {}
    present = {p.name for p in run_dir.iterdir()}
    assert present == RUN_BOOKKEEPING
    assert lines[0] in (run_dir / "fpexp.log").read_text()


@pytest.mark.parametrize(
    ("overrides", "lines"),
    AT_COMPOSE,
    ids=lambda v: " ".join(v)[:40] if isinstance(v, list) and v and "=" in v[0] else None,
)
def test_composition_errors_stop_before_any_run_directory(tmp_path, overrides, lines):
    run_dir = tmp_path / "run"
    res = run_fpexp(overrides, run_dir, cwd=tmp_path)
    _assert_clean_error(res, lines)
    assert not run_dir.exists()
    assert res.stdout == ""
