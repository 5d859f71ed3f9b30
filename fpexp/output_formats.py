"""The output formats, one entry per ``output.format``: file suffix, named columns or values
only, and the writer (``fpexp.writers``) and reader (``fpexp.tables``) that handle it.

This table imports neither (nor numpy or pyarrow): validation and ``--help`` read it. Adding a
format is an encoder class in ``writers``, a reader in ``tables`` and one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OutputFormat:
    """One output format. ``named``: the file holds named columns (``id``, values, ``label``);
    otherwise the values only, with rows matched by position (their names are in run.json)."""

    suffix: str
    named: bool
    encoder: str  # a class in fpexp.writers: write(data) and finish() on the writer's thread
    reader: str  # a function in fpexp.tables: (path, recorded names) -> named columns

    def file_name(self, stem: str) -> str:
        """``outputs`` -> ``outputs.csv``."""
        return stem + self.suffix


OUTPUT_FORMATS: dict[str, OutputFormat] = {
    "csv": OutputFormat(".csv", True, "CsvEncoder", "read_csv"),
    "parquet": OutputFormat(".parquet", True, "ParquetEncoder", "read_parquet"),
    "npy": OutputFormat(".npy", False, "NpyEncoder", "read_npy"),
}


def by_suffix(path: Path) -> OutputFormat | None:
    """The output format of a run's table, from its file name; None for another suffix."""
    return next((f for f in OUTPUT_FORMATS.values() if f.suffix == Path(path).suffix), None)
