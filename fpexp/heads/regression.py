"""``task=regression``: the raw outputs, no activation; the prediction is the value itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fpexp.errors import Problem
from fpexp.heads.base import Accumulator, Head, fmt
from fpexp.heads.checks import bad_label

if TYPE_CHECKING:
    import numpy as np
    import torch


@dataclass(frozen=True)
class RegressionHead(Head):
    """``out_features`` raw values per row; labels are one numeric target column."""

    kind = "regression"
    headline_metric = "mse"
    headline_format = ".4g"

    @classmethod
    def label_problems(cls, task: Any, n_label_columns: int) -> list[Problem]:
        if task.out_features == 1:
            return []
        what = f"labels need one output, but task.out_features is {task.out_features}"
        return [Problem("data.label", what, "task.out_features=1 for a labelled regression")]

    def unusable_labels(self, label_kind: str | None) -> str | None:
        if label_kind != "class":
            return None
        return "the data's labels are class names, not regression targets: no metrics"

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs[:, 0] if self.out_features == 1 else outputs

    def prediction_columns(
        self, ids: np.ndarray, predictions: np.ndarray, names: bool
    ) -> dict[str, np.ndarray]:
        if predictions.ndim == 1:
            return {"id": ids, "prediction": predictions}
        columns = {f"prediction_{j}": predictions[:, j] for j in range(predictions.shape[1])}
        return {"id": ids, **columns}

    def encode(self, raw: np.ndarray, rows: np.ndarray, positive: str | None = None) -> np.ndarray:
        """Target values (float64)."""
        import numpy as np

        if raw.dtype.kind not in "biuf":
            what = f"'{raw[0]}' (row {rows[0]}) is not a number"
            raise bad_label(what, "numbers for regression")
        return np.asarray(raw, dtype=np.float64)

    def metrics(self) -> Accumulator:
        return _RegressionMetrics()

    def row_text(self, output: list[float], prediction: Any) -> str:
        names = self.output_names()
        return "  ".join(f"{n}={fmt(v)}" for n, v in zip(names, output, strict=True))


class _RegressionMetrics(Accumulator):
    """Mean squared and mean absolute error of the first output."""

    def __init__(self) -> None:
        self.n, self.sse, self.sae = 0, 0.0, 0.0

    def update(self, outputs: torch.Tensor, predictions: torch.Tensor, targets: Any) -> None:
        import torch

        err = outputs.to(torch.float64)[:, 0] - torch.from_numpy(targets)
        self.n += len(targets)
        self.sse += float((err * err).sum())
        self.sae += float(err.abs().sum())

    def result(self) -> dict[str, Any]:
        n = max(self.n, 1)
        return {"n": self.n, "mse": self.sse / n, "mae": self.sae / n}
