"""A finished 32-width sweep repeated with ``reuse=true`` vs the same sweep computed fresh.

    .venv/bin/python benchmarks/reuse.py [--widths 32] [--rows 1000000] [--reps 3]

The input is an ``.npy`` file of ``--rows`` standard-normal rows and 32 features (float32,
128 MB at 1,000,000 rows), written once; every job reads it, runs
``Linear(32, w) -> Linear(w, 1) -> Sigmoid`` and writes outputs.csv and predictions.csv of
``--rows`` rows, so the forward pass and the writing matter. Each repetition makes a new root
and runs, as fresh processes, interleaved: the sweep computed fresh, then the same sweep with
``reuse=true`` under the same root (every job takes the fresh sweep's files). Medians, wall
clock and CPU seconds, and the ratio (target: at most 0.3x).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def timed(cmd: list[str], cwd: str) -> tuple[float, float]:
    """(wall s, CPU s) of one run of ``cmd``."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise subprocess.CalledProcessError(code, cmd)
    return wall, usage.ru_utime + usage.ru_stime


def reused_jobs(sweep_dir: Path, n: int) -> int:
    """How many jobs of the sweep took an earlier run's files (all must)."""
    import json

    return sum(
        "reused_from" in json.loads((sweep_dir / str(j) / "run.json").read_text()) for j in range(n)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, default=32)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    n = args.widths
    widths = ",".join(str(w) for w in range(1, n + 1))
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        np.save(Path(tmp, "x.npy"), rng.standard_normal((args.rows, 32)).astype(np.float32))
        sweep = [sys.executable, "-m", "fpexp", "-m", f"model.width={widths}"]
        sweep += ["data=file", "data.path=x.npy", "progress=false"]
        times: dict[str, list[tuple[float, float]]] = {"fresh": [], "reuse=true": []}
        for i in range(args.reps):
            root = Path(tmp, f"root{i}")
            times["fresh"].append(timed([*sweep, f"hydra.sweep.dir={root}/fresh"], tmp))
            again = [*sweep, "reuse=true", f"hydra.sweep.dir={root}/again"]
            times["reuse=true"].append(timed(again, tmp))
            assert reused_jobs(root / "again", n) == n, "every job must be reused"
            shutil.rmtree(root)  # 30 MB of outputs a job at 1,000,000 rows
    med = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
    print(f"{n}-width sweep on {args.rows:,} rows x 32 features (.npy), outputs as CSV;")
    print(f"medians of {args.reps} interleaved runs")
    print(f"{'':<12}{'total s':>9}{'per job ms':>12}{'CPU s':>8}")
    for name in times:
        print(f"{name:<12}{med[name]:>9.2f}{1000 * med[name] / n:>12.1f}{cpu[name]:>8.2f}")
    ratio, cpu_ratio = med["reuse=true"] / med["fresh"], cpu["reuse=true"] / cpu["fresh"]
    verdict = "met" if ratio <= 0.3 else "NOT met"
    print(f"reuse=true / fresh: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU", end=" ")
    print(f"(target <= 0.3x: {verdict})")


if __name__ == "__main__":
    main()
