"""Labels and metrics: true labels encoded for the head, and metrics accumulated per batch.

binary: accuracy, binary cross-entropy, confusion counts; multiclass: accuracy, cross-entropy,
per-class counts; regression: MSE, MAE. Logs are clamped at -100 as in torch's BCELoss.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fpexp.errors import Problem, UsageError
from fpexp.heads import GIVEN, Head

LOG_FLOOR = -100.0


def encode(raw: np.ndarray, head: Head, start: int, positive: str | None = None) -> np.ndarray:
    """Class indices (int64) or target values (float64) for a batch of raw labels.

    Class labels may be names from ``task.classes`` or indices. ``positive`` (the embedded
    animals) makes a binary task one-vs-rest: that class is 1, every other label 0.
    """
    if not head.is_classification:
        values = np.asarray(raw, dtype=np.float64) if raw.dtype.kind in "biuf" else None
        if values is None:
            raise _bad(f"'{raw[0]}' (row {start + 1}) is not a number", "numbers for regression")
        return values
    classes = list(head.classes or [])
    if raw.dtype.kind in "biuf":
        if problem := _ambiguous(head):
            raise UsageError([problem])
        values = np.asarray(raw, dtype=np.float64)
        ok = (values == np.round(values)) & (values >= 0) & (values < len(classes))
        if not ok.all():
            row = int(np.argmin(ok))
            raise _bad(
                f"{raw[row]} (row {start + row + 1}) is not a class index",
                f"0 to {len(classes) - 1}, or one of: {', '.join(classes)}",
            )
        return values.astype(np.int64)
    names = raw.astype(str)
    if head.kind == "binary" and positive is not None:
        return (names == positive).astype(np.int64)
    lookup = {name: i for i, name in enumerate(classes)}
    out = np.fromiter((lookup.get(n, -1) for n in names), dtype=np.int64, count=len(names))
    if (out < 0).any():
        row = int(np.argmax(out < 0))
        raise _bad(
            f"'{names[row]}' (row {start + row + 1}) is not a class",
            head.label_hint(),
        )
    return out


def _number(name: str) -> float | None:
    try:
        return float(name)
    except ValueError:
        return None


def _ambiguous(head: Head) -> Problem | None:
    """Numeric labels read as class indices; with ``task.classes`` naming classes by numbers
    other than their own index (``[1, 0]``), a label ``0`` could mean either: refused."""
    if head.classes_from != GIVEN or not head.classes:
        return None
    numbers = [(i, n, _number(n)) for i, n in enumerate(head.classes)]
    clash = [f"'{n}' at index {i}" for i, n, v in numbers if v is not None and v != i]
    if not clash:
        return None
    what = (
        f"numeric labels are class indices, but task.classes names {', '.join(clash)}: "
        "a label could mean the index or the name"
    )
    allowed = "class names that are not numbers (task.classes=[no, yes]), or labels as names"
    return Problem("task.classes", what, allowed)


def _bad(what: str, allowed: str) -> UsageError:
    return UsageError([Problem("data.label", what, allowed)])


class Metrics:
    """Streaming sums for the head's metrics; ``result()`` gives the final figures."""

    def __init__(self, head: Head) -> None:
        self.head = head
        self.n = 0
        self.sums: dict[str, float] = {}
        k = len(head.classes) if head.classes else 0
        self.true = np.zeros(k, dtype=np.int64)
        self.correct = np.zeros(k, dtype=np.int64)

    def _add(self, key: str, value: float) -> None:
        self.sums[key] = self.sums.get(key, 0.0) + float(value)

    def update(self, outputs: torch.Tensor, predictions: torch.Tensor, targets: np.ndarray) -> None:
        out = outputs.to(torch.float64)
        self.n += len(targets)
        if self.head.kind == "regression":
            err = out[:, 0] - torch.from_numpy(targets)
            self._add("sse", (err * err).sum())
            self._add("sae", err.abs().sum())
            return
        y = torch.from_numpy(targets)
        pred = predictions.to(torch.int64)
        hit = pred == y
        if self.head.kind == "binary":
            p = out[:, 0]
            yf = y.to(torch.float64)
            logs = yf * p.log().clamp(min=LOG_FLOOR) + (1 - yf) * (1 - p).log().clamp(min=LOG_FLOOR)
            self._add("loss", -logs.sum())
            for name, mask in (
                ("tp", hit & (y == 1)),
                ("tn", hit & (y == 0)),
                ("fp", ~hit & (pred == 1)),
                ("fn", ~hit & (pred == 0)),
            ):
                self._add(name, mask.sum())
        else:
            picked = out.gather(1, y.view(-1, 1))[:, 0]
            self._add("loss", -picked.log().clamp(min=LOG_FLOOR).sum())
        k = len(self.true)
        self.true += np.bincount(targets, minlength=k)
        self.correct += np.bincount(targets[hit.numpy()], minlength=k)

    def result(self) -> dict[str, Any]:
        n = max(self.n, 1)
        if self.head.kind == "regression":
            return {
                "n": self.n,
                "mse": self.sums.get("sse", 0.0) / n,
                "mae": self.sums.get("sae", 0.0) / n,
            }
        out: dict[str, Any] = {"n": self.n, "accuracy": int(self.correct.sum()) / n}
        if self.head.kind == "binary":
            out["bce"] = self.sums.get("loss", 0.0) / n
            out.update({k: int(self.sums.get(k, 0)) for k in ("tp", "fp", "tn", "fn")})
        else:
            out["cross_entropy"] = self.sums.get("loss", 0.0) / n
            for name, t, c in zip(self.head.classes, self.true, self.correct, strict=True):
                out[f"true[{name}]"] = int(t)
                out[f"correct[{name}]"] = int(c)
        return out
