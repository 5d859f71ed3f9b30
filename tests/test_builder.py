"""The builder turns configs into the exact nn.Sequential a user expects."""

from __future__ import annotations

import pytest
import torch
from support import LESSON, MULTICLASS, REGRESSION
from torch import nn

from fpexp.builder import build
from fpexp.config.schema import ACTIVATIONS
from fpexp.heads import Head
from fpexp.layer_list import locate
from fpexp.mlp import ACTIVATION_TARGETS
from fpexp.model_shape import ModelShape


def _build(cfg) -> nn.Sequential:
    return build(cfg.model, ModelShape.from_config(cfg.model, 6), Head.from_config(cfg.task)).model


@pytest.mark.parametrize(
    ("task", "expected"),
    [("binary", LESSON), ("multiclass", MULTICLASS), ("regression", REGRESSION)],
)
def test_each_task_builds_the_documented_sequential(compose_cfg, task, expected):
    assert str(_build(compose_cfg(f"task={task}"))) == expected


def test_default_model_is_the_lesson_model_with_the_same_weights(compose_cfg):
    torch.manual_seed(42)
    ours = _build(compose_cfg())
    torch.manual_seed(42)
    lesson = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 1), nn.Sigmoid())
    assert str(ours) == LESSON
    for a, b in zip(ours.state_dict().values(), lesson.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_activation_goes_between_hidden_layers_only(compose_cfg):
    model = _build(compose_cfg("model.hidden=[8,5]", "model.activation=relu", "model.bias=false"))
    types = [type(m).__name__ for m in model]
    assert types == ["Linear", "ReLU", "Linear", "ReLU", "Linear", "Sigmoid"]
    assert [m.out_features for m in model if isinstance(m, nn.Linear)] == [8, 5, 1]
    assert all(m.bias is None for m in model if isinstance(m, nn.Linear))


def test_no_hidden_layers_is_a_single_linear(compose_cfg):
    model = _build(compose_cfg("model.hidden=[]", "task=regression"))
    assert str(model) == "Sequential(\n  (0): Linear(in_features=6, out_features=1, bias=True)\n)"


def test_every_schema_activation_has_a_module():
    assert set(ACTIVATION_TARGETS) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", [a for a in ACTIVATIONS if a != "none"])
def test_each_activation_builds_and_runs(compose_cfg, name):
    model = _build(compose_cfg("model.hidden=[3,3]", f"model.activation={name}"))
    assert type(model[1]) is locate(ACTIVATION_TARGETS[name])
    assert model(torch.zeros(2, 6)).shape == (2, 1)
