"""``task=binary``: one sigmoid probability per row; class 1 where p >= ``task.threshold``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fpexp.errors import Problem
from fpexp.heads.base import Accumulator, fmt
from fpexp.heads.categorical import CategoricalHead, ClassCounts
from fpexp.metrics import bce_terms

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class BinaryHead(CategoricalHead):
    """Sigmoid over one output: the probability of the positive class (class 1)."""

    kind = "binary"
    has_threshold = True
    one_vs_rest = True
    headline_metric = "accuracy"

    @property
    def n_classes(self) -> int:
        return 2

    @classmethod
    def task_problems(cls, task: Any) -> list[Problem]:
        out = []
        if task.out_features != 1:
            what = f"{task.out_features} for a binary task"
            out.append(Problem("task.out_features", what, "1: one sigmoid probability"))
        n = len(task.classes) if task.classes is not None else 2
        if n != 2:
            what = f"{n} class names for a binary task"
            out.append(Problem("task.classes", what, "exactly 2: [negative, positive]"))
        return out

    def activation(self) -> nn.Module:
        from torch import nn

        return nn.Sigmoid()

    def output_names(self) -> list[str]:
        """The positive class's name (``p`` before the classes are named)."""
        return [self.classes[1]] if self.classes else ["p"]

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        import torch

        return (outputs[:, 0] >= self.cut).to(torch.int64)

    def row_text(self, output: list[float], prediction: Any) -> str:
        pred = int(prediction)
        return f"p({self.output_names()[0]})={fmt(output[0])}  -> {self.label(pred)} ({pred})"

    def metrics(self) -> Accumulator:
        return _BinaryMetrics(2)


class _BinaryMetrics(Accumulator):
    """Accuracy, mean binary cross-entropy and the confusion counts."""

    def __init__(self, k: int) -> None:
        self.counts = ClassCounts(k)
        self.sums = dict.fromkeys(("loss", "tp", "tn", "fp", "fn"), 0.0)

    def update(self, outputs: torch.Tensor, predictions: torch.Tensor, targets: Any) -> None:
        import numpy as np
        import torch

        y = torch.from_numpy(targets)
        pred = predictions.to(torch.int64)
        hit = pred == y
        self.sums["loss"] += float(-bce_terms(outputs.to(torch.float64)[:, 0], y).sum())
        for name, mask in (
            ("tp", hit & (y == 1)),
            ("tn", hit & (y == 0)),
            ("fp", ~hit & (pred == 1)),
            ("fn", ~hit & (pred == 0)),
        ):
            self.sums[name] += float(mask.sum())
        self.counts.add(np.asarray(targets), hit)

    def result(self) -> dict[str, Any]:
        n = self.counts.n
        out: dict[str, Any] = {"n": n, "accuracy": self.counts.accuracy()}
        out["bce"] = self.sums["loss"] / max(n, 1)
        out.update({k: int(self.sums[k]) for k in ("tp", "fp", "tn", "fn")})
        return out
