"""``task=multiclass``: softmax over one output per class; the prediction is the argmax."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fpexp.errors import Problem
from fpexp.heads.base import Accumulator, fmt
from fpexp.heads.categorical import CategoricalHead, ClassCounts
from fpexp.heads.checks import one_name_per_output
from fpexp.metrics import LOG_FLOOR

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class MulticlassHead(CategoricalHead):
    """Softmax(dim=-1) over ``out_features`` outputs, one per class; first argmax on ties."""

    kind = "multiclass"
    headline_metric = "accuracy"

    @classmethod
    def task_problems(cls, task: Any) -> list[Problem]:
        return one_name_per_output(task)

    def activation(self) -> nn.Module:
        from torch import nn

        return nn.Softmax(dim=-1)

    def output_names(self) -> list[str]:
        return list(self.classes) if self.classes else super().output_names()

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.argmax(dim=-1)

    def row_text(self, output: list[float], prediction: Any) -> str:
        pred = int(prediction)
        names = self.output_names()
        probs = "  ".join(f"{n}={fmt(v)}" for n, v in zip(names, output, strict=True))
        return f"{probs}  -> {self.label(pred)} ({pred})"

    def metrics(self) -> Accumulator:
        return _MulticlassMetrics(self.classes or ())


class _MulticlassMetrics(Accumulator):
    """Accuracy, mean cross-entropy, and per class the true labels and correct predictions."""

    def __init__(self, classes: tuple[str, ...]) -> None:
        self.classes = classes
        self.counts = ClassCounts(len(classes))
        self.loss = 0.0

    def update(self, outputs: torch.Tensor, predictions: torch.Tensor, targets: Any) -> None:
        import numpy as np
        import torch

        y = torch.from_numpy(targets)
        picked = outputs.to(torch.float64).gather(1, y.view(-1, 1))[:, 0]
        self.loss += float(-picked.log().clamp(min=LOG_FLOOR).sum())
        self.counts.add(np.asarray(targets), predictions.to(torch.int64) == y)

    def result(self) -> dict[str, Any]:
        n = self.counts.n
        out: dict[str, Any] = {"n": n, "accuracy": self.counts.accuracy()}
        out["cross_entropy"] = self.loss / max(n, 1)
        counts = zip(self.classes, self.counts.true, self.counts.correct, strict=True)
        for name, t, c in counts:
            out[f"true[{name}]"] = int(t)
            out[f"correct[{name}]"] = int(c)
        return out
