"""Task heads: the output activation, the class names, and how outputs become predictions.

A head's class names come from ``task.classes`` when given, else from the data when it is the
lesson's (the embedded animals name their classes), else from the class indices (``0``, ``1``,
...). ``named`` settles them once the data is known and records where they came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn

from fpexp.errors import Problem, UsageError

GIVEN, LESSON, INDICES = "task.classes", "the lesson data", "class indices"
SHOWN_NAMES = 20  # class names listed on the console line that says where they came from


@dataclass(frozen=True)
class Head:
    """What a task puts after the last Linear, and how it reads the outputs."""

    kind: str
    out_features: int
    threshold: float | None
    classes: tuple[str, ...] | None
    classes_from: str | None = None  # GIVEN, LESSON or INDICES once ``named``

    @classmethod
    def from_config(cls, task: object) -> Head:
        classes = getattr(task, "classes", None)
        return cls(
            kind=task.kind,  # type: ignore[attr-defined]
            out_features=int(task.out_features),  # type: ignore[attr-defined]
            threshold=getattr(task, "threshold", None),
            classes=tuple(str(c) for c in classes) if classes is not None else None,
        )

    @property
    def is_classification(self) -> bool:
        return self.kind in ("binary", "multiclass")

    @property
    def n_classes(self) -> int:
        """2 for binary (one output: p of class 1), one per output for multiclass, else 0."""
        return {"binary": 2, "multiclass": self.out_features}.get(self.kind, 0)

    def named(self, lesson: Mapping[str, Sequence[str]] | None = None) -> Head:
        """This head with its class names settled: ``task.classes``, else the lesson data's
        names for this kind (``lesson``), else the indices. ``UsageError`` if the lesson's
        names do not fit the head (multiclass with another ``task.out_features``)."""
        if not self.is_classification:
            return self
        if self.classes is not None:
            return replace(self, classes_from=GIVEN)
        names = (lesson or {}).get(self.kind)
        if names is None:
            indices = tuple(str(i) for i in range(self.n_classes))
            return replace(self, classes=indices, classes_from=INDICES)
        if len(names) != self.n_classes:
            what = (
                f"the lesson data has {len(names)} classes ({', '.join(names)}) but "
                f"task.out_features is {self.out_features}"
            )
            allowed = f"task.out_features={len(names)}, or {self.n_classes} names in task.classes"
            raise UsageError([Problem("task.classes", what, allowed)])
        return replace(self, classes=tuple(names), classes_from=LESSON)

    def classes_note(self) -> str | None:
        """``classes: 0, 1 (class indices; ...)``: the names and where they came from."""
        if self.classes is None or self.classes_from is None:
            return None
        names = ", ".join(self.classes[:SHOWN_NAMES])
        if len(self.classes) > SHOWN_NAMES:
            names += f", ... ({len(self.classes) - SHOWN_NAMES} more)"
        if self.classes_from == INDICES:
            return f"classes: {names} (class indices; name them with task.classes=[...])"
        return f"classes: {names} (from {self.classes_from})"

    def label_hint(self) -> str:
        """What a true label may be, for the message about one that is not."""
        names = ", ".join(self.classes or ())
        if self.classes_from == INDICES:
            return f"class indices {names}; to use names, give them in task.classes=[...]"
        return f"one of: {names}"

    def activation(self) -> nn.Module | None:
        """Sigmoid for binary, Softmax(dim=-1) for multiclass, nothing for regression."""
        if self.kind == "binary":
            return nn.Sigmoid()
        if self.kind == "multiclass":
            return nn.Softmax(dim=-1)
        return None

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

    def record(self) -> dict[str, object] | None:
        """run.json's ``classes``: the names and where they came from (None: no classes)."""
        if self.classes is None or not self.is_classification:
            return None
        return {"names": list(self.classes), "from": self.classes_from}
