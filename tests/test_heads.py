"""Heads turn outputs into predictions exactly as documented; the registry holds every head, and
rules common to heads hold for each of them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ENV
from safetensors.torch import load_file
from torch import nn

from fpexp.app import run_experiment
from fpexp.config.schema import TASK_KINDS
from fpexp.config.store import config_dir
from fpexp.config.validate import check_config
from fpexp.heads import Head, head_class, kinds
from fpexp.heads.binary import BinaryHead
from fpexp.heads.multiclass import MulticlassHead
from fpexp.tables import read_table


def binary(threshold: float = 0.5) -> Head:
    return BinaryHead(1, threshold, ("not_mammal", "mammal"))


def test_binary_class_1_where_p_reaches_the_threshold_inclusive():
    p = torch.tensor([[0.0], [0.4999], [0.5], [0.5001], [1.0]])
    assert binary().predict(p).tolist() == [0, 0, 1, 1, 1]


def test_binary_threshold_is_configurable_and_exact():
    p = torch.tensor([[0.69], [0.7], [0.71]])
    assert binary(0.7).predict(p).tolist() == [0, 1, 1]
    assert binary(0.0).predict(p).tolist() == [1, 1, 1]
    assert binary(1.0).predict(torch.tensor([[0.99], [1.0]])).tolist() == [0, 1]


def test_binary_names_its_output_after_the_positive_class():
    assert binary().output_names() == ["mammal"]
    assert binary().label(1) == "mammal"


def test_multiclass_is_softmax_then_argmax_first_on_ties():
    head = MulticlassHead(3, None, ("mammal", "bird", "reptile"))
    act = head.activation()
    assert isinstance(act, torch.nn.Softmax) and act.dim == -1
    probs = act(torch.tensor([[1.0, 2.0, 0.5], [3.0, 3.0, 1.0]]))
    assert torch.allclose(probs.sum(-1), torch.ones(2))
    assert head.predict(probs).tolist() == [1, 0]
    assert head.output_names() == ["mammal", "bird", "reptile"]


def test_regression_has_no_activation_and_predicts_the_value():
    head = Head.of("regression", 1)
    assert head.activation() is None
    assert head.predict(torch.tensor([[1.5], [-2.0]])).tolist() == [1.5, -2.0]
    assert Head.of("regression", 2).output_names() == ["output_0", "output_1"]


# --- the registry -------------------------------------------------------------------------


def test_every_registered_head_has_its_config_group_and_nothing_else_does():
    yamls = sorted(p.stem for p in Path(config_dir()).joinpath("task").glob("*.yaml"))
    assert list(kinds()) == yamls == list(TASK_KINDS)
    assert all(head_class(k).kind == k for k in kinds())


def test_an_unknown_task_lists_the_registered_heads(compose_cfg):
    problems = check_config(compose_cfg("task.kind=ranking"))
    assert [str(p) for p in problems] == [
        "task.kind: unknown task 'ranking' (one of: binary, multiclass, multilabel, regression)"
    ]


@pytest.mark.parametrize("kind", kinds())
def test_from_config_gives_the_registered_class_with_the_tasks_settings(kind, compose_cfg):
    task = compose_cfg(f"task={kind}").task
    head = Head.from_config(task)
    assert type(head) is head_class(kind)
    assert (head.out_features, head.threshold) == (task.out_features, task.threshold)


@pytest.mark.slow
def test_the_registry_and_validation_import_no_numpy_or_torch_and_runs_diff_no_torch():
    code = (
        "import sys\n"
        "from fpexp.heads import heads\n"
        "import fpexp.config.validate\n"
        "assert len(heads()) == 4\n"
        "light = sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'torch'})\n"
        "import fpexp.commands.runs, fpexp.commands.diff, fpexp.run_diff\n"
        "print(light, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert done.stdout.split() == ["[]", "False"], done.stderr


# --- each head against a hand-built model loaded with the run's saved weights --------------

HAND = {  # out_features, output activation, prediction columns as computed by hand
    "binary": (1, nn.Sigmoid, lambda o: (o[:, :1] >= 0.5).long()),
    "multiclass": (3, lambda: nn.Softmax(dim=-1), lambda o: o.argmax(-1, keepdim=True)),
    "multilabel": (3, nn.Sigmoid, lambda o: (o >= 0.5).long()),
    "regression": (1, None, lambda o: o),
}


def test_every_head_is_checked_by_hand():
    assert sorted(HAND) == list(kinds())


@pytest.mark.parametrize("kind", sorted(HAND))
def test_outputs_and_predictions_match_a_hand_built_model(kind, compose_cfg, tmp_path):
    cfg = compose_cfg(f"task={kind}", "data=synthetic", "data.n_rows=40", "model.hidden=[5]")
    run_experiment(cfg, tmp_path)
    out_features, act, predict = HAND[kind]
    model = nn.Sequential(nn.Linear(6, 5), nn.Linear(5, out_features), *([act()] if act else []))
    model.load_state_dict(load_file(tmp_path / "weights.safetensors"))
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(42))  # data=synthetic, seed 42
    rec = json.loads((tmp_path / "run.json").read_text())
    assert rec["input"]["sha256"] == hashlib.sha256(x.numpy().tobytes()).hexdigest()
    with torch.no_grad():
        expected = model(x)
    outputs = read_table(tmp_path / "outputs.csv")
    got = np.column_stack([outputs[c] for c in list(outputs)[1:]]).astype(np.float32)
    assert got.shape == (40, out_features)
    assert np.array_equal(got, expected.numpy())
    preds = read_table(tmp_path / "predictions.csv")
    columns = [c for c in preds if c not in ("id", "label")]
    got_preds = np.column_stack([preds[c] for c in columns])
    assert np.array_equal(got_preds.astype(np.float32), predict(expected).numpy())


# --- rules every head follows ---------------------------------------------------------------


def _problems(compose_cfg, kind: str, *overrides: str) -> list[str]:
    return [str(p) for p in check_config(compose_cfg(f"task={kind}", *overrides))]


@pytest.mark.parametrize("kind", kinds())
def test_every_head_needs_a_positive_width(kind, compose_cfg):
    problems = _problems(compose_cfg, kind, "task.out_features=0")
    assert "task.out_features: 0 is not positive (an integer >= 1)" in problems


@pytest.mark.parametrize("kind", kinds())
def test_a_threshold_only_where_the_head_thresholds(kind, compose_cfg):
    if head_class(kind).has_threshold:
        problems = _problems(compose_cfg, kind, "task.threshold=1.5")
        assert problems == ["task.threshold: 1.5 is outside [0, 1] (a probability between 0 and 1)"]
    else:
        problems = _problems(compose_cfg, kind, "task.threshold=0.5")
        assert problems == [f"task.threshold: is set but a {kind} task has no threshold (null)"]


@pytest.mark.parametrize("kind", kinds())
def test_class_names_only_where_the_head_has_classes_and_distinct(kind, compose_cfg):
    cls = head_class(kind)
    width = {"binary": 2}.get(kind, 3)
    names = ",".join(["a"] * width)
    problems = _problems(compose_cfg, kind, f"task.classes=[{names}]")
    if cls.has_classes:
        assert problems == [f"task.classes: duplicate names in {['a'] * width} (distinct names)"]
    else:
        assert problems == [f"task.classes: is set but a {kind} task has no classes (null)"]


@pytest.mark.parametrize("kind", kinds())
def test_data_label_list_or_column_as_the_head_reads_it(kind, compose_cfg):
    file = ("data=file", "data.path=zoo.csv", "task.out_features=3" if kind == "multilabel" else "")
    one = _problems(compose_cfg, kind, *filter(None, file), "data.label=has_hair")
    many = _problems(compose_cfg, kind, *filter(None, file), "data.label=[has_hair,flies,fins]")
    if head_class(kind).label_list:
        assert many == []
        assert one == [
            f"data.label: 'has_hair' is one column, but a {kind} task reads a list of 0/1 "
            "columns (a list: data.label=[has_hair,...])"
        ]
    else:
        assert one == []
        assert many == [
            f"data.label: a list of columns [has_hair, flies, fins], but a {kind} task reads one "
            "label column (one column name; a list needs task=multilabel)"
        ]


HEADLINES = {
    "binary": ({"accuracy": 0.8, "bce": 0.3}, "accuracy=0.8000"),
    "multiclass": ({"accuracy": 0.25}, "accuracy=0.2500"),
    "multilabel": ({"subset_accuracy": 0.5, "hamming_loss": 0.2}, "subset_accuracy=0.5000"),
    "regression": ({"mse": 0.012345, "mae": 0.1}, "mse=0.01235"),
}


@pytest.mark.parametrize("kind", kinds())
def test_each_head_names_its_headline_metric(kind):
    metrics, line = HEADLINES[kind]
    assert head_class(kind).headline(metrics) == line
    assert head_class(kind).headline({}) is None
    assert head_class(kind).headline({head_class(kind).headline_metric: "x"}) is None
