"""Rules on class names and labels that several heads share (torch-free)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fpexp.errors import Problem, UsageError

# Columns of outputs.* (id) and predictions.* (id, prediction, label): never a class name.
RESERVED_COLUMNS = ("id", "prediction", "label")


def class_name_problems(classes: Sequence[object] | None) -> list[Problem]:
    """Class names become column names (outputs) and values next to fixed columns
    (predictions): blank, duplicate or reserved names would shadow or overwrite a column."""
    if classes is None:
        return []
    names = [str(c) for c in classes]
    out: list[Problem] = []
    if len(set(names)) != len(names):
        out.append(Problem("task.classes", f"duplicate names in {list(classes)}", "distinct names"))
    nul = [str(i) for i, c in enumerate(names) if "\x00" in c]
    if nul:
        what = f"class name at position {', '.join(nul)} holds a NUL character"
        out.append(Problem("task.classes", what, "names without NUL characters"))
    blank = [i for i, c in enumerate(names) if not c.strip()]
    if blank:
        where = ", ".join(str(i) for i in blank)
        what = f"empty or blank class name at position {where} of {list(classes)}"
        return [*out, Problem("task.classes", what, "non-blank names, e.g. [no, yes]")]
    clash = [c for c in names if c in RESERVED_COLUMNS]
    if clash:
        shown = ", ".join(f"'{c}'" for c in clash)
        what = f"class name{'s' * (len(clash) > 1)} {shown} would collide with output table columns"
        allowed = "other names; reserved: " + ", ".join(RESERVED_COLUMNS)
        out.append(Problem("task.classes", what, allowed))
    return out


def one_name_per_output(task: Any) -> list[Problem]:
    """``task.classes``, when given, names each of ``task.out_features`` outputs."""
    n = len(task.classes) if task.classes is not None else task.out_features
    if n == task.out_features:
        return []
    what = f"{n} class names for {task.out_features} outputs"
    return [Problem("task.classes", what, f"exactly task.out_features = {task.out_features} names")]


def nul_label(raw: Any, rows: Any) -> UsageError | None:
    """A text label holding a NUL character (numpy would drop a trailing one and read ``a\\0``
    as the class ``a``): the first one, as one line; None if there is none."""
    items = raw.tolist()
    try:
        joined = "".join(items)
    except TypeError:  # not all text: labels that are not text hold no NUL
        return None
    if "\x00" not in joined:
        return None
    row = next(i for i, v in enumerate(items) if "\x00" in v)
    return bad_label(f"{raw[row]!r} (row {rows[row]}) holds a NUL character", "labels without NUL")


def bad_label(what: str, allowed: str) -> UsageError:
    """A label the head cannot read: one line under ``data.label``."""
    return UsageError([Problem("data.label", what, allowed)])
