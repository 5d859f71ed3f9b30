"""Where a large run's time goes: one fpexp run, its stages timed from outside.

    .venv/bin/python benchmarks/io_profile.py INPUT OUTPUT_FORMAT RUN_DIR

Runs ``fpexp data=file data.path=INPUT output.format=OUTPUT_FORMAT`` in this process with
timers wrapped around the functions that do each stage (read, convert, NaN check, batching,
forward, statistics, predict, hand-over to the writers; on the read-ahead thread, if the input
format has one: read, convert; on each writer's thread: format, hash, write, fsync), then
prints one JSON object: the run's phases (run.json) and, per thread, each stage's exclusive
seconds (time in nested timed calls is counted once, in the inner stage).
Nothing in fpexp is changed: the timers are perf_counter sums around per-batch calls (a few
hundred calls a run), so they cost microseconds. Main-thread stages add up to the ``forward``
phase; "other" is what no timer covers there (the NaN check of the outputs, tensor moves).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any


class Stages:
    """Exclusive seconds per (thread, stage), with a per-thread stack for nesting."""

    def __init__(self) -> None:
        self.seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.local = threading.local()
        self.lock = threading.Lock()

    def _stack(self) -> list[float]:
        if not hasattr(self.local, "stack"):
            self.local.stack = []
        stack: list[float] = self.local.stack
        return stack

    def enter(self) -> float:
        self._stack().append(0.0)
        return time.perf_counter()

    def leave(self, stage: str, start: float) -> None:
        elapsed = time.perf_counter() - start
        stack = self._stack()
        inner = stack.pop()
        if stack:
            stack[-1] += elapsed
        name = threading.current_thread().name
        name = "main" if name == "MainThread" else name
        with self.lock:
            self.seconds[name][stage] += elapsed - inner

    def wrap(self, stage: str, fn: Any) -> Any:
        """``fn`` timed as ``stage``; a generator function is timed per item."""
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen(*args: Any, **kwargs: Any) -> Any:
                it = fn(*args, **kwargs)
                while True:
                    start = self.enter()
                    try:
                        item = next(it)
                    except StopIteration:
                        self.leave(stage, start)
                        return
                    self.leave(stage, start)
                    yield item

            return gen

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            start = self.enter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.leave(stage, start)

        return call


def patch(stages: Stages, targets: list[tuple[Any, str, str]]) -> None:
    for owner, attr, stage in targets:
        setattr(owner, attr, stages.wrap(stage, getattr(owner, attr)))


class TimedSink:
    """``HashingFile.write`` split into its hash and its file write."""

    @staticmethod
    def install(stages: Stages) -> None:
        from fpexp import write_behind

        def write(self: Any, data: Any) -> int:
            view = memoryview(data).cast("B")
            if self.discarding:
                return len(view)
            start = stages.enter()
            self.fh.write(view)
            stages.leave("write", start)
            start = stages.enter()
            self.digest.update(view)
            stages.leave("hash", start)
            self.written += len(view)
            return len(view)

        write_behind.HashingFile.write = write  # type: ignore[method-assign]


def instrument(stages: Stages) -> None:
    import fpexp.data.base as base
    import fpexp.data.csv_table as csv_table
    import fpexp.data.file as file
    import fpexp.data.npy_table as npy_table
    import fpexp.data.parquet_table as parquet_table
    import fpexp.layer_stats as layer_stats
    import fpexp.runner as runner
    import fpexp.writers as writers
    from fpexp.heads.categorical import CategoricalHead

    patch(
        stages,
        [
            (csv_table, "read", "read"),
            (parquet_table, "read", "read"),
            (npy_table, "read", "read"),
            (csv_table, "table_rows", "convert"),
            (parquet_table, "table_rows", "convert"),
            (file.FileSource, "_clean", "nan check (inputs)"),
            (file, "take_rows", "batching"),
            (base, "take_rows", "batching"),
            (runner, "_run_model", "forward"),
            (layer_stats._Running, "add", "statistics (layers)"),
            (runner._ColumnStats, "add", "statistics (outputs)"),
            (CategoricalHead, "count", "statistics (outputs)"),
            (CategoricalHead, "predict", "predict"),
            (CategoricalHead, "prediction_columns", "predict"),
            (writers.TableWriter, "write", "hand-over (waits for writers)"),
            (writers.CsvEncoder, "write", "format"),
            (writers.ParquetEncoder, "write", "format"),
            (writers.ParquetEncoder, "_flush", "format"),
            (writers.NpyEncoder, "write", "format"),
            (writers.TableWriter, "_finish_file", "format (last bytes)"),
            (writers, "finalize", "fsync + rename"),
            (writers.TableWriter, "close", "wait for writers (write phase)"),
        ],
    )
    TimedSink.install(stages)
    with contextlib.suppress(ImportError):  # code from before reading ahead: none
        import fpexp.data.read_ahead as read_ahead

        patch(stages, [(read_ahead, "read_ahead", "waits for the read-ahead thread")])


def main() -> None:
    source, fmt, run_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    stages = Stages()
    instrument(stages)
    from fpexp.cli import main as fpexp_main

    args = ["data=file", f"data.path={source}", f"output.format={fmt}", "progress=false"]
    code = fpexp_main([*args, f"hydra.run.dir={run_dir}"])
    if code != 0:
        raise SystemExit(f"fpexp exited {code}")
    phases = json.loads((run_dir / "run.json").read_text())["phases_s"]
    threads = {t: dict(s) for t, s in stages.seconds.items()}
    main_sum = sum(threads.get("main", {}).values()) - threads.get("main", {}).get(
        "wait for writers (write phase)", 0.0
    )
    threads.setdefault("main", {})["other"] = max(0.0, phases["forward"] - main_sum)
    print(json.dumps({"phases": phases, "threads": threads}))


if __name__ == "__main__":
    main()
