"""Which columns of a table a run reads, and why: features, id, label and excluded columns.

With ``data.features`` unset, every column but the id and label is a candidate feature; a
column is excluded only when the format says it holds no numbers (each format decides that,
see each reader module in ``formats``), and every excluded column is named with the reason.
Columns named like ids or labels that became features get a note, so a label column taken as
a feature is visible on the console and in ``run.json``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpexp.errors import Problem, UsageError

# Names that usually mean "row id" or "true label" (compared lower-case, stripped); a column
# ending in ``_id`` or named ``Unnamed: 0`` (pandas' saved index) or nothing counts as an id.
ID_NAMES = frozenset({"id", "idx", "index", "key", "name", "row", "uuid"})
LABEL_NAMES = frozenset({"label", "labels", "target", "class", "y", "outcome"})
SHOWN = 12  # feature names listed on the console before the list is cut short


@dataclass(frozen=True)
class Columns:
    """The columns a run reads: features (in order), id and label (or None).

    ``label`` is one column name, or a list of them (``label_names``: one 0/1 column per
    class, read as a float64 ``[n, k]`` array in that order). ``excluded`` maps each column
    left out of the default features to the reason; ``types`` holds how a reader must read
    the id, label and excluded columns (CSV: arrow types).
    """

    all: list[str]
    features: list[str]
    id: str | None
    label: str | list[str] | None
    n_rows: int | None
    excluded: dict[str, str] = field(default_factory=dict)
    types: dict[str, Any] = field(default_factory=dict)
    header_note: str | None = None

    @property
    def label_columns(self) -> list[str]:
        """Every label column: none, one, or those of a list label."""
        return label_columns(self.label)

    @property
    def label_names(self) -> list[str] | None:
        """The columns of a list label, in order; None for a single label or none."""
        return list(self.label) if isinstance(self.label, list) else None

    @property
    def notes(self) -> list[str]:
        return [*([self.header_note] if self.header_note else []), *name_notes(self.features)]


def _listing(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= SHOWN else ", ".join(names[:SHOWN]) + ", ..."


def check_unique(path: Path, names: list[str]) -> None:
    """Two columns with one name: reading by name would use one of them twice."""
    counts = Counter(names)
    dups = [n for n, k in counts.items() if k > 1]
    if dups:
        what = f"{path}: column '{dups[0]}' appears {counts[dups[0]]} times in the header"
        raise UsageError([Problem("data.path", what, "distinct column names")])


def settle(
    path: Path,
    names: list[str],
    reasons: dict[str, str],
    features: list[str] | None,
    id_: str | None,
    label: str | list[str] | None,
) -> tuple[list[str], dict[str, str]]:
    """The features and the excluded columns (with reasons); every problem at once.

    ``reasons`` maps each column that cannot be a feature to why (a column not in it is
    numeric). Duplicate header names, duplicate or unknown ``data.features``, features that
    are the id or a label column, an id that is a label, and a list label's column that is
    not numeric are errors.
    """
    have = _listing(names)
    check_unique(path, names)
    labels = label_columns(label)
    problems = []
    for key, col in (("data.id", id_), *(("data.label", c) for c in labels)):
        if col is not None and col not in names:
            problems.append(Problem(key, f"{path}: no column '{col}'", f"one of: {have}"))
    if id_ is not None and id_ in labels:
        problems.append(Problem("data.label", f"'{id_}' is also data.id", "another column"))
    for col in labels if isinstance(label, list) else []:
        if col in reasons:
            what = f"{path}: label column '{col}' is not numeric ({reasons[col]})"
            problems.append(Problem("data.label", what, "numeric 0/1 columns, one per class"))
    excluded: dict[str, str] = {}
    if features is None:
        candidates = [c for c in names if c != id_ and c not in labels]
        features = [c for c in candidates if c not in reasons]
        excluded = {c: reasons[c] for c in candidates if c in reasons}
        if not features:
            what = f"{path}: no numeric feature columns"
            problems.append(Problem("data.features", what, f"columns: {have}"))
    else:
        problems += _listed_problems(path, names, reasons, features, id_, labels)
    if problems:
        raise UsageError(problems)
    return features, excluded


def _listed_problems(
    path: Path,
    names: list[str],
    reasons: dict[str, str],
    features: list[str],
    id_: str | None,
    labels: list[str],
) -> list[Problem]:
    """What is wrong with an explicit ``data.features`` list."""
    out = []
    for col, k in Counter(features).items():
        if k > 1:
            out.append(Problem("data.features", f"'{col}' is listed {k} times", "each column once"))
    for col in dict.fromkeys(features):
        if col not in names:
            what = f"{path}: no column '{col}'"
            out.append(Problem("data.features", what, f"one of: {_listing(names)}"))
        elif col == id_ or col in labels:
            role = "data.id" if col == id_ else "data.label"
            what = f"'{col}' is {role}, it cannot also be a feature"
            out.append(Problem("data.features", what, f"columns other than {role}"))
        elif col in reasons:
            what = f"{path}: column '{col}', row 1: {reasons[col]} is not numeric"
            out.append(Problem("data.features", what, "numeric columns"))
    return out


def label_columns(label: str | list[str] | None) -> list[str]:
    """The label columns of a ``data.label`` setting (see ``label_setting``)."""
    if label is None:
        return []
    return [label] if isinstance(label, str) else list(label)


LABEL_ALLOWED = "a column name, or a list of distinct column names, e.g. [a, b, c]"


def label_setting(label: Any) -> str | list[str] | None:
    """``data.label`` as a column name, a list of them, or None (a number is a name, as the
    schema's old ``str`` made it)."""
    if label is None or isinstance(label, str):
        return label
    if isinstance(label, Sequence):
        return [str(c) for c in label]
    return str(label)


def label_problems(label: Any) -> list[Problem]:
    """A list ``data.label`` that is not a list of distinct non-empty strings: one line."""
    if isinstance(label, Mapping):
        return [Problem("data.label", "is a mapping", LABEL_ALLOWED)]
    if label is None or isinstance(label, str) or not isinstance(label, Sequence):
        return []
    items = list(label)
    if not items:
        return [Problem("data.label", "is an empty list", LABEL_ALLOWED)]
    parts = [
        f"item {i} ({c!r}) is not a column name" for i, c in enumerate(items) if not _is_name(c)
    ]
    counts = Counter(str(c) for c in items)
    parts += [f"'{c}' is listed {k} times" for c, k in counts.items() if k > 1]
    if not parts:
        return []
    what = f"{items}: " + "; ".join(parts)
    return [Problem("data.label", what, LABEL_ALLOWED)]


def _is_name(item: Any) -> bool:
    """A list label's item names a column: a non-empty string, or an integer (``[1, 2]`` names
    columns ``1`` and ``2``, as ``data.label=1`` names column ``1``)."""
    if isinstance(item, bool):
        return False
    return isinstance(item, int) or (isinstance(item, str) and item != "")


def name_notes(features: list[str]) -> list[str]:
    """A note for every feature named like an id or a label column."""
    notes = []
    for col in features:
        low = col.strip().lower()
        used = f"column '{col}' is used as a feature"
        if low in LABEL_NAMES:
            notes.append(f"{used}; set data.label={col} if it holds labels")
        elif low in ID_NAMES or low.endswith("_id") or low.startswith("unnamed:") or not low:
            notes.append(f"{used}; set data.id={col} if it holds row ids")
    return notes


def feature_line(names: list[str]) -> str:
    """``features (30): a, b, ...`` (long lists cut short; the full list is in run.json)."""
    more = " (all in run.json's input.feature_names)" if len(names) > SHOWN else ""
    return f"features ({len(names)}): {_listing(names)}{more}"


def excluded_line(excluded: dict[str, str]) -> str:
    """``excluded (2, not features): name (text, no number), when (type date32)``."""
    parts = [f"{col} ({why})" for col, why in excluded.items()]
    shown = parts if len(parts) <= SHOWN else [*parts[:SHOWN], f"... (+{len(parts) - SHOWN})"]
    return f"excluded ({len(parts)}, not features): " + ", ".join(shown)


def column_lines(described: dict[str, Any]) -> list[str]:
    """The console lines saying which columns became features (from a source's ``describe``)."""
    lines = [feature_line(list(described.get("feature_names") or []))]
    if described.get("excluded_columns"):
        lines.append(excluded_line(described["excluded_columns"]))
    return lines + [f"note: {note}" for note in described.get("notes") or []]
