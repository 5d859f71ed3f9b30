"""What every data source provides: named numeric features in batches, with row ids."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from fpexp.data.columns import name_notes


@dataclass(frozen=True)
class Batch:
    """Consecutive rows: ids, float32 features ``[n, n_features]``, true labels if known
    (``[n]``, or float64 ``[n, k]`` for a list label). ``rows``: each row's number in the
    source (from 1), where rows were dropped before it; None: they follow the previous batch."""

    ids: np.ndarray
    features: np.ndarray
    labels: np.ndarray | None = None
    rows: np.ndarray | None = None

    def __getitem__(self, part: Any) -> Batch:
        """The rows ``part`` (a slice or a mask) selects."""
        labels = None if self.labels is None else self.labels[part]
        rows = None if self.rows is None else self.rows[part]
        return Batch(self.ids[part], self.features[part], labels, rows)

    def numbers(self, before: int) -> np.ndarray:
        """Each row's number in the source; ``before``: the rows of the batches before."""
        if self.rows is not None:
            return self.rows
        return np.arange(before + 1, before + 1 + len(self.ids))


class Source(Protocol):
    """A data source. File sources stream their batches; small ones hold them in memory."""

    name: str
    feature_names: list[str]
    label_names: list[str] | None  # a list label's columns (labels ``[n, k]``); else None

    def describe(self) -> dict[str, Any]:
        """What goes into run.json's ``input``: source, shape, sha256, and so on."""
        ...

    def batches(self, batch_size: int) -> Iterator[Batch]: ...

    def finish(self) -> None:
        """Called after the last batch (a file source waits for its hash here)."""
        ...


@dataclass
class InMemorySource:
    """A source whose rows are all in memory (the embedded and the synthetic data)."""

    name: str
    ids: np.ndarray
    features: np.ndarray
    feature_names: list[str]
    labels: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    binary_positive: str | None = None
    label_kind: str | None = None  # "class": labels are class names, never regression targets
    label_names: list[str] | None = None

    def __post_init__(self) -> None:
        self.features = np.ascontiguousarray(self.features, dtype=np.float32)
        if not self.sha256:
            self.sha256 = hashlib.sha256(self.features.tobytes()).hexdigest()

    @property
    def n_features(self) -> int:
        return int(self.features.shape[1])

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.name,
            **self.extra,
            "rows": int(self.features.shape[0]),
            "features": self.n_features,
            "shape": list(self.features.shape),
            "feature_names": list(self.feature_names),
            "notes": name_notes(list(self.feature_names)),
            "has_labels": self.labels is not None,
            "sha256": self.sha256,
        }

    def finish(self) -> None:
        """Nothing to wait for: the data was hashed when loaded."""

    def batches(self, batch_size: int) -> Iterator[Batch]:
        n = self.features.shape[0]
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            labels = None if self.labels is None else self.labels[start:stop]
            yield Batch(self.ids[start:stop], self.features[start:stop], labels)


def take_rows(pending: list[Batch], n: int) -> tuple[Batch, list[Batch], int]:
    """The first ``n`` rows of the pending batches, and what is left."""
    taken, rest, got = [], [], 0
    for b in pending:
        if got >= n:
            rest.append(b)
            continue
        k = min(n - got, len(b.ids))
        taken.append(b[:k])
        if k < len(b.ids):
            rest.append(b[k:])
        got += k
    if len(taken) == 1:
        out = taken[0]
    else:
        labels = None if taken[0].labels is None else np.concatenate([t.labels for t in taken])
        numbered = all(t.rows is not None for t in taken)
        rows = np.concatenate([t.rows for t in taken if t.rows is not None]) if numbered else None
        out = Batch(
            np.concatenate([t.ids for t in taken]),
            np.concatenate([t.features for t in taken]),
            labels,
            rows,
        )
    return out, rest, sum(len(b.ids) for b in rest)
