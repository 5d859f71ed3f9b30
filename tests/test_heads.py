"""Heads turn outputs into predictions exactly as documented."""

from __future__ import annotations

import torch

from fpexp.heads import Head


def binary(threshold: float = 0.5) -> Head:
    return Head("binary", 1, threshold, ("not_mammal", "mammal"))


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
    head = Head("multiclass", 3, None, ("mammal", "bird", "reptile"))
    act = head.activation()
    assert isinstance(act, torch.nn.Softmax) and act.dim == -1
    probs = act(torch.tensor([[1.0, 2.0, 0.5], [3.0, 3.0, 1.0]]))
    assert torch.allclose(probs.sum(-1), torch.ones(2))
    assert head.predict(probs).tolist() == [1, 0]
    assert head.output_names() == ["mammal", "bird", "reptile"]


def test_regression_has_no_activation_and_predicts_the_value():
    head = Head("regression", 1, None, None)
    assert head.activation() is None
    assert head.predict(torch.tensor([[1.5], [-2.0]])).tolist() == [1.5, -2.0]
    assert Head("regression", 2, None, None).output_names() == ["output_0", "output_1"]
