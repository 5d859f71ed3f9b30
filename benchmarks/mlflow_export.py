"""Export time of 100 runs to MLflow: a local SQLite store and an ``mlflow server`` over HTTP.

    .venv/bin/python benchmarks/mlflow_export.py [--runs 100]

Makes one sweep of N jobs (``seed=0..N-1``, in-process), then times ``fpexp export mlflow
SWEEP_DIR`` as a fresh process, into (a) a new SQLite store and (b) a new ``mlflow server``
(SQLite backend, served artifacts, on a free loopback port); each store once from empty and
once again (a re-export, which logs nothing). Needs the ``mlflow`` extra. Prints seconds.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def _timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _export(sweep: Path, uri: str, cwd: Path) -> list[float]:
    args = [sys.executable, "-m", "fpexp", "export", "mlflow", str(sweep), "--tracking-uri", uri]
    return [_timed(args, cwd), _timed(args, cwd)]


def _server(work: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    args = [mlflow, "server", "--backend-store-uri", f"sqlite:///{work / 'server.db'}"]
    args += ["--artifacts-destination", str(work / "served"), "--serve-artifacts"]
    args += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    server = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    uri = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                return server, uri
        except OSError:
            time.sleep(0.5)
    os.killpg(server.pid, 15)
    raise SystemExit("mlflow server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    n = parser.parse_args().runs
    import fpexp

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sweep = fpexp.sweep(f"seed=range(0,{n})", "progress=false", root=work / "outputs").dir
        times = {"sqlite": _export(sweep, f"sqlite:///{work / 'local.db'}", work)}
        server, uri = _server(work)
        try:
            times["http"] = _export(sweep, uri, work)
        finally:
            os.killpg(server.pid, 15)
            server.wait(30)
    print(f"{n} runs (one sweep: a parent run and {n} children), seconds per export process:")
    for store, (first, again) in times.items():
        print(
            f"  {store:<6}  first {first:6.1f}  ({first / n * 1000:.0f} ms/run)  again {again:5.1f}"
        )


if __name__ == "__main__":
    main()
