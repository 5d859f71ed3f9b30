"""Streaming writers for ``outputs.*`` and ``predictions.*``, and layers.csv.

Each writer fills a temporary sibling file batch by batch, on a write-behind thread (formatting,
writing and hashing overlap the forward pass), and renames it to its final name only at the
end (``finish()`` queues it, ``close()`` waits for it), after fsync, with its sha256 already
known; ``abort()`` removes it. So a run that stops midway leaves no file under a final name.
What goes into the file is the output format's encoder (its entry in ``fpexp.output_formats``
names it): CSV and Parquet through pyarrow (tables built by ``fpexp.arrow_columns``, which
never imports pandas); NPY written directly, its header holding the row
count announced up front (``rows``) and rewritten if the count turns out different.
"""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path
from typing import Any

import numpy as np

from fpexp import arrow_columns, atomic, csv_text
from fpexp.atomic import atomic_path, finalize, temporary
from fpexp.hashing import sha256_file
from fpexp.output_formats import OUTPUT_FORMATS
from fpexp.write_behind import HashingFile, WriteBehind

NPY_HEADER_BYTES = 128  # fixed, so the shape can be rewritten in place once the rows are known
ROW_GROUP = 1 << 20  # Parquet rows per row group: batches are gathered up to this many
SINK_BUFFER = 4 << 20  # bytes gathered before a CSV or Parquet writer's bytes reach the sink


class CsvEncoder:
    """Named columns as CSV text (quoted where needed).

    pyarrow's writers write in small pieces (CSV: every 1,024 rows; Parquet: every page), and
    each piece written to the hashing sink is a Python call that takes the GIL from the forward
    pass: a buffer of ``SINK_BUFFER`` bytes in front of the sink makes them few (10M rows of
    CSV: ~10,000 calls a file before, ~50 now). The bytes are the same."""

    def __init__(self, writer: TableWriter) -> None:
        self.sink = writer.sink
        self.writer: Any = None
        self.stream: Any = None
        rows = writer.expected_rows
        self.small = rows is not None and rows <= csv_text.SMALL_ROWS  # text built in Python
        self.header = True  # still to be written

    def buffered(self) -> Any:
        """The buffered stream in front of the sink, opened on first use."""
        import pyarrow as pa

        if self.stream is None:
            raw = pa.PythonFile(self.sink, mode="w")
            self.stream = pa.BufferedOutputStream(raw, buffer_size=SINK_BUFFER)
        return self.stream

    def write(self, columns: dict[str, np.ndarray]) -> None:
        if self.small and self.writer is None:
            text = csv_text.encode(columns, header=self.header)
            if text is not None:  # the same bytes as pyarrow's, without importing it
                self.sink.write(text)
                self.header = False
                return
        import pyarrow.csv as pacsv

        table = arrow_columns.table(columns)
        if self.writer is None:
            options = pacsv.WriteOptions(quoting_style="needed", include_header=self.header)
            self.writer = pacsv.CSVWriter(self.buffered(), table.schema, write_options=options)
        self.writer.write_table(table)

    def finish(self) -> bool:
        """Write what is left; whether the file was changed behind the hashing sink (no)."""
        self.close()
        return False

    def close(self) -> None:
        """Close the writer, then its stream: its last bytes go to the sink."""
        try:
            if self.writer is not None:
                self.writer.close()
        finally:
            if self.stream is not None and not self.stream.closed:
                self.stream.close()


class ParquetEncoder(CsvEncoder):
    """Named columns as Parquet, in row groups of ``ROW_GROUP`` rows."""

    def __init__(self, writer: TableWriter) -> None:
        super().__init__(writer)
        self.pending: list[Any] = []  # tables not yet written as a row group
        self.pending_rows = 0

    def write(self, columns: dict[str, np.ndarray]) -> None:
        import pyarrow.parquet as pq

        table = arrow_columns.table(columns)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.buffered(), table.schema)
        self.pending.append(table)
        self.pending_rows += table.num_rows
        if self.pending_rows >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self.pending:
            self.writer.write_table(pa.concat_tables(self.pending), row_group_size=ROW_GROUP)
            self.pending, self.pending_rows = [], 0

    def finish(self) -> bool:
        if self.writer is not None:
            self._flush()
        return super().finish()


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    text = f"{{'descr': '{dtype.str}', 'fortran_order': False, 'shape': {shape!r}, }}"
    body = text.ljust(NPY_HEADER_BYTES - 10 - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body.encode("latin1")


class NpyEncoder:
    """The values array only; the header's row count is rewritten in place if it changed."""

    def __init__(self, writer: TableWriter) -> None:
        self.sink, self.fh, self.announced = writer.sink, writer.fh, writer.expected_rows or 0
        self.layout: tuple[np.dtype, tuple[int, ...]] | None = None
        self.rows = 0

    def write(self, array: np.ndarray) -> None:
        if self.layout is None:
            self.layout = (array.dtype, array.shape[1:])
            self.sink.write(_npy_header(array.dtype, (self.announced, *array.shape[1:])))
        self.sink.write(array.data)
        self.rows += len(array)

    def finish(self) -> bool:
        """The header again where the row count differs: then the file must be hashed anew."""
        if self.layout is None:
            self.write(np.zeros((0,), dtype=np.float32))
        assert self.layout is not None
        dtype, tail = self.layout
        if self.rows == self.announced:
            return False
        self.fh.seek(0)
        self.fh.write(_npy_header(dtype, (self.rows, *tail)))
        return True

    def close(self) -> None:
        """Nothing of its own to close."""


class TableWriter:
    """One output table. ``write`` takes named columns and the values array (a format that is
    not ``named`` keeps the array only); ``rows``, where known, is the row count expected."""

    def __init__(self, path: Path, fmt: str, rows: int | None = None) -> None:
        self.path, self.format, self.expected_rows = Path(path), fmt, rows
        self.named = OUTPUT_FORMATS[fmt].named  # False: no id or label columns in the file
        self.tmp = temporary(self.path)
        self.columns: list[str] = []
        self.sha256: str | None = None
        self.fh = open(self.tmp, "wb")  # noqa: SIM115 (closed in close/abort)
        self.sink = HashingFile(self.fh)
        self._encoder = globals()[OUTPUT_FORMATS[fmt].encoder](self)
        self._thread = WriteBehind(f"write {self.path.name}")
        self._finishing = False
        self._renamed = False  # the thread gave the file its final name

    def write(self, columns: dict[str, np.ndarray], array: np.ndarray) -> None:
        if not self.columns:  # as recorded in run.json; an .npy holds the values only
            drop = () if self.named else ("id", "label")
            self.columns = [c for c in columns if c not in drop]
        data = columns if self.named else np.ascontiguousarray(array)
        self._thread.submit(self._encoder.write, data)

    def _finish_file(self) -> None:
        """The file's last bytes (the Parquet footer, a corrected NPY header), then its hash."""
        rewritten = self._encoder.finish()
        self.fh.close()
        self.sha256 = sha256_file(self.tmp) if rewritten else self.sink.digest.hexdigest()

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
        self.sink.discarding = True
        for close in (self._encoder.close, self.fh.close):
            with contextlib.suppress(Exception):
                close()
        for path in (self.tmp, self.path) if self._renamed else (self.tmp,):
            with contextlib.suppress(OSError):  # the run's cleanup tries again, and reports it
                path.unlink(missing_ok=True)


def write_layers(path: Path, rows: list[dict[str, object]]) -> None:
    """``layers.csv``: one row per module with its output statistics."""
    from fpexp.layer_stats import COLUMNS

    columns = {c: [r[c] for r in rows] for c in COLUMNS}
    text = csv_text.encode(columns)
    if text is not None:  # the same bytes as pyarrow's, without importing it
        atomic.write_bytes(path, text)
        return
    import pyarrow.csv as pacsv

    table = arrow_columns.table(columns)
    with atomic_path(path) as tmp:
        pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="needed"))
