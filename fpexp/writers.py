"""Streaming writers for ``outputs.*`` and ``predictions.*`` (csv, parquet, npy), and layers.csv.

Each writer fills a temporary sibling file batch by batch and renames it to its final name only
in ``close()``; ``abort()`` removes it. So a run that stops midway leaves no file under a
final name. CSV and Parquet go through pyarrow; NPY is written directly with a header that is
rewritten with the final row count at the end.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from fpexp.atomic import atomic_path, finalize

NPY_HEADER_BYTES = 128  # fixed, so the shape can be rewritten in place once the rows are known
ROW_GROUP = 1 << 20  # Parquet rows per row group: batches are gathered up to this many


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    text = f"{{'descr': '{dtype.str}', 'fortran_order': False, 'shape': {shape!r}, }}"
    body = text.ljust(NPY_HEADER_BYTES - 10 - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body.encode("latin1")


class TableWriter:
    """One output table. ``write`` takes named columns (csv, parquet) or the array (npy)."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path, self.format = Path(path), fmt
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self.columns: list[str] = []
        self._writer = None
        self._fh = None
        self._rows = 0
        self._npy: tuple[np.dtype, tuple[int, ...]] | None = None
        self._pending: list = []  # Parquet tables not yet written as a row group

    def write(self, columns: dict[str, np.ndarray], array: np.ndarray) -> None:
        if not self.columns:  # as recorded in run.json; an .npy holds the values only
            drop = ("id", "label") if self.format == "npy" else ()
            self.columns = [c for c in columns if c not in drop]
        if self.format == "npy":
            self._write_npy(np.ascontiguousarray(array))
            return
        import pyarrow as pa

        table = pa.table(columns)
        if self._writer is None:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self.tmp, table.schema)
            else:
                import pyarrow.csv as pacsv

                options = pacsv.WriteOptions(quoting_style="needed")
                self._writer = pacsv.CSVWriter(self.tmp, table.schema, write_options=options)
        if self.format != "parquet":
            self._writer.write_table(table)
            return
        self._pending.append(table)
        self._rows += table.num_rows
        if self._rows >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._pending:
            self._writer.write_table(pa.concat_tables(self._pending), row_group_size=ROW_GROUP)
            self._pending, self._rows = [], 0

    def _write_npy(self, array: np.ndarray) -> None:
        if self._fh is None:
            self._fh = open(self.tmp, "wb")  # noqa: SIM115 (closed in close/abort)
            self._npy = (array.dtype, array.shape[1:])
            self._fh.write(_npy_header(array.dtype, (0, *array.shape[1:])))
        self._fh.write(array.tobytes())
        self._rows += len(array)

    def close(self) -> None:
        """Finish the file and give it its final name."""
        if self.format == "npy":
            if self._fh is None:
                self._write_npy(np.zeros((0,), dtype=np.float32))
            dtype, tail = self._npy
            self._fh.seek(0)
            self._fh.write(_npy_header(dtype, (self._rows, *tail)))
            self._fh.close()
        elif self._writer is not None:
            self._flush()
            self._writer.close()
        else:
            self.tmp.write_bytes(b"")
        finalize(self.tmp, self.path)

    def abort(self) -> None:
        for handle in (self._writer, self._fh):
            try:
                if handle is not None:
                    handle.close()
            except Exception:
                pass
        self.tmp.unlink(missing_ok=True)


def write_layers(path: Path, rows: list[dict[str, object]]) -> None:
    """``layers.csv``: one row per module with its output statistics."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from fpexp.layer_stats import COLUMNS

    table = pa.table({c: [r[c] for r in rows] for c in COLUMNS})
    with atomic_path(path) as tmp:
        pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="needed"))
