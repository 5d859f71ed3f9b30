"""Reading the tables a run wrote (outputs, predictions) back as columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_table(path: Path) -> dict[str, np.ndarray]:
    """Columns of a run's CSV table, in file order; ids stay strings."""
    import pyarrow.csv as pacsv

    convert = pacsv.ConvertOptions(column_types={"id": "string", "label": "string"})
    table = pacsv.read_csv(path, convert_options=convert)
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
