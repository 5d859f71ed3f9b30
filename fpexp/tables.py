"""Reading the tables a run wrote (outputs, predictions) back as named columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_table(path: Path, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Columns in file order; ids as strings. An .npy table gets ``id`` = row index and
    ``names`` (as recorded in run.json) for its columns."""
    path = Path(path)
    if path.suffix == ".npy":
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        arr2 = arr.reshape(len(arr), -1)
        cols = [n for n in (names or []) if n != "id"] or [str(j) for j in range(arr2.shape[1])]
        return {
            "id": np.arange(len(arr)).astype(str),
            **{c: arr2[:, j] for j, c in enumerate(cols)},
        }
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    else:
        import pyarrow.csv as pacsv

        convert = pacsv.ConvertOptions(column_types={"id": "string", "label": "string"})
        table = pacsv.read_csv(path, convert_options=convert)
    out = {n: table.column(n).to_numpy(zero_copy_only=False) for n in table.column_names}
    if "id" in out:
        out["id"] = out["id"].astype(str)
    return out
