"""A run imports only what it uses: in a user's environment (pandas, matplotlib, scikit-learn,
scipy installed) a default run loads none of them, for every output format; and the Arrow
arrays fpexp builds without pyarrow's pandas shim equal what ``pa.array`` gives."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from conftest import ENV

from fpexp import arrow_columns
from fpexp.output_formats import OUTPUT_FORMATS

# Libraries of a user's data environment that no single run uses.
FORBIDDEN = ("pandas", "matplotlib", "sklearn", "scipy")
# The third-party top-level modules a single run may load: what it uses and what they import.
ALLOWED = {
    "fpexp",
    "hydra_plugins",  # Hydra's plugin discovery imports every launcher plugin's module
    "torch",
    "torchgen",  # torch's
    "tqdm",  # torch.hub's
    "typing_extensions",
    "numpy",
    "hydra",
    "omegaconf",
    "antlr4",  # omegaconf's grammar
    "yaml",
    "attr",  # omegaconf's
    "packaging",
    "pyarrow",
    "cloudpickle",  # pyarrow's
    "cython_runtime",  # pyarrow's
    "safetensors",
}
# `python -m fpexp ARGS` as the console runs it, for each ARGS in turn in this one process (each
# run leaves through SystemExit: FPEXP_SLOW_EXIT), printing sys.modules' top-level names after each.
PROBE = """
import json, runpy, sys
steps = []
for args in json.loads(sys.argv[1]):
    sys.argv = ["fpexp", *args]
    try:
        runpy.run_module("fpexp", run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        steps.append([exit.code, sorted({m.split(".")[0] for m in sys.modules})])
print(json.dumps(steps))
"""
FORMATS = [None, *OUTPUT_FORMATS]
SUFFIXES = [".csv", ".parquet"]


def _stubs(root: Path) -> Path:
    """Stand-ins for the forbidden libraries this environment lacks: importing one puts it
    in sys.modules (and pyarrow finds its version too old), so the test fails, never skips."""
    for name in FORBIDDEN:
        if importlib.util.find_spec(name) is None:
            (root / name).mkdir(parents=True)
            (root / name / "__init__.py").write_text('__version__ = "0"\n')
    return root


def _table_file(path: Path) -> Path:
    """A CSV or Parquet input with an id and a text label."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    x = np.arange(60, dtype=np.float64).reshape(10, 6)
    table = pa.table({"name": [f"r{i}" for i in range(10)], **{f"f{j}": x[:, j] for j in range(6)}})
    table = table.append_column("y", pa.array(["a", "b"] * 5))
    (pacsv.write_csv if path.suffix == ".csv" else pq.write_table)(table, path)
    return path


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> dict[object, set[str]]:
    """The top-level modules loaded after each run (an output format, or reading a table file
    of a suffix), all the runs in ONE fresh process (~2 s each as processes of their own).
    Ordered so that each run is allowed all the earlier runs were (pyarrow's runs last): what
    is loaded after a run is what its own fresh process would load together with what the
    earlier ones' would, so a module a run must not load still shows after it."""
    tmp = tmp_path_factory.mktemp("imports")
    runs: dict[object, list[str]] = {}
    for fmt in sorted(FORMATS, key=lambda f: f == "parquet"):
        runs[fmt] = [*([f"output.format={fmt}"] if fmt else [])]
    for suffix in SUFFIXES:
        path = _table_file(tmp / f"d{suffix}")
        runs[suffix] = [*("data=file", f"data.path={path}", "data.id=name", "data.label=y")]
        runs[suffix].append("task.classes=[a,b]")
    for n, args in enumerate(runs.values()):
        args.append(f"hydra.run.dir={tmp / f'run{n}'}")
    env = dict(ENV, PYTHONPATH=str(_stubs(tmp / "stubs")), FPEXP_SLOW_EXIT="1")
    argv = [sys.executable, "-c", PROBE, json.dumps(list(runs.values()))]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=tmp)
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout.splitlines()[-1])
    assert [code for code, _ in steps] == [0] * len(runs), done.stderr
    assert all((tmp / f"run{n}" / "run.json").is_file() for n in range(len(runs)))
    return {key: set(names) for key, (_, names) in zip(runs, steps, strict=True)}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_single_run_loads_no_library_it_does_not_use(loaded, fmt: str | None) -> None:
    """A default run (None) and one per output format."""
    names = loaded[fmt]
    assert [name for name in FORBIDDEN if name in names] == []
    third_party = {m for m in names - set(sys.stdlib_module_names) if not m.startswith("_")}
    assert third_party - ALLOWED == set()
    assert {"torch", "numpy", "hydra", "omegaconf", "safetensors"} <= names
    # Small CSV tables are written without pyarrow (fpexp.csv_text); Parquet needs it.
    assert ("pyarrow" in names) == (fmt == "parquet")


@pytest.mark.slow
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_reading_a_table_file_loads_no_library_it_does_not_use(loaded, suffix: str) -> None:
    """CSV and Parquet inputs (with an id and a text label) become numpy without pyarrow's
    ``to_numpy``, whose pandas check imports pandas where it is installed."""
    assert [name for name in FORBIDDEN if name in loaded[suffix]] == []


def _ipc(array: pa.Array) -> bytes:
    """The array's exact bytes (type, nulls, values; NaN compares equal to itself here)."""
    sink = pa.BufferOutputStream()
    table = pa.table({"x": array})
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


COLUMNS = {
    "int64": np.arange(5, dtype=np.int64),
    "uint8": np.array([0, 255], dtype=np.uint8),
    "float16": np.array([1.5, -0.0], dtype=np.float16),
    "float32_nan_inf": np.array([1.5, np.nan, np.inf, -np.inf], dtype=np.float32),
    "float64_strided": np.arange(12, dtype=np.float64).reshape(4, 3)[:, 1],
    "bool": np.array([True, False, True, True, False, False, True, False, True]),
    "empty_float": np.array([], dtype=np.float32),
    "text": np.array(["dog", "", "émû", "蛇", 'x,"y"'], dtype=object),
    "text_with_nuls": np.array(["a\x00b", "", "\x00", "c"], dtype=object),  # item by item
    "one_empty_text": np.array([""], dtype=object),
    "numpy_unicode": np.array(["a", "bb"]),
    "numpy_unicode_classes": np.array(["0", "1"])[np.arange(1000) % 3 % 2],  # code points
    "numpy_unicode_padded": np.array(["no", "yes", ""], dtype="<U6"),
    "numpy_unicode_nuls": np.array(["a\x00b", "\x00c", "d\x00", "e"]),  # numpy's own str
    "numpy_unicode_nuls_not_ascii": np.array(["é\x00x", "b"]),  # numpy's own str
    "numpy_unicode_not_ascii": np.array(["é", "蛇", "a"]),  # item by item
    "numpy_unicode_sliced": np.array(["ab", "c", "de", "f"])[::2],
    "mixed_objects": np.array(["a", 1], dtype=object),  # left to pa.array (it raises)
    "empty_objects": np.array([], dtype=object),  # pa.array: type null
    "big_endian": np.array([1, 2], dtype=">i4"),
    "list_ints": [0, 1, 2],
    "list_floats": [0.5, float("nan")],
    "list_texts": ["Linear", "Sigmoid"],
    "list_mixed_numbers": [1, 2.5],  # pa.array: double
    "list_beyond_int64": [2**63],
}


# pa.array ends a numpy unicode item at its first NUL; fpexp writes what numpy's own str of it
# is (a NUL inside kept), or class names 'a\0b' and 'a\0z' would both be written 'a'.
AS_NUMPY_STR = {"numpy_unicode_nuls", "numpy_unicode_nuls_not_ascii"}


@pytest.mark.parametrize("name", COLUMNS)
def test_arrow_columns_equal_pa_array(name: str) -> None:
    values = COLUMNS[name]
    try:
        expected = pa.array(values.tolist() if name in AS_NUMPY_STR else values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as err:
        with pytest.raises(type(err)):
            arrow_columns.array(values)
        return
    built = arrow_columns.array(values)
    assert built.type == expected.type
    assert _ipc(built) == _ipc(expected)


def test_arrow_table_keeps_names_and_order() -> None:
    columns = {"id": COLUMNS["text"], "b": np.arange(5.0), "a": np.zeros(5, np.int32)}
    table = arrow_columns.table(columns)
    assert table.column_names == ["id", "b", "a"]
    assert table.equals(pa.table(columns))
