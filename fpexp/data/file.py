"""CSV, Parquet and NPY files, read in batches of exactly ``batch_size`` rows.

CSV and Parquet go through pyarrow's streaming readers, NPY through ``numpy.load(mmap_mode="r")``,
so a file is never in memory whole. The file's sha256 is computed by a background thread
(``fpexp.hashing``), started before torch is even imported (``input_path``). Every problem with
the file is a one-line ``UsageError`` naming the file, and the column and row where there is one
(rows count from 1, the first data row; a CSV's header is not a row).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fpexp.config.schema import NAN_POLICIES
from fpexp.data.base import Batch, take_rows
from fpexp.data.columns import Columns, label_problems, label_setting
from fpexp.data.formats import INPUT_FORMATS, by_suffix, suffixes
from fpexp.errors import Problem, UsageError
from fpexp.hashing import BackgroundHash, background_hash
from fpexp.user_files import file_problem


def _fail(what: str, allowed: str = "", key: str = "data.path") -> UsageError:
    return UsageError([Problem(key, what, allowed)])


@dataclass
class FileSource:
    """A table in a file: feature columns, an optional id column and label column."""

    path: Path
    format: str
    columns: Columns
    nan: str = "error"
    name: str = "file"
    binary_positive: str | None = None
    rows_read: int = 0
    rows_dropped: int = 0
    _hash: BackgroundHash | None = field(default=None, repr=False)

    @property
    def feature_names(self) -> list[str]:
        return self.columns.features

    @property
    def n_features(self) -> int:
        return len(self.columns.features)

    @property
    def label_names(self) -> list[str] | None:
        """A list label's columns (labels are then float64 ``[n, k]``); None otherwise."""
        return self.columns.label_names

    def describe(self) -> dict[str, Any]:
        rows = self.columns.n_rows if self.columns.n_rows is not None else None
        if self.rows_read:
            rows = self.rows_read - self.rows_dropped
        return {
            "source": "file",
            "path": str(self.path),
            "format": self.format,
            "rows": rows,
            "features": self.n_features,
            "shape": [rows, self.n_features],
            "feature_names": list(self.columns.features),
            "id": self.columns.id,
            "label": self.columns.label_names or self.columns.label,
            "has_labels": self.columns.label is not None,
            "rows_dropped": self.rows_dropped,
            "excluded_columns": dict(self.columns.excluded),
            "notes": self.columns.notes,
            "sha256": self._hash.result() if self._hash is not None and self._hash.done else None,
        }

    def finish(self) -> None:
        """Wait for the file's hash (after the whole file was read)."""
        if self._hash is not None:
            self._hash.result()

    def batches(self, batch_size: int) -> Iterator[Batch]:
        if self._hash is None:
            self._hash = background_hash(self.path)
        seen = np.zeros(self.n_features, dtype=bool)  # columns with a finite value so far
        blocks = INPUT_FORMATS[self.format].read(self.path, self.columns)
        try:
            yield from self._batches(blocks, batch_size, seen)
        finally:  # a reader that reads ahead stops now, not when its iterator is collected
            close = getattr(blocks, "close", None)
            if close is not None:
                close()

    def _batches(self, blocks: Iterator[Any], batch_size: int, seen: np.ndarray) -> Iterator[Batch]:
        pending: list[Batch] = []
        held = 0
        start = 0
        for ids, features, labels in blocks:
            n = len(features)
            if ids is None:
                ids = np.arange(start, start + n)
            batch = self._clean(Batch(ids, features, labels), start, seen)
            start += n
            self.rows_read += n
            pending.append(batch)
            held += len(batch.ids)
            while held >= batch_size:
                out, pending, held = take_rows(pending, batch_size)
                yield out
        if held:
            yield take_rows(pending, held)[0]
        if self.rows_read and self.rows_dropped == self.rows_read:
            raise self._nothing_left(seen)

    def _clean(self, batch: Batch, start: int, seen: np.ndarray) -> Batch:
        """Rows with a non-finite feature or a missing label: an error naming the first one,
        or (data.nan=drop) dropped and counted; once rows are dropped, the rows left carry
        their numbers in the file."""
        missing = _missing_labels(batch.labels)
        if missing is None and np.isfinite(batch.features).all():
            seen[:] = True
            return _numbered(batch, start) if self.rows_dropped else batch
        finite = np.isfinite(batch.features)
        seen |= finite.any(axis=0)
        ok = finite.all(axis=1) if missing is None else finite.all(axis=1) & ~missing
        if self.nan != "drop":
            row = int(np.argmin(ok))
            raise self._bad_row(batch, row, start + row + 1, finite[row])
        self.rows_dropped += int((~ok).sum())
        return _numbered(batch, start)[ok]

    def _bad_row(self, batch: Batch, row: int, number: int, finite: np.ndarray) -> UsageError:
        """The first problem in row ``row`` of ``batch`` (file row ``number``), in one line."""
        allowed = "data.nan=drop skips such rows"
        if finite.all() and batch.labels is not None:
            k, value = _first_missing(batch.labels, row)
            where = f"{self.path}: column '{self.columns.label_columns[k]}', row {number}"
            what = "no label (empty or NaN)" if _absent(value) else f"{value} is not a finite label"
            return _fail(f"{where}: {what}", f"a label in every row; {allowed}", key="data.label")
        j = int(np.argmin(finite))
        where = f"{self.path}: column '{self.columns.features[j]}', row {number}"
        value = batch.features[row, j]
        what = "no number (empty or NaN)" if np.isnan(value) else f"{value} is not a finite number"
        return _fail(f"{where}: {what}", f"finite numbers; {allowed}")

    def _nothing_left(self, seen: np.ndarray) -> UsageError:
        """data.nan=drop dropped every row: say why (a column with no number at all?)."""
        empty = [c for c, s in zip(self.columns.features, seen, strict=True) if not s]
        n = self.rows_read
        if empty:
            what = f"{self.path}: column '{empty[0]}' has no number in any of the {n} rows"
            return _fail(what, "a feature column with numbers; data.features picks the columns")
        what = f"dropped all {n} rows of {self.path} (a NaN, inf or missing label in each)"
        return _fail(what, "at least one complete row", key="data.nan")


def _numbered(batch: Batch, start: int) -> Batch:
    """``batch`` with its rows' numbers in the file (``start`` rows before it)."""
    numbers = np.arange(start + 1, start + 1 + len(batch.ids))
    return Batch(batch.ids, batch.features, batch.labels, numbers)


def _absent(value: object) -> bool:
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return value is None or value == ""


def _first_missing(labels: np.ndarray, row: int) -> tuple[int, Any]:
    """Which label column of ``row`` is missing (0 for a single label), and its value."""
    if labels.ndim == 1:
        return 0, labels[row]
    k = int(np.argmin(np.isfinite(labels[row])))
    return k, labels[row, k]


def _missing_labels(labels: np.ndarray | None) -> np.ndarray | None:
    """Rows whose label is missing (NaN, inf, empty or null; a list label: in any of its
    columns), or None where there are none."""
    if labels is None:
        return None
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels)
        bad = bad.any(axis=1) if bad.ndim == 2 else bad
    elif labels.dtype.kind in "OU":
        bad = np.asarray(labels == "", dtype=bool)  # readers give missing names as ''
    else:
        return None
    return bad if bad.any() else None


def input_path(cfg: Any, cwd: Path | None = None) -> Path | None:
    """``data.path`` as a path (relative ones from ``cwd``); None where it is not set."""
    from omegaconf import OmegaConf

    if OmegaConf.is_missing(cfg, "path") or not cfg.path:
        return None
    path = Path(str(cfg.path)).expanduser()
    return path if path.is_absolute() else (cwd or Path.cwd()) / path


def _one_of(names: Any) -> str:
    return "one of: " + ", ".join(names)


def check_config(data: Any) -> list[Problem]:
    """``data.nan``, ``data.format`` and ``data.label`` (a name or a list of distinct names)."""
    out = [*label_problems(data.label)]
    if data.nan not in NAN_POLICIES:
        out.append(Problem("data.nan", f"unknown policy '{data.nan}'", _one_of(NAN_POLICIES)))
    if data.format is not None and data.format not in INPUT_FORMATS:
        what = f"unknown format '{data.format}'"
        out.append(Problem("data.format", what, _one_of(INPUT_FORMATS)))
    return out


def load(cfg: Any, cwd: Path | None = None) -> FileSource:
    """Open ``cfg.path`` and settle its columns; every problem found is reported at once."""
    path = input_path(cfg, cwd)
    if path is None:
        raise _fail("is required with data=file", f"a {suffixes()} file")
    fmt = cfg.format or by_suffix(path)
    if fmt not in INPUT_FORMATS:
        if cfg.format:
            what = f"unknown format '{cfg.format}'"
            raise _fail(what, _one_of(INPUT_FORMATS), key="data.format")
        what = f"{path}: unknown file type '{path.suffix}'"
        raise _fail(what, f"one of: {suffixes(', ')}; or set data.format")
    problem = file_problem(path, "data.path", f"an existing {suffixes()} file")
    if problem is not None:
        raise UsageError([problem])
    if path.stat().st_size == 0:
        raise _fail(f"{path}: empty file", "a table with a header and at least one row")
    features = list(cfg.features) if cfg.features is not None else None
    if problems := label_problems(cfg.label):
        raise UsageError(problems)
    columns = INPUT_FORMATS[fmt].inspect(path, features, cfg.id, label_setting(cfg.label))
    return FileSource(path=path.resolve(), format=fmt, columns=columns, nan=str(cfg.nan))
