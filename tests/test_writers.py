"""Table writers: every format read back equals what was written; the hash is the file's."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pyarrow.parquet as pq
import pytest

from fpexp.output_formats import OUTPUT_FORMATS
from fpexp.tables import read_table
from fpexp.writers import TableWriter


def _batches(n: int, size: int):
    values = np.arange(n * 2, dtype=np.float32).reshape(n, 2) / 7
    for start in range(0, n, size):
        part = values[start : start + size]
        ids = np.arange(start, start + len(part))
        yield {"id": ids, "a": part[:, 0], "b": part[:, 1]}, part


@pytest.mark.parametrize("announced", [23, 30, None, 0])
def test_npy_holds_every_row_whatever_row_count_was_announced(tmp_path, announced):
    writer = TableWriter(tmp_path / "outputs.npy", "npy", rows=announced)
    for columns, part in _batches(23, 5):
        writer.write(columns, part)
    writer.close()
    data = (tmp_path / "outputs.npy").read_bytes()
    assert writer.sha256 == hashlib.sha256(data).hexdigest()
    loaded = np.load(tmp_path / "outputs.npy")
    assert loaded.shape == (23, 2) and loaded.dtype == np.float32
    assert np.array_equal(loaded, np.arange(46, dtype=np.float32).reshape(23, 2) / 7)
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_are_hashed_while_written(tmp_path, fmt):
    path = tmp_path / f"outputs.{fmt}"
    writer = TableWriter(path, fmt)
    for columns, part in _batches(23, 5):
        writer.write(columns, part)
    writer.close()
    assert writer.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    table = read_table(path)
    assert list(table["id"]) == [str(i) for i in range(23)]
    assert np.allclose(table["b"], np.arange(23, dtype=np.float32) * 2 / 7 + 1 / 7)
    if fmt == "parquet":
        assert pq.ParquetFile(path).metadata.num_rows == 23


def test_an_aborted_writer_leaves_nothing(tmp_path):
    writer = TableWriter(tmp_path / "outputs.parquet", "parquet")
    for columns, part in _batches(10, 5):
        writer.write(columns, part)
    writer.abort()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
def test_every_output_format_in_the_table_reads_back_what_was_written(tmp_path, fmt):
    entry = OUTPUT_FORMATS[fmt]
    path = tmp_path / entry.file_name("outputs")
    writer = TableWriter(path, fmt, rows=23)
    for columns, part in _batches(23, 5):
        writer.write({**columns, "label": np.array(["x"] * len(part))}, part)
    writer.close()
    assert writer.named is entry.named
    assert writer.columns == (["id", "a", "b", "label"] if entry.named else ["a", "b"])
    assert writer.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    table = read_table(path, writer.columns)
    assert list(table["id"]) == [str(i) for i in range(23)]
    assert np.allclose(table["a"], np.arange(0, 46, 2, dtype=np.float32) / 7)
    assert ("label" in table) is entry.named


@pytest.mark.parametrize("fmt", list(OUTPUT_FORMATS))
def test_writeback_is_started_as_the_file_grows_and_changes_nothing_in_it(
    tmp_path, monkeypatch, fmt
):
    """Every WRITEBACK bytes the kernel is asked to start writing what is there (from where
    the last request ended, so every byte once); the file and its hash stay the same."""
    import os

    from fpexp import write_behind, writers

    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(write_behind, "WRITEBACK", 64)
    monkeypatch.setattr(writers, "SINK_BUFFER", 32)  # the sink written in many pieces
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, start, n, advice: calls.append((start, n)))
    path = tmp_path / f"outputs{OUTPUT_FORMATS[fmt].suffix}"
    writer = TableWriter(path, fmt, rows=23)
    for columns, part in _batches(23, 5):
        writer.write(columns, part)
    writer.close()
    data = path.read_bytes()
    assert writer.sha256 == hashlib.sha256(data).hexdigest()
    assert len(calls) >= 2 and calls[0][0] == 0
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(calls))
    assert all(n >= 64 for _, n in calls) and calls[-1][0] + calls[-1][1] <= len(data)
    monkeypatch.undo()  # without the advice: the same bytes
    again = tmp_path / "again" / path.name
    again.parent.mkdir()
    plain = TableWriter(again, fmt, rows=23)
    for columns, part in _batches(23, 5):
        plain.write(columns, part)
    plain.close()
    assert again.read_bytes() == data


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_pyarrow_writers_reach_the_sink_in_few_large_pieces(tmp_path, monkeypatch, fmt):
    """Each piece is a Python call that takes the GIL from the forward pass: 20,000 rows in
    batches of 1,000 reach it in a few pieces (unbuffered: one per 1,024 CSV rows, per
    Parquet page), and the file is the same as one written without the buffer."""
    from fpexp import write_behind, writers

    sizes: list[int] = []
    real = write_behind.HashingFile.write

    def counted(self, data):
        sizes.append(len(memoryview(data).cast("B")))
        return real(self, data)

    monkeypatch.setattr(write_behind.HashingFile, "write", counted)
    path = tmp_path / f"outputs.{fmt}"
    writer = TableWriter(path, fmt)
    for columns, part in _batches(20_000, 1_000):
        writer.write(columns, part)
    writer.close()
    assert len(sizes) <= 2 and sum(sizes) == path.stat().st_size
    monkeypatch.setattr(writers, "SINK_BUFFER", 1)
    again = tmp_path / "again" / path.name
    again.parent.mkdir()
    plain = TableWriter(again, fmt)
    for columns, part in _batches(20_000, 1_000):
        plain.write(columns, part)
    plain.close()
    assert again.read_bytes() == path.read_bytes()
