"""Task heads: the output activation and how outputs become predictions. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Head:
    """What a task puts after the last Linear, and how it reads the outputs."""

    kind: str
    out_features: int
    threshold: float | None
    classes: tuple[str, ...] | None

    @classmethod
    def from_config(cls, task: object) -> Head:
        classes = getattr(task, "classes", None)
        return cls(
            kind=task.kind,  # type: ignore[attr-defined]
            out_features=int(task.out_features),  # type: ignore[attr-defined]
            threshold=getattr(task, "threshold", None),
            classes=tuple(classes) if classes is not None else None,
        )

    def activation(self) -> nn.Module | None:
        """Sigmoid for binary, Softmax(dim=-1) for multiclass, nothing for regression."""
        if self.kind == "binary":
            return nn.Sigmoid()
        if self.kind == "multiclass":
            return nn.Softmax(dim=-1)
        return None

    @property
    def is_classification(self) -> bool:
        return self.kind in ("binary", "multiclass")

    def output_names(self) -> list[str]:
        """One column name per output: the class (binary: the positive class) or output_i."""
        if self.kind == "binary":
            return [self.classes[1]] if self.classes else ["p"]
        if self.kind == "multiclass" and self.classes:
            return list(self.classes)
        return (
            ["output"]
            if self.out_features == 1
            else [f"output_{i}" for i in range(self.out_features)]
        )

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        """Class indices (binary: p >= threshold; multiclass: first argmax) or the values."""
        if self.kind == "binary":
            return (outputs[:, 0] >= self.threshold).to(torch.int64)
        if self.kind == "multiclass":
            return outputs.argmax(dim=-1)
        return outputs[:, 0] if self.out_features == 1 else outputs

    def label(self, index: int) -> str:
        assert self.classes is not None
        return self.classes[index]
