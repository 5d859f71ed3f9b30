"""``fpexp runs --where/--sort/--columns/--all/--csv/--json/--md`` and ``fpexp.runs(where=,
sort=)``: the query language on its own, then on real runs of two sweeps and a single run."""

from __future__ import annotations

import pytest

from fpexp.errors import UsageError
from fpexp.run_query import parse, select, sort_order

FORM = "(KEY OP VALUE with OP one of = != < <= > >= ~)"


# --- the query language, on hand-made rows -------------------------------------------------

ROWS = [
    {"run": "a", "model.width": 8, "lr": 0.5, "task.kind": "binary", "bias": True, "h": [8]},
    {"run": "b", "model.width": 16, "lr": 0.05, "task.kind": "multiclass", "bias": False},
    {"run": "c", "model.width": 8.0, "task.kind": "binary", "h": [8, 8], "path": "123"},
    {"run": "d", "model.width": None, "task.kind": "regression", "bias": True, "h": [4]},
]


@pytest.mark.parametrize(
    ("expr", "runs"),
    [
        ("model.width=8", "ac"),  # 8 == 8.0: numbers as numbers
        ("model.width = 8", "ac"),  # spaces around the operator
        ("model.width!=8", "bd"),
        ("model.width<16", "ac"),
        ("model.width<=16", "abc"),
        ("model.width>8", "b"),
        ("model.width>=8", "abc"),  # null never orders
        ("model.width=null", "d"),
        ("lr=null", "cd"),  # a missing key is null
        ("lr>0.1", "a"),
        ("lr<1e-1", "b"),
        ("bias=true", "ad"),
        ("bias=false", "b"),
        ("bias=1", ""),  # a bool is not a number
        ("task.kind=binary", "ac"),
        ('task.kind="binary"', "ac"),
        ("task.kind~*class", "b"),
        ("task.kind~bin*", "ac"),
        ("task.kind~?inary", "ac"),
        ("task.kind>c", "bd"),  # text orders as text
        ("h=[8]", "a"),  # a list as YAML/JSON
        ("h=[8, 8]", "c"),
        ("h!=[8]", "bcd"),
        ("h~[[]8*", "ac"),  # a glob over the JSON form
        ("path=123", "c"),  # text that spells a number still matches text
        ("run~[ab]", "ab"),
    ],
)
def test_every_operator_compares_typed_values(expr, runs):
    assert "".join(ROWS[i]["run"] for i in select(ROWS, [expr])) == runs


def test_repeated_expressions_are_anded():
    picked = select(ROWS, ["task.kind=binary", "model.width>=8", "h=[8, 8]"])
    assert [ROWS[i]["run"] for i in picked] == ["c"]


@pytest.mark.parametrize(
    ("expr", "what"),
    [
        ("model.width", "'model.width' is not an expression"),
        ("=8", "'=8' is not an expression"),
        ("", "'' is not an expression"),
        ("model.width 8", "'model.width 8' is not an expression"),
        ("model.width=", "'model.width=' has no value after ="),
        ("model.width==8", "'model.width==8': == is not an operator"),
        ("model.width=>8", "'model.width=>8': => is not an operator"),
        ("model.width<=[8]", "'model.width<=[8]': <= compares numbers or text, not [8]"),
        ("model.width>null", "'model.width>null': > compares numbers or text, not null"),
    ],
)
def test_a_bad_expression_is_one_line(expr, what):
    with pytest.raises(UsageError) as err:
        parse(expr)
    assert err.value.lines() == [f"fpexp: error: --where: {what} {FORM}"]


@pytest.mark.parametrize(
    ("sort", "runs"),
    [
        ("model.width", "acbd"),  # stable: a before c (8 == 8.0); null last
        ("-model.width", "bacd"),  # descending, stable, null still last
        ("lr", "bacd"),  # missing last
        ("-lr", "abcd"),
        ("task.kind", "acbd"),
        ("-task.kind", "dbac"),
        ("h", "dcab"),  # lists by their JSON form ("[8, 8]" < "[8]"); missing last
        (None, "abcd"),
    ],
)
def test_sort_is_stable_and_puts_missing_last(sort, runs):
    assert "".join(ROWS[i]["run"] for i in sort_order(ROWS, sort)) == runs


@pytest.mark.parametrize(
    ("call", "line"),
    [
        (
            lambda: select(ROWS, ["model.widht=8"]),
            "--where: no listed run has the key 'model.widht' (did you mean model.width?)",
        ),
        (
            lambda: select(ROWS, ["zzz=1"]),
            "--where: no listed run has the key 'zzz' (no similar key)",
        ),
        (
            lambda: sort_order(ROWS, "-task.knd"),
            "--sort: no listed run has the key 'task.knd' (did you mean task.kind?)",
        ),
    ],
)
def test_an_unknown_key_names_near_matches(call, line):
    with pytest.raises(UsageError) as err:
        call()
    assert err.value.lines() == [f"fpexp: error: {line}"]
