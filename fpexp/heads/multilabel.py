"""``task=multilabel``: one sigmoid per class; each class is predicted where its p >= threshold.

A row may be in any number of classes (its probabilities need not sum to 1). Labels are a list
of 0/1 columns (``data.label=[has_hair,lays_eggs,flies]``), one per class, and name the classes
unless ``task.classes`` does. Predictions are one 0/1 column per class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from fpexp.errors import Problem
from fpexp.heads.base import COLUMNS, GIVEN, INDICES, Accumulator, Head, fmt
from fpexp.heads.checks import RESERVED_COLUMNS, bad_label, one_name_per_output
from fpexp.metrics import bce_terms

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

_BITS = {"0": 0, "1": 1, "false": 0, "true": 1, "0.0": 0, "1.0": 1}
ALLOWED = "0/1 or true/false in every label column"


@dataclass(frozen=True)
class MultilabelHead(Head):
    """Sigmoid over ``out_features`` outputs, one per class, each thresholded on its own."""

    kind = "multilabel"
    has_threshold = True
    has_classes = True
    label_list = True
    label_text = "a list of 0/1 columns"
    headline_metric = "subset_accuracy"

    label_columns: tuple[str, ...] | None = None  # the data's label columns, once ``named``

    @classmethod
    def task_problems(cls, task: Any) -> list[Problem]:
        return one_name_per_output(task)

    @classmethod
    def config_problems(cls, task: Any, label: Any = None) -> list[Problem]:
        out = super().config_problems(task, label)
        if label is None or isinstance(label, str) or not isinstance(label, Sequence) or not label:
            return out  # one column: refused above; a mapping or an empty list: by data.label
        columns = [str(c) for c in label]
        if len(columns) != task.out_features:
            n, names = len(columns), ", ".join(columns)
            what = f"{task.out_features} outputs, but data.label names {n} columns ({names})"
            out.append(Problem("task.out_features", what, f"task.out_features={len(columns)}"))
        clash = [c for c in columns if c in RESERVED_COLUMNS]
        if task.classes is None and clash:  # the columns name the classes, and so the columns
            shown = ", ".join(f"'{c}'" for c in clash)
            plural = "s" * (len(clash) > 1)
            what = f"label column{plural} {shown} would name a class and collide with table columns"
            allowed = "name the classes with task.classes=[...]; reserved: " + ", ".join(
                RESERVED_COLUMNS
            )
            out.append(Problem("data.label", what, allowed))
        return out + _misplaced(task.classes, columns)

    @classmethod
    def flipped(cls, a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """Rows where any class's prediction differs."""
        import numpy as np

        cols = [c for c in a if c != "id"]
        if not cols or cols != [c for c in b if c != "id"] or len(a["id"]) != len(b["id"]):
            return None
        return np.any([np.asarray(a[c]) != np.asarray(b[c]) for c in cols], axis=0)

    def named(
        self,
        lesson: Mapping[str, Sequence[str]] | None = None,
        label_names: Sequence[str] | None = None,
    ) -> Head:
        """``task.classes``, else the label columns' names, else the indices."""
        columns = tuple(str(c) for c in label_names) if label_names else None
        if self.classes is not None:
            return replace(self, classes_from=GIVEN, label_columns=columns)
        if columns is not None and len(columns) == self.out_features:
            return replace(self, classes=columns, classes_from=COLUMNS, label_columns=columns)
        indices = tuple(str(i) for i in range(self.out_features))
        return replace(self, classes=indices, classes_from=INDICES, label_columns=columns)

    def unusable_labels(self, label_kind: str | None) -> str | None:
        if label_kind != "class":
            return None
        return (
            "the data's labels are class names, not 0/1 label columns: no metrics "
            "(multilabel labels come from a file: data.label=[col1,col2,...])"
        )

    def activation(self) -> nn.Module:
        from torch import nn

        return nn.Sigmoid()

    def output_names(self) -> list[str]:
        return list(self.classes) if self.classes else super().output_names()

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        import torch

        return (outputs >= self.cut).to(torch.int64)

    def prediction_columns(
        self, ids: np.ndarray, predictions: np.ndarray, names: bool
    ) -> dict[str, np.ndarray]:
        """One 0/1 column per class, named after the class."""
        return {"id": ids, **{n: predictions[:, j] for j, n in enumerate(self.output_names())}}

    def count(self, predictions: np.ndarray) -> np.ndarray | None:
        import numpy as np

        return predictions.sum(axis=0, dtype=np.int64)

    def encode(self, raw: np.ndarray, rows: np.ndarray, positive: str | None = None) -> np.ndarray:
        """The labels as a 0/1 int64 array ``[n, k]``; anything else is an error naming the
        column and the row."""
        import numpy as np

        raw = np.asarray(raw)
        if raw.ndim != 2 or raw.shape[1] != self.out_features:
            what = f"labels of shape {list(raw.shape)} for {self.out_features} outputs"
            raise bad_label(what, f"{self.out_features} label columns")
        if raw.dtype.kind == "b":
            return raw.astype(np.int64)
        if raw.dtype.kind in "iuf":
            bits = np.where((raw == 0) | (raw == 1), raw, -1).astype(np.int64)
        else:
            bits = np.vectorize(_bit, otypes=[np.int64])(raw) if raw.size else raw.astype(np.int64)
        if (bits >= 0).all():
            return bits
        row, col = (int(i) for i in np.argwhere(bits < 0)[0])
        value = raw[row, col]
        value = value.item() if isinstance(value, np.generic) else value
        shown = f"'{value}'" if isinstance(value, str) else str(value)
        what = "no label (empty or NaN)" if _missing(value) else f"{shown} is not 0 or 1"
        names = self.label_columns or tuple(self.output_names())
        raise bad_label(f"column '{names[col]}', row {rows[row]}: {what}", ALLOWED)

    def metrics(self) -> Accumulator:
        return _MultilabelMetrics(self.output_names())

    def row_text(self, output: list[float], prediction: Any) -> str:
        names = self.output_names()
        probs = "  ".join(f"{n}={fmt(v)}" for n, v in zip(names, output, strict=True))
        return f"{probs}  -> {self._chosen(list(prediction))}"

    def true_text(self, raw: Any) -> str:
        import numpy as np

        try:
            return self._chosen(
                self.encode(np.asarray([raw]), np.ones(1, dtype=np.int64))[0].tolist()
            )
        except Exception:
            return str(raw)

    def _chosen(self, bits: list[Any]) -> str:
        """The names of the classes whose bit is 1, or ``(none)``."""
        picked = [n for n, b in zip(self.output_names(), bits, strict=True) if int(b)]
        return ", ".join(picked) if picked else "(none)"


def _misplaced(classes: Sequence[object] | None, columns: list[str]) -> list[Problem]:
    """Output j is label column j: a class named after another label column would say the
    opposite (``task.classes=[b,a]`` with ``data.label=[a,b]``), so which is meant is unclear."""
    names = [str(c) for c in classes or ()]
    allowed = "task.classes in data.label's order, or names that are not label columns"
    return [
        Problem(
            "task.classes",
            f"'{n}' names output {i} but is label column {columns.index(n)}"
            f" of data.label=[{','.join(columns)}]",
            allowed,
        )
        for i, n in enumerate(names)
        if n in columns and columns.index(n) != i
    ]


def _missing(value: Any) -> bool:
    import numpy as np

    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    return isinstance(value, float | np.floating) and bool(np.isnan(value))


def _bit(value: Any) -> int:
    """0 or 1 for a label value that means it, else -1."""
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return int(value) if value in (0, 1) else -1
    return _BITS.get(str(value).strip().lower(), -1)


class _MultilabelMetrics(Accumulator):
    """Per-class accuracy, subset accuracy, Hamming loss and mean binary cross-entropy."""

    def __init__(self, classes: list[str]) -> None:
        import numpy as np

        self.classes = classes
        self.n, self.exact, self.loss = 0, 0, 0.0
        self.correct = np.zeros(len(classes), dtype=np.int64)

    def update(self, outputs: torch.Tensor, predictions: torch.Tensor, targets: Any) -> None:
        import numpy as np
        import torch

        y = torch.from_numpy(targets)
        hit = predictions.to(torch.int64) == y
        self.n += len(targets)
        self.exact += int(hit.all(dim=1).sum())
        self.correct += hit.sum(dim=0).numpy().astype(np.int64)
        self.loss += float(-bce_terms(outputs.to(torch.float64), y).sum())

    def result(self) -> dict[str, Any]:
        n, k = max(self.n, 1), max(len(self.classes), 1)
        out: dict[str, Any] = {
            "n": self.n,
            "subset_accuracy": self.exact / n,
            "hamming_loss": int(self.n * len(self.classes) - self.correct.sum()) / (n * k),
            "bce": self.loss / (n * k),
        }
        for name, c in zip(self.classes, self.correct, strict=True):
            out[f"accuracy[{name}]"] = int(c) / n
        return out
