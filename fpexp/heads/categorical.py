"""What the one-class-per-row heads (binary, multiclass) share: class names, labels as class
names or indices, one ``prediction`` column, per-class counts.

A head's class names come from ``task.classes`` when given, else from the data when it is the
lesson's (the embedded animals name their classes), else from the class indices (``0``, ``1``,
...). ``named`` settles them once the data is known and records where they came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from fpexp.errors import Problem, UsageError
from fpexp.heads.base import GIVEN, INDICES, LESSON, Head
from fpexp.heads.checks import bad_label, nul_label

if TYPE_CHECKING:
    import numpy as np
    import torch


@dataclass(frozen=True)
class CategoricalHead(Head):
    """A head that puts each row in exactly one of ``n_classes`` classes."""

    has_classes = True
    one_vs_rest: ClassVar[bool] = False  # a ``positive`` class name makes labels 1 or 0

    @property
    def n_classes(self) -> int:
        return self.out_features

    @classmethod
    def flipped(cls, a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> np.ndarray | None:
        import numpy as np

        if "prediction" not in a or "prediction" not in b or len(a["id"]) != len(b["id"]):
            return None
        return np.asarray(np.asarray(a["prediction"]) != np.asarray(b["prediction"]))

    def named(
        self,
        lesson: Mapping[str, Sequence[str]] | None = None,
        label_names: Sequence[str] | None = None,
    ) -> Head:
        """``task.classes``, else the lesson data's names for this kind, else the indices.
        ``UsageError`` if the lesson's names do not fit the head."""
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

    def label(self, index: int) -> str:
        assert self.classes is not None
        return self.classes[index]

    def label_hint(self) -> str:
        """What a true label may be, for the message about one that is not."""
        names = ", ".join(self.classes or ())
        if self.classes_from == INDICES:
            return f"class indices {names}; to use names, give them in task.classes=[...]"
        return f"one of: {names}"

    def prediction_columns(
        self, ids: np.ndarray, predictions: np.ndarray, names: bool
    ) -> dict[str, np.ndarray]:
        import numpy as np

        columns = {"id": ids, "prediction": predictions}
        if names:
            columns["label"] = np.asarray(self.classes)[predictions]
        return columns

    def count(self, predictions: np.ndarray) -> np.ndarray | None:
        import numpy as np

        return np.bincount(predictions, minlength=len(self.classes or ()))

    def encode(self, raw: np.ndarray, rows: np.ndarray, positive: str | None = None) -> np.ndarray:
        """Class indices (int64) for a batch of raw labels: names from the head's classes, or
        indices. ``positive`` (the embedded animals) makes a one-vs-rest head's labels 0/1."""
        import numpy as np

        classes = list(self.classes or [])
        if raw.dtype.kind in "biuf":
            if problem := self._ambiguous():
                raise UsageError([problem])
            values = np.asarray(raw, dtype=np.float64)
            ok = (values == np.round(values)) & (values >= 0) & (values < len(classes))
            if not ok.all():
                row = int(np.argmin(ok))
                raise bad_label(
                    f"{raw[row]} (row {rows[row]}) is not a class index",
                    f"0 to {len(classes) - 1}, or one of: {', '.join(classes)}",
                )
            return values.astype(np.int64)
        if raw.dtype.kind == "O" and (nul := nul_label(raw, rows)) is not None:
            raise nul
        names = raw.astype(str)
        if self.one_vs_rest and positive is not None:
            return (names == positive).astype(np.int64)
        lookup = {name: i for i, name in enumerate(classes)}
        out = np.fromiter((lookup.get(n, -1) for n in names), dtype=np.int64, count=len(names))
        if (out < 0).any():
            row = int(np.argmax(out < 0))
            what = f"'{names[row]}' (row {rows[row]}) is not a class"
            raise bad_label(what, self.label_hint())
        return out

    def _ambiguous(self) -> Problem | None:
        """Numeric labels read as class indices; with ``task.classes`` naming classes by numbers
        other than their own index (``[1, 0]``), a label ``0`` could mean either: refused."""
        if self.classes_from != GIVEN or not self.classes:
            return None
        numbers = [(i, n, _number(n)) for i, n in enumerate(self.classes)]
        clash = [f"'{n}' at index {i}" for i, n, v in numbers if v is not None and v != i]
        if not clash:
            return None
        what = (
            f"numeric labels are class indices, but task.classes names {', '.join(clash)}: "
            "a label could mean the index or the name"
        )
        allowed = "class names that are not numbers (task.classes=[no, yes]), or labels as names"
        return Problem("task.classes", what, allowed)

    def true_text(self, raw: Any) -> str:
        """A true label as the class it names: a class index becomes its class's name; a name
        (the lesson's, or a string label) stays as it is."""
        import numpy as np

        if not self.classes or isinstance(raw, str | np.str_):
            return str(raw)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            return str(raw)
        if value.is_integer() and 0 <= value < len(self.classes):
            return self.classes[int(value)]
        return str(raw)


def _number(name: str) -> float | None:
    try:
        return float(name)
    except ValueError:
        return None


class ClassCounts:
    """Per class: true labels and correct predictions, summed over batches."""

    def __init__(self, k: int) -> None:
        import numpy as np

        self.n = 0
        self.true = np.zeros(k, dtype=np.int64)
        self.correct = np.zeros(k, dtype=np.int64)

    def add(self, targets: np.ndarray, hit: torch.Tensor) -> None:
        import numpy as np

        k = len(self.true)
        self.n += len(targets)
        self.true += np.bincount(targets, minlength=k)
        self.correct += np.bincount(targets[hit.numpy()], minlength=k)

    def accuracy(self) -> float:
        return int(self.correct.sum()) / max(self.n, 1)
