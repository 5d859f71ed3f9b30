"""The embedded lesson data: five animals with six numeric features and their true class.

The lesson's class names belong to this data: a binary task asks "is it a mammal?"
(``not_mammal``/``mammal``), a multiclass task tells ``mammal``/``bird``/``reptile`` apart.
Other data has no names of its own: its classes are named by ``task.classes`` or by index.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from fpexp.data.base import InMemorySource
from fpexp.errors import Problem

FILE = "animals.csv"
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "binary": ("not_mammal", "mammal"),
    "multiclass": ("mammal", "bird", "reptile"),
}


@dataclass
class LessonSource(InMemorySource):
    """An in-memory source that names its classes, per task kind (``Head.named``)."""

    class_names: dict[str, tuple[str, ...]] = field(default_factory=dict)


def check_config(data: Any) -> list[Problem]:
    """Nothing to check: the embedded data has no settings."""
    return []


def load(cfg: Any = None, cwd: Any = None) -> LessonSource:
    """Read ``animals.csv`` (name, six features, class) from inside the package."""
    raw = resources.files("fpexp.data").joinpath(FILE).read_bytes()
    rows = list(csv.reader(raw.decode("utf-8").splitlines()))
    header, body = rows[0], rows[1:]
    return LessonSource(
        name="animals",
        ids=np.array([r[0] for r in body]),
        features=np.array([[float(v) for v in r[1:-1]] for r in body], dtype=np.float32),
        feature_names=header[1:-1],
        labels=np.array([r[-1] for r in body]),
        extra={"path": f"fpexp/data/{FILE}"},
        binary_positive="mammal",  # the lesson: binary = "is it a mammal?"
        label_kind="class",
        sha256=hashlib.sha256(raw).hexdigest(),
        class_names=dict(CLASS_NAMES),
    )
