"""Real ``python -m MODULE ARGS`` processes without paying for their imports each time.

A process of ``python -m fpexp`` spends ~90% of its CPU importing torch, Hydra and pyarrow; the
run itself is a small part. ``WarmPython`` keeps one server process per test worker that has
imported them once (and done nothing else: no Python thread, no Hydra state, no logging set
up, no ``fpexp.environment`` captured). Each ``start`` forks it: the child gets its own pid, the
caller's pipes as stdin/stdout/stderr, the caller's cwd, environment and ``sys.argv``, and runs
the module as ``python -m`` does (``runpy._run_module_as_main``), then leaves like an
interpreter does (atexit handlers, flushed streams, the exit status of ``SystemExit`` or 1
after a traceback). So what a process shows is real: its pid and signals, its exit code, its
stderr lines, its fast exit (``os._exit``), its own file descriptors and its own concurrency.
What differs from a cold start: the modules are already imported (a test about imports or
about an interpreter's start, e.g. ``PYTHONPATH``, must start a cold ``python``) and the hash
seed is the server's.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Imported once by the server: what every ``python -m fpexp`` run imports anyway.
PRELOAD = ("fpexp.cli", "fpexp.app", "torch", "numpy", "pyarrow", "pyarrow.csv", "hydra")

SERVER = r"""
import io, json, os, runpy, selectors, signal, socket, sys, threading, traceback
for name in json.loads(sys.argv[2]):
    __import__(name)
# No Python thread to lose in a fork. The native pools (OpenBLAS, jemalloc) re-create their
# threads in a child, through their own fork handlers, as they do for multiprocessing.
assert threading.active_count() == 1, "a Python thread in the server: a fork would lose it"
listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
listener.bind(sys.argv[1])
listener.listen(64)
sel = selectors.DefaultSelector()
sel.register(listener, selectors.EVENT_READ, None)
sel.register(0, selectors.EVENT_READ, "parent")  # its end of our stdin closes: the test ended


def stream(fd, mode, unbuffered):
    # As the interpreter's create_stdio makes them (PYTHONUNBUFFERED: -u, read at its start).
    if mode == "r":
        return io.TextIOWrapper(io.open(fd, "rb", closefd=False))
    raw = io.open(fd, "wb", buffering=0 if unbuffered else -1, closefd=False)
    err = fd == 2
    return io.TextIOWrapper(
        raw, errors="backslashreplace" if err else "strict", write_through=unbuffered,
        line_buffering=not unbuffered and (err or os.isatty(fd)))


def child(req, fds, conn):
    code = 1
    try:
        for key in list(sel.get_map().values()):  # the server's sockets, its other children's
            if isinstance(key.data, tuple):
                key.data[1].close()
                os.close(key.fileobj)
        sel.close()
        listener.close()
        conn.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        unbuffered = bool(req["env"].get("PYTHONUNBUFFERED"))
        sys.stdin = stream(0, "r", unbuffered)
        sys.stdout, sys.stderr = stream(1, "w", unbuffered), stream(2, "w", unbuffered)
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.path[0] = req["cwd"]
        sys.argv = ["-m" if req["module"] else "-c", *req["args"]]
        if req["prelude"]:
            exec(compile(req["prelude"], "<prelude>", "exec"), {"__name__": "__prelude__"})
        try:
            if req["module"]:
                runpy._run_module_as_main(req["module"], alter_argv=True)
            else:
                sys.path[0] = ""
                exec(compile(req["code"], "<string>", "exec"), {"__name__": "__main__"})
            code = 0
        except SystemExit as exit:
            if exit.code is None or isinstance(exit.code, int):
                code = exit.code or 0
            else:
                print(exit.code, file=sys.stderr)
                code = 1
        except BaseException as error:
            traceback.print_exc()
            code = -signal.SIGINT if isinstance(error, KeyboardInterrupt) else 1
        import atexit
        threading._shutdown()  # as the interpreter's exit: join threads, threading's atexit
        atexit._run_exitfuncs()
        for s in (sys.stdout, sys.stderr):
            try:
                s.flush()
            except (OSError, ValueError):
                pass
    finally:
        if code == -signal.SIGINT:  # as the interpreter does: die of the signal
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        os._exit(code)


print("ready", flush=True)
while True:
    for key, _ in sel.select():
        if key.data == "parent":
            os._exit(0)
        if key.data is None:
            conn, _ = listener.accept()
            msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
            pid = os.fork()
            if pid == 0:
                child(json.loads(msg), fds, conn)
            for fd in fds:
                os.close(fd)
            conn.send(str(pid).encode())
            pidfd = os.pidfd_open(pid)
            sel.register(pidfd, selectors.EVENT_READ, (pid, conn))
        else:
            pid, conn = key.data
            sel.unregister(key.fileobj)
            os.close(key.fileobj)
            _, status = os.waitpid(pid, 0)
            try:
                conn.send(str(os.waitstatus_to_exitcode(status)).encode())
            except OSError:
                pass
            conn.close()
"""


class WarmProcess:
    """A forked ``python -m`` child: the parts of ``subprocess.Popen`` the tests use."""

    def __init__(self, conn: socket.socket, pid: int, args: list[str], **pipes: Any) -> None:
        self._conn, self.pid, self.args, self.returncode = conn, pid, args, None
        self.stdin, self.stdout, self.stderr = pipes["stdin"], pipes["stdout"], pipes["stderr"]

    def poll(self) -> int | None:
        if self.returncode is None:
            self._conn.setblocking(False)
            try:
                self._read_status()
            except BlockingIOError:
                pass
            finally:
                self._conn.setblocking(True)
        return self.returncode

    def _read_status(self) -> None:
        data = self._conn.recv(64)
        if not data:
            raise RuntimeError(f"the warm server lost process {self.pid}")
        self.returncode = int(data)
        self._conn.close()

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._conn.settimeout(timeout)
            try:
                self._read_status()
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout) from None
        assert self.returncode is not None
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[Any, Any]:
        """Read stdout and stderr to their ends (threads: either may fill its pipe), wait."""
        import threading

        got: dict[str, Any] = {}
        readers = [
            threading.Thread(target=lambda n=n, f=f: got.__setitem__(n, f.read()), daemon=True)
            for n, f in (("out", self.stdout), ("err", self.stderr))
            if f is not None
        ]
        for t in readers:
            t.start()
        for t in readers:
            t.join(timeout)
            if t.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout)
        self.wait(timeout)
        for f in (self.stdout, self.stderr):
            if f is not None:
                f.close()
        return got.get("out"), got.get("err")

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


class WarmPython:
    """One warm server (started on first use, stopped at exit); ``start`` forks it."""

    def __init__(self, preload: Sequence[str] = PRELOAD) -> None:
        self._preload, self._server, self._dir = list(preload), None, None

    def _socket_path(self) -> str:
        if self._server is None or self._server.poll() is not None:
            self._dir = tempfile.mkdtemp(prefix="warm")
            path = os.path.join(self._dir, "s")
            cmd = [sys.executable, "-c", SERVER, path, json.dumps(self._preload)]
            env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
            self._server = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
            )
            line = self._server.stdout.readline()
            assert line.strip() == "ready", "the warm python server did not start"
            atexit.register(self.stop)
        assert self._dir is not None
        return os.path.join(self._dir, "s")

    def stop(self) -> None:
        if self._server is not None and self._server.poll() is None:
            self._server.kill()
            self._server.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def start(
        self,
        args: Sequence[str],
        cwd: Path | str,
        env: Mapping[str, str],
        module: str = "fpexp",
        code: str = "",
        stdin: Any = subprocess.DEVNULL,
        stdout: Any = subprocess.PIPE,
        stderr: Any = subprocess.PIPE,
        text: bool = False,
        prelude: str = "",
    ) -> WarmProcess:
        """``python -m MODULE ARGS`` (or ``python -c CODE ARGS``) from ``cwd`` with ``env``;
        ``prelude`` runs first in it. stdin/stdout/stderr: ``PIPE``, ``DEVNULL``, a file
        descriptor or a file."""
        ends, ours, to_close = [], {}, []
        for name, spec in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr)):
            if spec == subprocess.PIPE:
                r, w = os.pipe()
                theirs, mine = (r, w) if name == "stdin" else (w, r)
                mode = ("w" if name == "stdin" else "r") + ("" if text else "b")
                ours[name] = open(mine, mode)  # noqa: SIM115 - closed by communicate()
                to_close.append(theirs)
            elif spec == subprocess.DEVNULL:
                theirs = os.open(os.devnull, os.O_RDWR)
                ours[name] = None
                to_close.append(theirs)
            else:
                theirs = spec if isinstance(spec, int) else spec.fileno()
                ours[name] = None
            ends.append(theirs)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        conn.connect(self._socket_path())
        req = {"module": "" if code else module, "code": code, "args": list(args)}
        req |= {"cwd": str(cwd), "env": dict(env), "prelude": prelude}
        socket.send_fds(conn, [json.dumps(req).encode()], ends)
        for fd in to_close:
            os.close(fd)
        pid = int(conn.recv(64))
        return WarmProcess(conn, pid, ["-c" if code else module, *args], **ours)

    def run(
        self,
        args: Sequence[str],
        cwd: Path | str,
        env: Mapping[str, str],
        timeout: float | None = None,
        text: bool = True,
        **how: Any,
    ) -> subprocess.CompletedProcess:
        """``start`` and wait: like ``subprocess.run(..., capture_output=True)``."""
        proc = self.start(args, cwd, env, text=text, **how)
        try:
            out, err = proc.communicate(timeout)
        finally:
            proc.kill()
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


WARM = WarmPython()
