"""Faults in a single run: a signal at every phase boundary (and a second one during the
cleanup), a full disk or an I/O error at every write, the run directory removed or made
read-only, SIGKILL, and a record that stays strict JSON. Whatever happens, the directory holds
no file under a final name that could pass for a result, and the record says what happened.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path

import pytest
from conftest import ENV

from fpexp import cli, writers
from fpexp.app import run_experiment
from fpexp.atomic import atomic_path
from fpexp.errors import Interrupted
from fpexp.faults import RunFault
from fpexp.liveness import is_alive, process_info
from fpexp.record import RunRecord

RESULT_NAMES = {
    "model.txt",
    "weights.safetensors",
    "layers.csv",
    *(f"{stem}.{fmt}" for stem in ("outputs", "predictions") for fmt in ("csv", "parquet", "npy")),
}
BOUNDARIES = ["start", "environment", "import", "validate", "build", "forward", "write"]
SMALL = ("data=synthetic", "data.n_rows=300", "batch_size=100")  # three batches: writers busy


def record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def leftovers(run_dir: Path) -> set[str]:
    """Files that are results or their temporaries (Hydra's .hydra/ and fpexp.log are not)."""
    names = {p.name for p in run_dir.iterdir()} if run_dir.is_dir() else set()
    return {n for n in names if n in RESULT_NAMES or n.endswith(".tmp")}


def join_writer_threads() -> None:
    """Let any write-behind thread still alive finish what it was doing (a late rename)."""
    for thread in threading.enumerate():
        if thread.name.startswith("write "):
            thread.join(timeout=10)


def last_boundary(rec: RunRecord) -> str:
    return next(reversed(rec.data["phases_s"]), "start")


# --- signals at every phase boundary ------------------------------------------------------


@contextmanager
def signals_at(
    monkeypatch: pytest.MonkeyPatch, boundary: str, signum: int, double: bool
) -> Iterator[list[str]]:
    """Send ``signum`` to this process the moment the record of ``boundary`` is saved
    (``completed``: as the final record is about to be saved; ``completed-saved``: right
    after). ``double``: again at every step of the cleanup that follows. Yields the log."""
    sent: list[str] = []
    real_save = RunRecord.save

    def send(where: str) -> None:
        sent.append(where)
        signal.raise_signal(signum)  # this thread (the main one): handled right here

    def save(self: RunRecord) -> None:
        status = self.data["status"]
        if not sent and boundary == "completed" and status == "completed":
            send(boundary)
        if double and sent and status == "interrupted":
            send("final record")
        real_save(self)
        if not sent and boundary == "completed-saved" and status == "completed":
            send(boundary)
        if not sent and status == "running" and last_boundary(self) == boundary:
            send(boundary)

    monkeypatch.setattr(RunRecord, "save", save)
    if boundary == "forward":  # the writers' threads rename their files only after cleanup began
        cleanup_began = threading.Event()
        real_finalize, real_abort = writers.finalize, writers.TableWriter.abort
        monkeypatch.setattr(
            writers, "finalize", lambda *a: (cleanup_began.wait(10), real_finalize(*a))
        )

        def abort(self: writers.TableWriter) -> None:
            cleanup_began.set()
            real_abort(self)

        monkeypatch.setattr(writers.TableWriter, "abort", abort)
        real_discard = RunRecord.discard_outputs
        monkeypatch.setattr(
            RunRecord,
            "discard_outputs",
            lambda self, *a: (cleanup_began.set(), real_discard(self, *a))[1],
        )
    if double:
        for owner, name in ((RunRecord, "discard_outputs"), (writers.TableWriter, "abort")):
            real = getattr(owner, name)

            def again(self, *args, _real=real, _name=name):
                if sent:
                    send(_name)
                return _real(self, *args)

            monkeypatch.setattr(owner, name, again)
        real_unlink = Path.unlink

        def unlink(self: Path, missing_ok: bool = False) -> None:
            if sent and threading.current_thread() is threading.main_thread():
                send(f"unlink {self.name}")
            real_unlink(self, missing_ok=missing_ok)

        monkeypatch.setattr(Path, "unlink", unlink)
    yield sent


SIGNALS = {"SIGINT": (signal.SIGINT, KeyboardInterrupt), "SIGTERM": (signal.SIGTERM, Interrupted)}


@pytest.mark.parametrize("double", [False, True], ids=["once", "twice"])
@pytest.mark.parametrize("sig", SIGNALS)
@pytest.mark.parametrize("boundary", [*BOUNDARIES, "completed", "completed-saved"])
def test_a_signal_at_any_phase_boundary_leaves_an_interrupted_record_and_nothing_else(
    compose_cfg, tmp_path, monkeypatch, boundary, sig, double
):
    signum, raised = SIGNALS[sig]
    cfg = compose_cfg(*SMALL)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with signals_at(monkeypatch, boundary, signum, double) as sent, pytest.raises(raised):
        run_experiment(cfg, tmp_path)
    join_writer_threads()
    assert sent[0] == boundary and (len(sent) > 1) == double
    rec = record(tmp_path)
    assert rec["status"] == "interrupted" and rec["outputs"] == {}
    assert leftovers(tmp_path) == set()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


@pytest.mark.parametrize("fmt", ["parquet", "npy"])
def test_a_signal_as_the_forward_pass_ends_takes_back_every_format(
    compose_cfg, tmp_path, monkeypatch, fmt
):
    cfg = compose_cfg(*SMALL, f"output.format={fmt}")
    with signals_at(monkeypatch, "forward", signal.SIGINT, True), pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, tmp_path)
    join_writer_threads()
    assert record(tmp_path)["status"] == "interrupted"
    assert leftovers(tmp_path) == set()


@pytest.mark.parametrize("sig", SIGNALS)
def test_the_cli_exits_130_after_a_signal_between_forward_and_write(
    tmp_path, monkeypatch, capsys, sig
):
    run_dir = tmp_path / "run"
    with signals_at(monkeypatch, "forward", SIGNALS[sig][0], True):
        code = cli.main([*SMALL, f"hydra.run.dir={run_dir}"])
    join_writer_threads()
    assert code == 130
    assert capsys.readouterr().err.splitlines()[-1] == "fpexp: interrupted"
    assert record(run_dir)["status"] == "interrupted" and leftovers(run_dir) == set()


# A real ``python -m fpexp`` (forked from the warm interpreter), stopped by the test at a phase
# boundary, from outside: this runs in it before fpexp starts.
# A cold ``python`` (not a fork of tests/warm_python's server): a signal's delivery into a
# paused run is this test's point, and a forked child hung once here under a full suite's load.
PAUSE_AT = """
import sys, threading
from fpexp import cli
from fpexp.record import RunRecord
real_save, boundary = RunRecord.save, sys.argv[1]
def save(self):
    real_save(self)
    if self.data["status"] == "running" and next(reversed(self.data["phases_s"]), "") == boundary:
        print("paused", flush=True)
        threading.Event().wait()
RunRecord.save = save
sys.argv = ["fpexp", *sys.argv[2:]]
cli.entry()
"""


def start_paused(tmp_path: Path, boundary: str, *args: str) -> tuple[subprocess.Popen, Path]:
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSE_AT, boundary, *args, f"hydra.run.dir={run_dir}"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    for line in proc.stdout:
        if line.strip() == "paused":
            return proc, run_dir
    proc.wait(timeout=60)
    raise AssertionError(f"never paused: {proc.stderr.read()}")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_real_process_signalled_twice_after_the_forward_pass(tmp_path, sig):
    proc, run_dir = start_paused(tmp_path, "forward", *SMALL)
    try:
        proc.send_signal(sig)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()  # if it is still there
    assert proc.returncode == 130, err
    assert err.splitlines()[-1] == "fpexp: interrupted" and "Traceback" not in err
    assert record(run_dir)["status"] == "interrupted" and leftovers(run_dir) == set()


@pytest.mark.slow
def test_a_run_killed_with_sigkill_says_running_and_names_its_dead_process(tmp_path):
    proc, run_dir = start_paused(tmp_path, "forward", *SMALL)
    try:
        process = record(run_dir)["process"]
        assert process["pid"] == proc.pid and process["host"] == process_info()["host"]
        assert process["boot_id"] == process_info()["boot_id"]
        ticks = Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()[19]
        assert process["start_ticks"] == int(ticks)
        assert is_alive(process) is True
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    rec = record(run_dir)
    assert rec["status"] == "running" and is_alive(rec["process"]) is False


# --- a full disk, an I/O error, at every write --------------------------------------------


def fault(code: int, *names: str | None) -> OSError:
    return OSError(code, os.strerror(code), *names)


def half_written(code: int) -> Callable[..., None]:
    """A write that fills part of its temporary file, then fails like a full disk."""

    def write(path: Path, text: str) -> None:
        with atomic_path(path) as tmp:
            tmp.write_bytes(text.encode()[:10])
            raise fault(code)

    return write


def inject(monkeypatch: pytest.MonkeyPatch, point: str, target: str, code: int) -> None:
    """Make ``point`` (how) fail for ``target`` (which file, or which record save) with
    ``code``. ``record`` targets: ``start``, a phase, ``completed``; ``+always``: every later
    save fails too (the disk stays full)."""
    if point == "record":
        from fpexp import record as record_module

        when, _, always = target.partition("+")
        real, failing = record_module.write_text, half_written(code)
        hit: list[bool] = []

        def write(path: Path, text: str) -> None:
            data = json.loads(text)
            now = "completed" if data["status"] == "completed" else None
            now = now or next(reversed(data["phases_s"]), "start")
            if (now == when and data["status"] in ("running", "completed")) or (hit and always):
                hit.append(True)
                return failing(path, text)
            return real(path, text)

        monkeypatch.setattr(record_module, "write_text", write)
    elif point == "write" and target in ("outputs", "predictions"):
        from fpexp import write_behind

        real_write = write_behind.HashingFile.write

        def write(self, data):
            if Path(self.fh.name).name.startswith(f".{target}.") and not self.discarding:
                self.fh.write(bytes(memoryview(data).cast("B"))[:5])
                raise fault(code)
            return real_write(self, data)

        monkeypatch.setattr(write_behind.HashingFile, "write", write)
    elif point == "write" and target == "model.txt":
        import fpexp.atomic

        monkeypatch.setattr(fpexp.atomic, "write_text", half_written(code))
    elif point == "write" and target == "weights.safetensors":
        import safetensors.torch
        from safetensors import SafetensorError

        def save_file(state, name, metadata=None):  # as safetensors reports it, not an OSError
            Path(name).write_bytes(b"partial")
            raise SafetensorError(f"Error while serializing: I/O error: x (os error {code})")

        monkeypatch.setattr(safetensors.torch, "save_file", save_file)
    elif point == "write" and target == "layers.csv":  # written in Python or by pyarrow
        import pyarrow.csv

        import fpexp.atomic

        def write_csv(table, name, options=None):
            Path(name).write_bytes(b"index,")
            raise fault(code)

        real_bytes, failing = fpexp.atomic.write_bytes, half_written(code)

        def write_bytes(path: Path, data: bytes) -> None:
            if Path(path).name != "layers.csv":
                return real_bytes(path, data)
            return failing(path, data.decode())

        monkeypatch.setattr(pyarrow.csv, "write_csv", write_csv)
        monkeypatch.setattr(fpexp.atomic, "write_bytes", write_bytes)
    elif point == "fsync":
        real_fsync = os.fsync

        def fsync(fd):
            if os.readlink(f"/proc/self/fd/{fd}").rpartition("/")[2].startswith(f".{target}."):
                raise fault(code)
            return real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
    elif point == "rename":
        real_replace = os.replace

        def replace(src, dst):
            if Path(dst).name == target:
                raise fault(code, str(src), None, str(dst))
            return real_replace(src, dst)

        monkeypatch.setattr(os, "replace", replace)
    else:
        raise AssertionError(point)


RECORD_SAVES = ["start", *BOUNDARIES[1:], "completed"]
FILES = ["outputs.csv", "predictions.csv", "model.txt", "weights.safetensors", "layers.csv"]
POINTS = [
    *(("record", s) for s in RECORD_SAVES),
    *(("record", f"{s}+always") for s in ("start", "validate", "forward", "completed")),
    *(("write", t) for t in ("outputs", "predictions", *FILES[2:])),
    *(("fsync", f) for f in [*FILES, "run.json"]),
    *(("rename", f) for f in [*FILES, "run.json"]),
]
REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EIO: "input/output error",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
}


def check_fault(run_dir: Path, code: int, err: str) -> dict | None:
    """One line naming the run directory and the cause; no result left; the record, if any,
    says ``failed`` or (when even that could not be saved) ``running`` with no outputs."""
    assert err.splitlines() == [err.rstrip("\n")], err
    assert err.startswith(f"fpexp: error: {run_dir}: {REASONS[code]} ("), err
    assert "Traceback" not in err
    assert leftovers(run_dir) == set()
    if not (run_dir / "run.json").exists():
        return None
    rec = record(run_dir)
    assert rec["status"] in ("failed", "running")
    assert rec["outputs"] == {} or rec["status"] == "running"  # listed by the write phase
    assert f"run.json says {rec['status']}, no outputs kept)" in err
    return rec


@pytest.mark.parametrize(("point", "target"), POINTS, ids=[f"{p}-{t}" for p, t in POINTS])
def test_a_full_disk_at_any_write_is_one_line_and_leaves_no_result(
    tmp_path, monkeypatch, capsys, point, target
):
    run_dir = tmp_path / "run"
    inject(monkeypatch, point, target, errno.ENOSPC)
    code = cli.main([*SMALL, f"hydra.run.dir={run_dir}"])
    join_writer_threads()
    assert code == 1
    rec = check_fault(run_dir, errno.ENOSPC, capsys.readouterr().err)
    always = target.endswith("+always")
    if target.startswith("start+") or target == "run.json":  # every save fails
        assert rec is None  # not even the first record could be saved
    elif always:
        assert rec["status"] == "running"  # the last save that worked; no outputs
    else:
        assert rec["status"] == "failed" and "No space left on device" in rec["error"]


SIBLINGS = [("record", "completed"), ("write", "outputs"), ("rename", "weights.safetensors")]


@pytest.mark.parametrize("code", [errno.EIO, errno.EDQUOT, errno.EROFS, errno.EACCES])
@pytest.mark.parametrize(("point", "target"), SIBLINGS, ids=[f"{p}-{t}" for p, t in SIBLINGS])
def test_other_write_errors_are_one_line_too(tmp_path, monkeypatch, capsys, point, target, code):
    run_dir = tmp_path / "run"
    inject(monkeypatch, point, target, code)
    assert cli.main([*SMALL, "output.format=npy", f"hydra.run.dir={run_dir}"]) == 1
    join_writer_threads()
    rec = check_fault(run_dir, code, capsys.readouterr().err)
    assert rec["status"] == "failed" and os.strerror(code) in rec["error"]


def test_a_fault_in_process_is_a_run_fault_carrying_the_line(compose_cfg, tmp_path, monkeypatch):
    inject(monkeypatch, "rename", "layers.csv", errno.ENOSPC)
    with pytest.raises(RunFault) as info:
        run_experiment(compose_cfg(), tmp_path)
    assert info.value.errno == errno.ENOSPC
    assert info.value.line == (
        f"{tmp_path}: no space left on device (while writing layers.csv; "
        "run.json says failed, no outputs kept)"
    )


# --- the run directory removed or made read-only mid-run ----------------------------------


def at_boundary(monkeypatch: pytest.MonkeyPatch, boundary: str, action: Callable[[], None]):
    """Do ``action`` once, right after the record of ``boundary`` is saved, or (``during
    forward``) as the third batch is handed to the writers."""
    done: list[bool] = []
    if boundary == "during forward":
        real_write = writers.TableWriter.write

        def write(self, columns, array):
            if len(done) == 2:
                action()
            done.append(True)
            return real_write(self, columns, array)

        monkeypatch.setattr(writers.TableWriter, "write", write)
        return
    real_save = RunRecord.save

    def save(self: RunRecord) -> None:
        real_save(self)
        if not done and self.data["status"] == "running" and last_boundary(self) == boundary:
            done.append(True)
            action()

    monkeypatch.setattr(RunRecord, "save", save)


@pytest.mark.parametrize("boundary", [*BOUNDARIES, "during forward"])
def test_the_run_directory_removed_mid_run_is_one_line(tmp_path, monkeypatch, capsys, boundary):
    run_dir, gone = tmp_path / "run", tmp_path / "gone"

    def remove() -> None:  # in one step: the writers' threads may be busy in it
        run_dir.rename(gone)
        shutil.rmtree(gone, ignore_errors=True)

    at_boundary(monkeypatch, boundary, remove)
    assert cli.main([*SMALL, f"hydra.run.dir={run_dir}"]) == 1
    join_writer_threads()
    err = capsys.readouterr().err
    assert err == f"fpexp: error: {run_dir}: the run directory was removed during the run\n"
    assert not run_dir.exists()  # nothing left, nothing recreated


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``mount(size)``: a tmpfs of ``size`` under ``tmp_path`` (skips where mount is refused)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        cmd = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)]
        if shutil.which("mount") is None or subprocess.run(cmd, capture_output=True).returncode:
            pytest.skip("cannot mount a tmpfs here (not root?)")
        mounted.append(where)
        return where

    yield mount
    for handler in logging.getLogger().handlers[:]:  # Hydra's fpexp.log, opened in the disk
        if isinstance(handler, logging.FileHandler):
            handler.close()
            logging.getLogger().removeHandler(handler)
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.parametrize("boundary", ["start", "validate", "write"])
def test_the_run_directory_made_read_only_mid_run(compose_cfg, small_disk, monkeypatch, boundary):
    disk = small_disk("1m")
    remount = ["mount", "-o", "remount,ro", str(disk)]
    at_boundary(monkeypatch, boundary, lambda: subprocess.run(remount, check=True))
    with pytest.raises(RunFault) as info:
        run_experiment(compose_cfg(*SMALL), disk)
    join_writer_threads()
    rec = record(disk)  # the last record saved: it cannot be changed any more
    assert rec["status"] == "running" and is_alive(rec["process"]) is True  # stale once we exit
    kept = sorted(leftovers(disk))
    assert info.value.line.startswith(
        f"{disk}: read-only file system (while writing run.json; "
        "could not record failed: Read-only file system; run.json says running"
    )
    if boundary == "write":  # outputs already in place, and they cannot be removed
        assert kept == sorted(FILES)
        kept_line = ", ".join(f"{n} (Read-only file system)" for n in kept)
        assert info.value.line.endswith(f"running; could not remove {kept_line})")
    else:
        assert kept == [] and info.value.line.endswith("running, no outputs kept)")


@pytest.mark.parametrize("free_pages", range(0, 16, 1))
def test_a_real_full_disk_at_whatever_point_it_fills(small_disk, capsys, free_pages):
    disk = small_disk("80k")
    filler = os.statvfs(disk).f_bavail - free_pages
    (disk / "filler").write_bytes(b"x" * os.statvfs(disk).f_frsize * filler)
    run_dir = disk / "run"
    code = cli.main([f"hydra.run.dir={run_dir}"])
    err = capsys.readouterr().err
    if code == 0:
        assert record(run_dir)["status"] == "completed"
        assert leftovers(run_dir) == set(FILES)
        return
    assert code == 1 and "Traceback" not in err
    assert err.startswith(f"fpexp: error: {run_dir}: no space left on device (")
    assert err.count("\n") == 1 and leftovers(run_dir) == set()
    if (run_dir / "run.json").exists():
        assert record(run_dir)["status"] in ("failed", "running")


# --- SIGKILL: the process that wrote a record, alive or not ------------------------------


def test_a_record_names_this_process_from_its_first_save(compose_cfg, tmp_path, monkeypatch):
    first: list[dict] = []
    real_save = RunRecord.save

    def save(self: RunRecord) -> None:
        real_save(self)
        if not first:
            first.append(record(tmp_path))

    monkeypatch.setattr(RunRecord, "save", save)
    run_experiment(compose_cfg(), tmp_path)
    process = first[0]["process"]
    assert first[0]["status"] == "running" and process == record(tmp_path)["process"]
    assert process == process_info()
    assert process["pid"] == os.getpid() and isinstance(process["start_ticks"], int)
    assert process["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert is_alive(process) is True


def test_is_alive_tells_a_live_process_from_a_dead_reused_or_foreign_one():
    me = process_info()
    assert is_alive(me) is True
    assert is_alive({**me, "start_ticks": None, "boot_id": None}) is True  # cannot check more
    assert is_alive({**me, "start_ticks": me["start_ticks"] + 1}) is False  # a reused pid
    assert is_alive({**me, "boot_id": "another-boot"}) is False  # rebooted since
    assert is_alive({**me, "host": me["host"] + "-elsewhere"}) is None
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # ended, not reaped: a zombie
    assert is_alive({**me, "pid": child.pid, "start_ticks": None}) is False
    child.wait()
    assert is_alive({**me, "pid": child.pid, "start_ticks": None}) is False  # gone


@pytest.mark.parametrize(
    "process",
    [None, [], {}, {"pid": "1", "host": "h"}, {"pid": True, "host": "h"}, {"pid": -4, "host": "h"}],
)
def test_is_alive_cannot_tell_from_a_malformed_process(process):
    if isinstance(process, dict) and process:
        process = {**process, "host": process_info()["host"]}
    assert is_alive(process) is None


# --- run.json is strict JSON --------------------------------------------------------------


def strict_json(text: str) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"bare {name} in run.json")

    return json.loads(text, parse_constant=refuse)


def test_a_run_whose_statistics_overflow_records_null_and_says_why(compose_cfg, tmp_path):
    import torch
    from safetensors.torch import save_file

    huge = {  # finite in float32, but the first layer's outputs overflow to inf
        "0.weight": torch.full((4, 6), 3e38),
        "0.bias": torch.zeros(4),
        "1.weight": torch.ones(1, 4),
        "1.bias": torch.zeros(1),
    }
    save_file(huge, str(tmp_path / "huge.safetensors"))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    cfg = compose_cfg("task=regression", f"model.weights={tmp_path / 'huge.safetensors'}")
    run_experiment(cfg, run_dir, {"cwd": tmp_path})
    rec = strict_json((run_dir / "run.json").read_text())
    assert rec["status"] == "completed"
    assert rec["results"]["output_mean"] == {"output": None}
    assert rec["results"]["output_std"] == {"output": None}
    assert (
        "results.output_mean.output: Infinity (not a finite number, recorded as null)"
        in (rec["notes"])
    )
    assert "results.output_std.output: NaN (not a finite number, recorded as null)" in rec["notes"]
    assert any(n.startswith("layers[") for n in rec["notes"])
    assert list(rec)[-3:] == ["notes", "outputs", "error"]


def test_strict_turns_every_non_finite_number_into_null_with_a_note():
    import numpy as np

    from fpexp.record import strict

    notes: list[str] = []
    value = {"a": float("nan"), "b": [1.5, float("inf")], "c": {"d": np.float32("-inf")}}
    value |= {"e": np.int64(3), "f": np.float64(0.25), "g": True, "h": "nan"}
    assert strict(value, "", notes) == {
        "a": None,
        "b": [1.5, None],
        "c": {"d": None},
        "e": 3,
        "f": 0.25,
        "g": True,
        "h": "nan",
    }
    assert notes == [
        "a: NaN (not a finite number, recorded as null)",
        "b[1]: Infinity (not a finite number, recorded as null)",
        "c.d: -Infinity (not a finite number, recorded as null)",
    ]


def test_a_signal_during_the_fast_exit_is_ignored(monkeypatch):
    """By then the record is final: a late Ctrl-C must not become a traceback on the way out."""
    from fpexp import fast_exit

    exited: list[int] = []

    class Exited(Exception):
        pass

    def fake_exit(code: int) -> None:
        exited.append(code)
        raise Exited

    monkeypatch.setattr(fast_exit, "_teardown_needed", lambda: False)
    monkeypatch.setattr(
        fast_exit.atexit, "_run_exitfuncs", lambda: signal.raise_signal(signal.SIGINT)
    )
    monkeypatch.setattr(fast_exit.os, "_exit", fake_exit)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(Exited):
            fast_exit.exit_process(0)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert exited == [0]


def test_a_signal_during_the_cleanup_of_a_fault_waits_then_stops_the_run(
    compose_cfg, tmp_path, monkeypatch
):
    """The cleanup finishes (record ``failed``, nothing left), then the signal is raised, so a
    sweep or a caller still stops."""
    inject(monkeypatch, "rename", "layers.csv", errno.ENOSPC)
    real_discard = RunRecord.discard_outputs

    def discard(self: RunRecord, *args):
        signal.raise_signal(signal.SIGINT)
        return real_discard(self, *args)

    monkeypatch.setattr(RunRecord, "discard_outputs", discard)
    with pytest.raises(KeyboardInterrupt) as info:
        run_experiment(compose_cfg(*SMALL), tmp_path)
    join_writer_threads()
    assert isinstance(info.value.__context__, OSError)
    rec = record(tmp_path)
    assert rec["status"] == "failed" and "No space left on device" in rec["error"]
    assert leftovers(tmp_path) == set()


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_signal_while_the_heavy_modules_import_waits_for_them(tmp_path, monkeypatch, capsys, sig):
    """Raised inside torch's C++ start-up (a pybind11 callback), the interrupt aborted the
    process (SIGABRT, run.json left ``running``): it is held until the imports are done."""
    from fpexp import pipeline

    imported: list[str] = []

    def importing(name: str) -> object:
        if name == pipeline.HEAVY_MODULES[1]:  # the signal arrives in the middle of the imports
            signal.getsignal(SIGNALS[sig][0])(SIGNALS[sig][0], None)
        imported.append(name)
        return import_module(name)

    monkeypatch.setattr(pipeline, "import_module", importing)
    run_dir = tmp_path / "run"
    assert cli.main([*SMALL, f"hydra.run.dir={run_dir}"]) == 130
    assert imported == list(pipeline.HEAVY_MODULES)  # every import finished first
    assert capsys.readouterr().err.splitlines()[-1] == "fpexp: interrupted"
    rec = record(run_dir)
    assert rec["status"] == "interrupted" and rec["error"] == f"interrupted ({sig})"
    assert leftovers(run_dir) == set()
