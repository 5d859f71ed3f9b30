"""``data.label`` as a list of 0/1 columns (task=multilabel): read as float64 ``[n, k]`` in the
listed order from CSV, Parquet and NPY, never features; bad lists refused in one line each."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from fpexp import cli
from fpexp.data import open_source
from fpexp.errors import UsageError

N = 23
FORMATS = ["csv", "parquet", "npy"]
COLUMNS = ["rid", "f0", "f1", "f2", "has_hair", "lays_eggs", "flies"]
NPY_NAME = {c: f"x{i}" for i, c in enumerate(COLUMNS)}  # an .npy's columns are x0, x1, ...


def name(fmt: str, col: str) -> str:
    """A column as the user names it in this format."""
    return NPY_NAME.get(col, col) if fmt == "npy" else col


def write_data(tmp_path, fmt: str, missing: tuple[int, str] | None = None) -> dict:
    """The table in ``fmt``; ``missing`` (row index, label column) leaves that cell empty."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, 3)).astype(np.float32)
    y = rng.integers(0, 2, (N, 3))
    labels: dict[str, list] = {c: y[:, j].tolist() for j, c in enumerate(COLUMNS[4:])}
    if missing is not None:
        labels[missing[1]][missing[0]] = None
    cols = {"rid": list(range(100, 100 + N)), **{f"f{j}": x[:, j] for j in range(3)}, **labels}
    path = tmp_path / f"data.{fmt}"
    if fmt == "npy":
        arr = np.array([[np.nan if v is None else v for v in c] for c in cols.values()]).T
        np.save(path, arr.astype(np.float32))
    else:
        table = pa.table({**cols, "kind": [f"k{i % 3}" for i in range(N)]})
        pacsv.write_csv(table, path) if fmt == "csv" else pq.write_table(table, path)
    return {"path": path, "x": x, "y": y.astype(np.float64)}


def source(compose_cfg, fmt: str, data: dict, *overrides: str):
    cfg = compose_cfg("data=file", f"data.path={data['path']}", *overrides)
    return open_source(cfg.data)


def labels_of(src, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    batches = list(src.batches(batch_size))
    return (
        np.concatenate([b.ids for b in batches]),
        np.concatenate([b.features for b in batches]),
        np.concatenate([b.labels for b in batches]),
    )


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("batch_size", [5, 100])
def test_a_list_label_is_an_n_by_k_float_array_in_the_listed_order(
    compose_cfg, tmp_path, fmt, batch_size
):
    data = write_data(tmp_path, fmt)
    listed = [name(fmt, c) for c in ("flies", "has_hair", "lays_eggs")]  # not the file's order
    label = f"data.label=[{','.join(listed)}]"
    src = source(compose_cfg, fmt, data, label, f"data.id={name(fmt, 'rid')}")
    ids, features, labels = labels_of(src, batch_size)
    assert labels.dtype == np.float64 and labels.shape == (N, 3)
    np.testing.assert_array_equal(labels, data["y"][:, [2, 0, 1]])
    np.testing.assert_array_equal(features, data["x"])  # label columns are never features
    assert [int(i) for i in ids] == list(range(100, 100 + N))
    assert src.label_names == listed
    assert src.feature_names == [name(fmt, c) for c in ("f0", "f1", "f2")]
    described = src.describe()
    assert described["label"] == listed and described["has_labels"] is True
    assert "kind" in described.get("excluded_columns", {}) or fmt == "npy"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_single_label_keeps_its_one_column_and_no_label_names(compose_cfg, tmp_path, fmt):
    data = write_data(tmp_path, fmt)
    src = source(compose_cfg, fmt, data, f"data.label={name(fmt, 'flies')}")
    _, _, labels = labels_of(src, 7)
    assert labels.shape == (N,) and src.label_names is None
    assert src.describe()["label"] == name(fmt, "flies")
    np.testing.assert_array_equal(labels.astype(np.float64), data["y"][:, 2])


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_missing_label_cell_names_column_and_row_or_is_dropped(compose_cfg, tmp_path, fmt):
    data = write_data(tmp_path, fmt, missing=(6, "lays_eggs"))
    listed = [name(fmt, c) for c in ("has_hair", "lays_eggs", "flies")]
    label = f"data.label=[{','.join(listed)}]"
    with pytest.raises(UsageError) as err:
        labels_of(source(compose_cfg, fmt, data, label), 4)
    assert [str(p) for p in err.value.problems] == [
        f"data.label: {data['path']}: column '{listed[1]}', row 7: no label (empty or NaN) "
        "(a label in every row; data.nan=drop skips such rows)"
    ]
    src = source(compose_cfg, fmt, data, label, "data.nan=drop")
    ids, _, labels = labels_of(src, 4)
    assert src.rows_dropped == 1 and len(ids) == N - 1 and 6 not in list(ids)
    np.testing.assert_array_equal(labels, np.delete(data["y"], 6, axis=0))


def _listing(fmt: str) -> str:
    names = [name(fmt, c) for c in COLUMNS] + ([] if fmt == "npy" else ["kind"])
    return ", ".join(names)


LIST_ALLOWED = "(a column name, or a list of distinct column names, e.g. [a, b, c])"
# each bad case: overrides (column names as in the csv) -> the expected lines (csv names)
BAD = {
    "feature is a label": (
        ["data.features=[f0,flies]", "data.label=[has_hair,flies]"],
        [
            "data.features: 'flies' is data.label, it cannot also be a feature "
            "(columns other than data.label)"
        ],
    ),
    "repeated": (
        ["data.label=[flies,has_hair,flies]"],
        [f"data.label: ['flies', 'has_hair', 'flies']: 'flies' is listed 2 times {LIST_ALLOWED}"],
    ),
    "label is the id": (
        ["data.id=rid", "data.label=[rid,flies]"],
        ["data.label: 'rid' is also data.id (another column)"],
    ),
    "unknown column": (
        ["data.label=[flies,nope]"],
        ["data.label: {path}: no column 'nope' (one of: {listing})"],
    ),
    "empty list": (["data.label=[]"], [f"data.label: is an empty list {LIST_ALLOWED}"]),
    "not a name": (
        ["data.label=[flies,null,'']"],
        [
            "data.label: ['flies', None, '']: item 1 (None) is not a column name; "
            f"item 2 ('') is not a column name {LIST_ALLOWED}"
        ],
    ),
    "every problem at once": (
        ["data.features=[f0,flies]", "data.id=rid", "data.label=[flies,nope,rid]"],
        [
            "data.label: {path}: no column 'nope' (one of: {listing})",
            "data.label: 'rid' is also data.id (another column)",
            "data.features: 'flies' is data.label, it cannot also be a feature "
            "(columns other than data.label)",
        ],
    ),
}


def _multilabel(overrides: list[str]) -> list[str]:
    """``task=multilabel`` with one output per listed column: a list label needs that head."""
    label = next(o for o in overrides if o.startswith("data.label="))
    n = len([c for c in label.split("=", 1)[1].strip("[]").split(",") if c])
    return ["task=multilabel", *([f"task.out_features={n}"] if n else [])]


def _in(fmt: str, text: str) -> str:
    """``text`` with the csv's column names as this format names them."""
    if fmt != "npy":
        return text
    for col in sorted(COLUMNS, key=len, reverse=True):
        text = text.replace(f"'{col}'", f"'{NPY_NAME[col]}'").replace(col, NPY_NAME[col])
    return text


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_list_label_is_refused_in_one_line_per_problem(
    tmp_path, monkeypatch, capsys, fmt, case
):
    data = write_data(tmp_path, fmt)
    monkeypatch.chdir(tmp_path)
    overrides, lines = BAD[case]
    args = ["data=file", f"data.path={data['path'].name}", *(_in(fmt, o) for o in overrides)]
    args += _multilabel(overrides)
    assert cli.main([*args, f"hydra.run.dir={tmp_path / 'run'}"]) == 2
    listing = _listing(fmt)
    expected = [_in(fmt, line).format(path=data["path"], listing=listing) for line in lines]
    assert capsys.readouterr().err.splitlines() == [f"fpexp: error: {e}" for e in expected]
    assert not list((tmp_path / "run").glob("outputs.*"))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_text_column_in_a_list_label_is_refused(tmp_path, monkeypatch, capsys, fmt):
    data = write_data(tmp_path, fmt)
    monkeypatch.chdir(tmp_path)
    args = ["data=file", f"data.path={data['path'].name}", "data.label=[flies,kind]"]
    args += ["task=multilabel", "task.out_features=2"]
    assert cli.main([*args, f"hydra.run.dir={tmp_path / 'run'}"]) == 2
    kind = "string"
    assert capsys.readouterr().err == (
        f"fpexp: error: data.label: {data['path']}: label column 'kind' is not numeric "
        f"(type {kind}) (numeric 0/1 columns, one per class)\n"
    )
