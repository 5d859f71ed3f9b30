"""The embedded lesson data: five animals with six numeric features and their true class."""

from __future__ import annotations

import csv
import hashlib
from importlib import resources
from typing import Any

import numpy as np

from fpexp.data.base import InMemorySource

FILE = "animals.csv"


def load(cfg: Any = None, cwd: Any = None) -> InMemorySource:
    """Read ``animals.csv`` (name, six features, class) from inside the package."""
    raw = resources.files("fpexp.data").joinpath(FILE).read_bytes()
    rows = list(csv.reader(raw.decode("utf-8").splitlines()))
    header, body = rows[0], rows[1:]
    return InMemorySource(
        name="animals",
        ids=np.array([r[0] for r in body]),
        features=np.array([[float(v) for v in r[1:-1]] for r in body], dtype=np.float32),
        feature_names=header[1:-1],
        labels=np.array([r[-1] for r in body]),
        extra={"path": f"fpexp/data/{FILE}"},
        binary_positive="mammal",  # the lesson: binary = "is it a mammal?"
        label_kind="class",
        sha256=hashlib.sha256(raw).hexdigest(),
    )
