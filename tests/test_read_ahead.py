"""Reading ahead (fpexp.data.read_ahead): CSV and Parquet blocks decoded on a thread while the
model runs. The same items in the same order, at most ``depth`` ahead; a reader's error raised
where it would have been; a consumer that stops early stops the thread and closes the reader."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from fpexp.data.formats import INPUT_FORMATS
from fpexp.data.read_ahead import read_ahead
from fpexp.errors import UsageError


def _reader(n: int, log: list[str], fail_at: int | None = None):
    try:
        for i in range(n):
            if i == fail_at:
                raise UsageError.__new__(UsageError)  # any exception, as the reader raised it
            log.append(f"read {i}")
            yield i
    finally:
        log.append(f"closed in {threading.current_thread().name}")


def test_items_come_in_order_and_at_most_depth_ahead():
    log: list[str] = []
    got = []
    for item in read_ahead(_reader(6, log), depth=2):
        got.append(item)
        read = sum(entry.startswith("read") for entry in log)
        assert read <= item + 1 + 2 + 1  # the consumer's item, 2 queued, 1 in the thread's hand
    assert got == list(range(6))
    assert log[-1] == "closed in read ahead"


def test_an_error_in_the_reader_is_raised_in_its_place_after_the_items_before_it():
    log: list[str] = []
    got = []
    with pytest.raises(UsageError):
        for item in read_ahead(_reader(6, log, fail_at=3)):
            got.append(item)
    assert got == [0, 1, 2]


def test_a_consumer_that_stops_early_stops_the_thread_and_closes_the_reader():
    log: list[str] = []
    items = read_ahead(_reader(1000, log), depth=2)
    assert next(items) == 0
    items.close()
    assert log[-1] == "closed in read ahead"
    assert sum(entry.startswith("read") for entry in log) <= 5
    assert not [t for t in threading.enumerate() if t.name == "read ahead"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_table_inputs_read_ahead_and_give_the_same_batches(compose_cfg, tmp_path, fmt):
    """Every batch equals the file's rows (blocks cross batch boundaries), with the reader's
    thread in between; npy is read where it is used (a memory map)."""
    from fpexp.data import open_source

    assert INPUT_FORMATS[fmt].read_ahead and not INPUT_FORMATS["npy"].read_ahead
    x = np.random.default_rng(0).standard_normal((50_000, 3)).astype(np.float32)
    table = pa.table({f"f{j}": x[:, j] for j in range(3)})
    path = tmp_path / f"d.{fmt}"
    if fmt == "csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path, row_group_size=7_000)
    cfg = compose_cfg("data=file", f"data.path={path}")
    source = open_source(cfg.data, tmp_path)
    batches = list(source.batches(4_096))
    assert [len(b.ids) for b in batches] == [4_096] * 12 + [50_000 - 12 * 4_096]
    np.testing.assert_array_equal(np.concatenate([b.features for b in batches]), x)
    assert not [t for t in threading.enumerate() if t.name == "read ahead"]


def test_a_bad_cell_found_by_the_reader_thread_is_the_same_one_line_error(compose_cfg, tmp_path):
    from fpexp.data import open_source

    lines = ["a,b", *(f"{i},{i}" for i in range(300_000)), "oops,1"]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    source = open_source(compose_cfg("data=file", f"data.path={tmp_path / 'd.csv'}").data)
    with pytest.raises(UsageError) as err:
        for _ in source.batches(1_000):
            pass
    where = f"data.path: {tmp_path / 'd.csv'}: column 'a', row 300001"
    assert str(err.value.problems[0]).startswith(where)
    assert not [t for t in threading.enumerate() if t.name == "read ahead"]


def test_a_consumer_that_stops_does_not_wait_for_the_block_being_decoded():
    """Found by the hostile review: a Ctrl-C in the forward pass waited for the thread to
    finish the block it was decoding (unbounded on a slow or stalled filesystem)."""
    import time

    release = threading.Event()

    def blocks():
        yield 1
        release.wait(5.0)  # the next block takes as long as the disk does
        yield 2

    rows = read_ahead(blocks())
    assert next(rows) == 1
    time.sleep(0.1)  # the thread is inside the slow block
    started = time.monotonic()
    try:
        rows.close()  # what a KeyboardInterrupt in the consumer's loop does
    finally:
        release.set()
    assert time.monotonic() - started < 1.0
