"""A Ctrl-C lands wherever the main thread is: between any two of its lines. Where it hands work
to fpexp's threads (the writers' write-behind, the readers' read-ahead), the interrupt at every
such line is still a ``KeyboardInterrupt``, and the thread still stops when asked.

With ``queue.Queue`` on the main thread's side, an interrupt inside the queue's own locking left
its mutex released under the other thread: at some lines the run's cleanup waited forever for
the writer (a real ``python -m fpexp`` hung after Ctrl-C in a large forward pass), at others a
``RuntimeError('release unlocked lock')`` took the interrupt's place.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fpexp.data.read_ahead import read_ahead
from fpexp.write_behind import WriteBehind

STOP_S = 2.0  # far more than a stop takes: the thread is idle or skipping cancelled calls


def interrupted_at(line: int, call: Callable[[], Any]) -> bool:
    """Run ``call`` with a ``KeyboardInterrupt`` raised at the main thread's ``line``-th line
    event inside it (any module's: the queue's and threading's too); whether it was raised."""
    seen = [0]

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            seen[0] += 1
            if seen[0] == line:
                raise KeyboardInterrupt
        return tracer

    sys.settrace(tracer)
    try:
        call()
    except KeyboardInterrupt:
        return True
    finally:
        sys.settrace(None)
    return False


def stops_in_time(stop: Callable[[], Any]) -> bool:
    stopper = threading.Thread(target=stop, daemon=True)
    stopper.start()
    stopper.join(STOP_S)
    return not stopper.is_alive()


def every_line(make: Callable[[], tuple[Callable[[], Any], Callable[[], Any], Any]]) -> int:
    """For each line ``n`` until the call runs through: a fresh ``make()`` (the call, the stop,
    the thread), the call interrupted at line ``n``, then the stop. Returns how many lines."""
    for line in range(1, 1000):
        call, stop, thread = make()
        raised = interrupted_at(line, call)  # anything but KeyboardInterrupt propagates
        assert stops_in_time(stop), f"interrupted at line {line}: the stop never returned"
        thread.join(STOP_S)
        assert not thread.is_alive(), f"interrupted at line {line}: the thread still runs"
        if not raised:
            return line
    raise AssertionError("the call never ran through")


def test_a_ctrl_c_at_any_line_of_a_submit_that_waits_for_the_writer():
    def make() -> tuple[Callable[[], Any], Callable[[], Any], Any]:
        writer = WriteBehind("write t", depth=1)
        busy = threading.Event()
        writer.submit(busy.wait)  # the thread is busy with this one
        writer.submit(time.sleep, 0)  # and this one waits: the next submit must wait too
        threading.Timer(0.02, busy.set).start()
        return (
            lambda: writer.submit(time.sleep, 0),
            lambda: writer.stop(cancel=True),
            writer._thread,
        )

    assert every_line(make) > 3


def test_a_ctrl_c_at_any_line_of_taking_the_next_block_read_ahead():
    def blocks() -> Iterator[int]:
        for i in range(6):
            time.sleep(0.005)  # the consumer waits for each block
            yield i

    def make() -> tuple[Callable[[], Any], Callable[[], Any], Any]:
        before = set(threading.enumerate())
        items = read_ahead(blocks(), depth=1)
        assert next(items) == 0  # the thread is running (its start is not what is tried)
        (thread,) = set(threading.enumerate()) - before
        return (lambda: [next(items) for _ in range(3)], items.close, thread)

    assert every_line(make) > 3


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_at_most_depth_calls_wait_behind_the_one_running(depth):
    writer = WriteBehind("write t", depth=depth)
    busy, done = threading.Event(), []
    writer.submit(busy.wait)
    for i in range(depth):
        writer.submit(done.append, i)  # queued behind the busy one, none waits here
    late = threading.Thread(target=writer.submit, args=(done.append, depth), daemon=True)
    late.start()
    late.join(0.1)
    assert late.is_alive()  # the depth+1-th waits for a free place
    busy.set()
    late.join(STOP_S)
    writer.finish()
    assert done == list(range(depth + 1))
