"""The task head's base class: what every head answers, and the rules most heads share.

A head is a frozen dataclass: its config (``out_features``, ``threshold``, ``classes``) and,
once ``named``, where its class names came from. Class-level methods (``config_problems``,
``headline``, ``flipped``) work on a config or a record without building a head. Torch is
imported only inside the methods that need it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from fpexp.errors import Problem
from fpexp.heads.checks import class_name_problems

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

GIVEN, LESSON, INDICES, COLUMNS = (
    "task.classes",
    "the lesson data",
    "class indices",
    "the label columns",
)
SHOWN_NAMES = 20  # class names listed on the console line that says where they came from


def fmt(x: float) -> str:
    """A value on the console."""
    return f"{x:.4f}"


class Accumulator:
    """A head's metrics, summed batch by batch; ``result()`` gives the final figures."""

    def update(self, outputs: torch.Tensor, predictions: torch.Tensor, targets: Any) -> None:
        raise NotImplementedError

    def result(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class Head:
    """What a task puts after the model's last layer, and how it reads the outputs."""

    kind: ClassVar[str] = ""  # the task.kind this class serves ("" : not a registered head)
    has_threshold: ClassVar[bool] = False
    has_classes: ClassVar[bool] = False
    label_list: ClassVar[bool] = False  # data.label: a list of columns (else one column)
    label_text: ClassVar[str] = "one label column"  # what its data.label is, in messages
    headline_metric: ClassVar[str] = ""  # the figure ``fpexp runs`` shows
    headline_format: ClassVar[str] = ".4f"

    out_features: int
    threshold: float | None = None
    classes: tuple[str, ...] | None = None
    classes_from: str | None = None  # GIVEN, LESSON, COLUMNS or INDICES once ``named``

    # --- from a config or a record, without a head -------------------------------------------

    @classmethod
    def from_config(cls, task: Any) -> Head:
        """The registered head for ``task.kind``, with the task's settings."""
        threshold, classes = getattr(task, "threshold", None), getattr(task, "classes", None)
        return cls.of(str(task.kind), int(task.out_features), threshold, classes)

    @staticmethod
    def of(
        kind: str,
        out_features: int,
        threshold: float | None = None,
        classes: Sequence[object] | None = None,
    ) -> Head:
        """The head registered for ``kind`` (``UsageError`` if none), not yet ``named``."""
        from fpexp.heads.registry import head_class

        names = tuple(str(c) for c in classes) if classes is not None else None
        return head_class(kind)(out_features=out_features, threshold=threshold, classes=names)

    @classmethod
    def config_problems(cls, task: Any, label: Any = None) -> list[Problem]:
        """Everything wrong with ``task.*`` for this head, and with the shape of ``data.label``
        (``label``: None, a column name or a list of names)."""
        out: list[Problem] = []
        if task.out_features < 1:
            what = f"{task.out_features} is not positive"
            out.append(Problem("task.out_features", what, "an integer >= 1"))
        if cls.has_threshold:
            t = task.threshold
            if t is None or not 0.0 <= t <= 1.0:
                allowed = "a probability between 0 and 1"
                out.append(Problem("task.threshold", f"{t} is outside [0, 1]", allowed))
        elif task.threshold is not None:
            what = f"is set but a {cls.kind} task has no threshold"
            out.append(Problem("task.threshold", what, "null"))
        out += cls.task_problems(task)
        if cls.has_classes:
            out += class_name_problems(task.classes)
        elif task.classes is not None:
            what = f"is set but a {cls.kind} task has no classes"
            out.append(Problem("task.classes", what, "null"))
        return out + cls.label_shape_problems(label)

    @classmethod
    def task_problems(cls, task: Any) -> list[Problem]:
        """This head's own rules on ``task.*`` (output width, class count)."""
        return []

    @classmethod
    def label_shape_problems(cls, label: Any) -> list[Problem]:
        """A list of label columns for a head that reads one (and the reverse)."""
        from fpexp.heads.registry import heads

        if label is None or not isinstance(label, str | Sequence) or len(label) == 0:
            return []  # a mapping, an empty list: the data section says what is wrong
        is_list = not isinstance(label, str)
        if is_list == cls.label_list:
            return []
        reads = f"a {cls.kind} task reads {cls.label_text}"
        if is_list:
            lists = " or ".join(f"task={k}" for k, h in heads().items() if h.label_list)
            names = ", ".join(str(c) for c in label)
            what = f"a list of columns [{names}], but {reads}"
            return [Problem("data.label", what, f"one column name; a list needs {lists}")]
        what = f"'{label}' is one column, but {reads}"
        return [Problem("data.label", what, f"a list: data.label=[{label},...]")]

    @classmethod
    def headline(cls, metrics: Mapping[str, Any]) -> str | None:
        """``accuracy=0.8000``: the run's key figure for ``fpexp runs`` (None: none)."""
        value = metrics.get(cls.headline_metric) if cls.headline_metric else None
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        return f"{cls.headline_metric}={value:{cls.headline_format}}"

    @classmethod
    def flipped(cls, a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """Which rows' predictions differ between two predictions tables of this head (None:
        this head has no classes to flip, or the tables cannot be compared)."""
        return None

    # --- a head ----------------------------------------------------------------------------

    def named(
        self,
        lesson: Mapping[str, Sequence[str]] | None = None,
        label_names: Sequence[str] | None = None,
    ) -> Head:
        """This head with its class names settled (heads with classes override this);
        ``lesson``: the lesson data's names per kind, ``label_names``: the label columns."""
        return self

    @classmethod
    def label_problems(cls, task: Any, n_label_columns: int) -> list[Problem]:
        """Whether the data's labels (in this many columns) fit this head and ``task``."""
        return []

    def unusable_labels(self, label_kind: str | None) -> str | None:
        """Why the data's labels give no metrics for this head (None: they do).
        ``label_kind`` "class": the labels are class names (the embedded animals)."""
        return None

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

    def record(self) -> dict[str, object] | None:
        """run.json's ``classes``: the names and where they came from (None: no classes)."""
        if self.classes is None or not self.has_classes:
            return None
        return {"names": list(self.classes), "from": self.classes_from}

    def activation(self) -> nn.Module | None:
        """The module after the model's last layer (None: the raw outputs)."""
        return None

    def output_names(self) -> list[str]:
        """One column name per output."""
        if self.out_features == 1:
            return ["output"]
        return [f"output_{i}" for i in range(self.out_features)]

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def cut(self) -> float:
        """The threshold of a head that thresholds (validation made sure there is one)."""
        if self.threshold is None:
            raise ValueError(f"a {self.kind} head needs task.threshold")
        return float(self.threshold)

    def prediction_columns(
        self, ids: np.ndarray, predictions: np.ndarray, names: bool
    ) -> dict[str, np.ndarray]:
        """The predictions table of a batch (``names``: with class names where it has any)."""
        raise NotImplementedError

    def encode(self, raw: np.ndarray, rows: np.ndarray, positive: str | None = None) -> Any:
        """A batch's raw labels as the metrics' targets; ``rows``: each row's number in the
        source (from 1), for the message about a label that cannot be read."""
        raise NotImplementedError

    def metrics(self) -> Accumulator:
        raise NotImplementedError

    def count(self, predictions: np.ndarray) -> np.ndarray | None:
        """Per class, how many rows of a batch were predicted to be in it (None: no classes)."""
        return None

    def summary_fields(self, counts: np.ndarray | None) -> dict[str, Any]:
        """What run.json's ``results`` gets from the summed ``count``s (None: no rows)."""
        if not self.has_classes or self.classes is None:
            return {}
        values = counts.tolist() if counts is not None else [0] * len(self.classes)
        return {"predicted_counts": dict(zip(self.classes, values, strict=True))}

    def row_text(self, output: list[float], prediction: Any) -> str:
        """One row on the console, after its id: outputs, then the prediction."""
        raise NotImplementedError

    def true_text(self, raw: Any) -> str:
        """A row's true label as the console shows it."""
        return str(raw)
