"""Streaming writers for ``outputs.*`` and ``predictions.*`` (csv, parquet, npy), and layers.csv.

Each writer fills a temporary sibling file batch by batch, on a write-behind thread (formatting,
writing and hashing overlap the forward pass), and renames it to its final name only at the
end (``finish()`` queues it, ``close()`` waits for it), after fsync, with its sha256 already
known; ``abort()`` removes it. So a run that
stops midway leaves no file under a final name. CSV and Parquet go through pyarrow; NPY is
written directly, its header holding the row count announced up front (``rows``) and rewritten
if the count turns out different.
"""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path
from typing import Any

import numpy as np

from fpexp.atomic import atomic_path, finalize, temporary
from fpexp.hashing import sha256_file
from fpexp.write_behind import HashingFile, WriteBehind

NPY_HEADER_BYTES = 128  # fixed, so the shape can be rewritten in place once the rows are known
ROW_GROUP = 1 << 20  # Parquet rows per row group: batches are gathered up to this many


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    text = f"{{'descr': '{dtype.str}', 'fortran_order': False, 'shape': {shape!r}, }}"
    body = text.ljust(NPY_HEADER_BYTES - 10 - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body.encode("latin1")


class TableWriter:
    """One output table. ``write`` takes named columns (csv, parquet) or the array (npy);
    ``rows``, where known, is the row count expected in the end."""

    def __init__(self, path: Path, fmt: str, rows: int | None = None) -> None:
        self.path, self.format, self.expected_rows = Path(path), fmt, rows
        self.tmp = temporary(self.path)
        self.columns: list[str] = []
        self.sha256: str | None = None
        self._fh = open(self.tmp, "wb")  # noqa: SIM115 (closed in close/abort)
        self._sink = HashingFile(self._fh)
        self._thread = WriteBehind(f"write {self.path.name}")
        self._writer: Any = None
        self._rows = 0
        self._npy: tuple[np.dtype, tuple[int, ...]] | None = None
        self._pending: list[Any] = []  # Parquet tables not yet written as a row group
        self._pending_rows = 0
        self._finishing = False
        self._renamed = False  # the thread gave the file its final name

    def write(self, columns: dict[str, np.ndarray], array: np.ndarray) -> None:
        if not self.columns:  # as recorded in run.json; an .npy holds the values only
            drop = ("id", "label") if self.format == "npy" else ()
            self.columns = [c for c in columns if c not in drop]
        if self.format == "npy":
            self._thread.submit(self._write_npy, np.ascontiguousarray(array))
        else:
            self._thread.submit(self._write_table, columns)

    def _write_table(self, columns: dict[str, np.ndarray]) -> None:
        import pyarrow as pa

        table = pa.table(columns)
        if self._writer is None:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self._sink, table.schema)
            else:
                import pyarrow.csv as pacsv

                options = pacsv.WriteOptions(quoting_style="needed")
                self._writer = pacsv.CSVWriter(self._sink, table.schema, write_options=options)
        self._rows += table.num_rows
        if self.format != "parquet":
            self._writer.write_table(table)
            return
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._pending:
            self._writer.write_table(pa.concat_tables(self._pending), row_group_size=ROW_GROUP)
            self._pending, self._pending_rows = [], 0

    def _write_npy(self, array: np.ndarray) -> None:
        if self._npy is None:
            self._npy = (array.dtype, array.shape[1:])
            announced = self.expected_rows or 0
            self._sink.write(_npy_header(array.dtype, (announced, *array.shape[1:])))
        self._sink.write(array.data)
        self._rows += len(array)

    def _finish_file(self) -> None:
        """The file's last bytes (the Parquet footer, a corrected NPY header), then its hash."""
        if self.format == "npy":
            if self._npy is None:
                self._write_npy(np.zeros((0,), dtype=np.float32))
            dtype, tail = self._npy
            if self._rows != (self.expected_rows or 0):
                self._fh.seek(0)
                self._fh.write(_npy_header(dtype, (self._rows, *tail)))
                self._fh.close()
                self.sha256 = sha256_file(self.tmp)
                return
        elif self._writer is not None:
            self._flush()
            self._writer.close()
        self._fh.close()
        self.sha256 = self._sink.digest.hexdigest()

    def finish(self) -> None:
        """Queue the file's end: last bytes, fsync, final name. ``close()`` waits for it."""
        if not self._finishing:
            self._finishing = True
            self._thread.submit(self._finish_file)
            self._thread.submit(self._finalize)

    def _finalize(self) -> None:
        finalize(self.tmp, self.path)
        self._renamed = True

    def close(self) -> None:
        """Finish the file, give it its final name, and wait until that is done."""
        self.finish()
        self._thread.finish()

    def abort(self) -> None:
        """Stop writing and remove the temporary file, or the final one if the thread had
        already renamed it (an interrupt right after the forward pass)."""
        self._thread.stop(cancel=True)
        self._sink.discarding = True
        for handle in (self._writer, self._fh):
            try:
                if handle is not None:
                    handle.close()
            except Exception:
                pass
        for path in (self.tmp, self.path) if self._renamed else (self.tmp,):
            with contextlib.suppress(OSError):  # the run's cleanup tries again, and reports it
                path.unlink(missing_ok=True)


def write_layers(path: Path, rows: list[dict[str, object]]) -> None:
    """``layers.csv``: one row per module with its output statistics."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from fpexp.layer_stats import COLUMNS

    table = pa.table({c: [r[c] for r in rows] for c in COLUMNS})
    with atomic_path(path) as tmp:
        pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="needed"))
