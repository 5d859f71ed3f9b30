"""The ``--where``/``--sort`` query over runs' flat fields (``fpexp.run_table.fields``).

An expression is ``KEY OP VALUE`` with OP one of ``= != < <= > >= ~`` (``~``: a glob, as
``fnmatch``). VALUE is typed: a JSON value (``8``, ``0.5``, ``null``, ``true``, ``"text"``), a
YAML list or mapping (``[8, 8]``, as Hydra writes one), else plain text. A key missing from a run
is ``null`` there. Times (``started_at``, alias ``when``; ``ended_at``) compare as instants: a
record's UTC offset applied, a VALUE without one taken in this machine's time zone. Pure
functions over dicts: no files, no printing.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any

from fpexp.errors import Problem, UsageError

OPS = ("=", "!=", "<", "<=", ">", ">=", "~")
FORM = f"KEY OP VALUE with OP one of {' '.join(OPS)}"
_EXPR = re.compile(r"^\s*([A-Za-z_][^\s=!<>~]*)\s*(!=|<=|>=|=|<|>|~)\s*(.*?)\s*$")
ALIASES = {"when": "started_at"}  # a column's name in a table -> its key
TIMES = ("started_at", "ended_at")
TIME_FORM = "an ISO 8601 time such as 2026-11-29 23:59 or 2026-11-29T23:59:00+01:00"


def is_num(value: Any) -> bool:
    """A number, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def as_float(value: Any) -> float | None:
    """A record's number as a float (an integer beyond any float: ±inf; NaN stays NaN), or
    None for what is not a number (text, bool, null, lists)."""
    if not is_num(value):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def typed(text: str) -> Any:
    """VALUE as the typed value it spells (JSON, a YAML list/mapping, else the text)."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    if text[:1] in "[{":
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return text
    return text


def _equal(field: Any, value: Any, text: str) -> bool:
    if is_num(field) and is_num(value):
        return bool(field == value)
    if isinstance(field, str) and field == text:
        return True  # data.path=123 names the file "123"
    return type(field) is type(value) and bool(field == value)


def _order(field: Any, value: Any) -> tuple[Any, Any] | None:
    """The pair to compare with < and friends, or None when they do not compare."""
    if is_num(field) and is_num(value):
        return field, value
    if isinstance(field, str) and isinstance(value, str):
        return field, value
    return None


def _glob(field: Any, text: str) -> bool:
    if field is None:
        return False
    shown = field if isinstance(field, str) else json.dumps(field, separators=(",", ":"))
    return fnmatch.fnmatchcase(shown, text)


_TESTS: dict[str, Callable[[Any, Any, str], bool]] = {
    "=": _equal,
    "!=": lambda f, v, t: not _equal(f, v, t),
    "<": lambda f, v, t: (p := _order(f, v)) is not None and p[0] < p[1],
    "<=": lambda f, v, t: (p := _order(f, v)) is not None and p[0] <= p[1],
    ">": lambda f, v, t: (p := _order(f, v)) is not None and p[0] > p[1],
    ">=": lambda f, v, t: (p := _order(f, v)) is not None and p[0] >= p[1],
    "~": lambda f, v, t: _glob(f, t),
}


@dataclass(frozen=True)
class Condition:
    """One parsed ``KEY OP VALUE``."""

    key: str
    op: str
    text: str
    value: Any

    def holds(self, fields: dict[str, Any]) -> bool:
        """Whether a run's fields satisfy it (a missing key is null)."""
        field = fields.get(self.key)
        if self.key in TIMES and self.op != "~":
            field = _instant(field)
        return _TESTS[self.op](field, self.value, self.text)


def _instant(value: Any) -> float | None:
    """A time as seconds since the epoch (naive: this machine's time zone), else None."""
    try:
        return datetime.fromisoformat(value).timestamp()
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def instant(started_at: Any) -> float:
    """``started_at`` as seconds since the epoch (its UTC offset applied: runs recorded under
    other time zones order by when they started); -inf where it is not a time."""
    found = _instant(started_at)
    return float("-inf") if found is None else found


def parse(expr: str) -> Condition:
    """``KEY OP VALUE`` as a ``Condition``; a one-line ``UsageError`` if it is not one."""
    match = _EXPR.match(expr)
    if match is None:
        raise UsageError([Problem("--where", f"{expr!r} is not an expression", FORM)])
    key, op, text = match.groups()
    key = ALIASES.get(key, key)
    if not text:
        raise UsageError([Problem("--where", f"{expr!r} has no value after {op}", FORM)])
    if text[0] in "=<>~" or (op == "=" and text[0] == "!"):
        what = f"{expr!r}: {op}{text[0]} is not an operator"
        raise UsageError([Problem("--where", what, FORM)])
    value = typed(text)
    if key in TIMES and op != "~" and (value := _instant(text)) is None:
        raise UsageError([Problem("--where", f"{expr!r}: {text!r} is not a time", TIME_FORM)])
    if op in ("<", "<=", ">", ">=") and not (is_num(value) or isinstance(value, str)):
        what = f"{expr!r}: {op} compares numbers or text, not {json.dumps(value)}"
        raise UsageError([Problem("--where", what, FORM)])
    return Condition(key, op, text, value)


def known_keys(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Every key some row has, in order of first appearance."""
    return list(dict.fromkeys(chain.from_iterable(rows)))


def check_keys(option: str, keys: Sequence[str], known: Sequence[str]) -> None:
    """A ``UsageError`` (one line per key) for keys that no listed run has, with up to 3
    near matches."""
    problems = []
    for key in dict.fromkeys(keys):
        if key in known:
            continue
        near = difflib.get_close_matches(key, known, n=3)
        allowed = "did you mean " + ", ".join(near) + "?" if near else "no similar key"
        problems.append(Problem(option, f"no listed run has the key {key!r}", allowed))
    if problems:
        raise UsageError(problems)


def conditions(where: Sequence[str], known: Sequence[str]) -> list[Condition]:
    """The expressions parsed, their keys checked against ``known`` (unless empty)."""
    parsed = [parse(e) for e in where]
    if known:
        check_keys("--where", [c.key for c in parsed], known)
    return parsed


def select(rows: Sequence[dict[str, Any]], where: Sequence[str]) -> list[int]:
    """The indices of the rows that satisfy every expression (ANDed); keys checked against
    the keys the rows have."""
    conds = conditions(where, known_keys(rows))
    return [i for i, row in enumerate(rows) if all(c.holds(row) for c in conds)]


def sort_order(
    rows: Sequence[dict[str, Any]], sort: str | None, known: Sequence[str] | None = None
) -> list[int]:
    """Row indices ordered by ``KEY`` (ascending) or ``-KEY`` (descending); stable, rows
    missing the key (or null there) last either way. Numbers before text before the rest.
    The key is checked against ``known`` (default: the rows' keys)."""
    indices = list(range(len(rows)))
    if not sort:
        return indices
    descending, key = sort.startswith("-"), sort.removeprefix("-")
    key = ALIASES.get(key, key)
    known = known_keys(rows) if known is None else known
    if known:
        check_keys("--sort", [key], known)
    value = (lambda row: _instant(row.get(key))) if key in TIMES else (lambda row: row.get(key))
    present = [i for i in indices if value(rows[i]) is not None]
    missing = [i for i in indices if value(rows[i]) is None]
    present.sort(key=lambda i: _sort_key(value(rows[i]), descending), reverse=descending)
    return present + missing


def _sort_key(value: Any, descending: bool) -> tuple[int, Any]:
    group = 0 if is_num(value) else 1 if isinstance(value, str) else 2
    if group == 2:
        value = json.dumps(value, sort_keys=True)
    # reversed sorting also reverses the groups: keep numbers first either way
    return (-group if descending else group), value
