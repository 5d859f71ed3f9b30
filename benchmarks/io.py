"""Large inputs end to end: fpexp vs a bare PyTorch + pyarrow script, per file format.

    .venv/bin/python benchmarks/io.py [--rows 1000000 10000000] [--formats npy parquet csv]

Generates rows x 6 float32 features once per size and format (in benchmarks/.data/), then, per
format, runs as fresh processes, interleaved: the bare script (read the file, forward through
Linear(6,4) -> Linear(4,1) -> Sigmoid, write outputs and predictions in the same format) and
``python -m fpexp data=file ... output.format=<same>``. Prints medians, the throughput ratio
(bare time / fpexp time; target >= 0.8) and peak RSS of each process (os.wait4).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / ".data"

BARE = r"""
import sys, time, numpy as np, torch
from torch import nn
import pyarrow as pa, pyarrow.csv as pacsv, pyarrow.parquet as pq
path, fmt, out = sys.argv[1], sys.argv[2], sys.argv[3]
start = time.perf_counter()
if fmt == "npy":
    x = np.load(path, mmap_mode="r")
elif fmt == "parquet":
    t = pq.read_table(path)
    x = np.column_stack([c.to_numpy() for c in t.columns])
else:
    t = pacsv.read_csv(path)
    x = np.column_stack([c.to_numpy() for c in t.columns])
torch.manual_seed(42)
model = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 1), nn.Sigmoid())
y = np.empty((len(x), 1), dtype=np.float32)
with torch.inference_mode():
    for s in range(0, len(x), 65536):
        xb = np.ascontiguousarray(x[s:s + 65536], dtype=np.float32)
        y[s:s + 65536] = model(torch.from_numpy(xb)).numpy()
pred = (y[:, 0] >= 0.5).astype(np.int64)
if fmt == "npy":
    np.save(out + "/outputs.npy", y); np.save(out + "/predictions.npy", pred)
else:
    ids = np.arange(len(y))
    o = pa.table({"id": ids, "p": y[:, 0]}); p = pa.table({"id": ids, "prediction": pred})
    if fmt == "parquet":
        pq.write_table(o, out + "/outputs.parquet"); pq.write_table(p, out + "/predictions.parquet")
    else:
        pacsv.write_csv(o, out + "/outputs.csv"); pacsv.write_csv(p, out + "/predictions.csv")
open(out + "/work_s", "w").write(str(time.perf_counter() - start))
"""


def generate(rows: int, fmt: str) -> Path:
    DATA.mkdir(exist_ok=True)
    path = DATA / f"x{rows}.{fmt}"
    if path.exists():
        return path
    import numpy as np
    import pyarrow as pa

    x = np.random.default_rng(0).standard_normal((rows, 6), dtype=np.float32)
    tmp = path.with_suffix(".tmp")
    if fmt == "npy":
        with open(tmp, "wb") as fh:
            np.save(fh, x)
    else:
        table = pa.table({f"f{j}": x[:, j] for j in range(6)})
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        else:
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, tmp)
    tmp.rename(path)
    return path


def work_seconds(out: Path, name: str) -> float:
    """Time spent on the work itself, after start-up: the bare script's own timer, or the sum
    of fpexp's validate, build, forward and write phases from run.json."""
    if name == "bare":
        return float((out / "work_s").read_text())
    import json

    phases = json.loads((out / "run" / "run.json").read_text())["phases_s"]
    return sum(phases[k] for k in ("validate", "build", "forward", "write"))


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process.

    Dirty pages left by earlier processes are written back first (untimed): the bare script
    does not fsync its 10M-row outputs, and once a few hundred MB of them are pending the kernel
    throttles whichever process writes next (measured: the bare script's work went from 0.11 s
    to 0.35 s). Every process starts from the same clean state; fpexp pays its own fsyncs."""
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{err}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--formats", nargs="+", default=["npy", "parquet", "csv"])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    py = sys.executable
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp, "bare.py")
        bare.write_text(BARE)
        for rows in args.rows:
            for fmt in args.formats:
                path = generate(rows, fmt)
                times = {"bare": [], "fpexp": []}
                rss = {"bare": [], "fpexp": []}
                work = {"bare": [], "fpexp": []}
                for i in range(args.reps):
                    out = Path(tmp, f"{fmt}{rows}_{i}")
                    out.mkdir()
                    cmds = {
                        "bare": [py, str(bare), str(path), fmt, str(out)],
                        "fpexp": [
                            py,
                            "-m",
                            "fpexp",
                            "data=file",
                            f"data.path={path}",
                            f"output.format={fmt}",
                            "progress=false",
                            f"hydra.run.dir={out}/run",
                        ],
                    }
                    for name, cmd in cmds.items():
                        wall, peak = run(cmd)
                        times[name].append(wall)
                        rss[name].append(peak)
                        work[name].append(work_seconds(out, name))
                med = {k: statistics.median(v) for k, v in times.items()}
                mem = {k: max(v) for k, v in rss.items()}
                wk = {k: statistics.median(v) for k, v in work.items()}
                results.append((rows, fmt, med, mem))
                print(
                    f"{rows:>11,} {fmt:<8} bare {med['bare']:6.2f}s {mem['bare']:6.0f}MB   "
                    f"fpexp {med['fpexp']:6.2f}s {mem['fpexp']:6.0f}MB   "
                    f"throughput ratio {med['bare'] / med['fpexp']:.2f} end to end, "
                    f"{wk['bare'] / wk['fpexp']:.2f} after start-up "
                    f"({wk['bare']:.2f}s vs {wk['fpexp']:.2f}s)",
                    flush=True,
                )
    sizes = sorted(set(args.rows))
    if len(sizes) > 1:
        for fmt in args.formats:
            peaks = {r: m["fpexp"] for r, f, _, m in results if f == fmt}
            ratio = peaks[sizes[-1]] / peaks[sizes[0]]
            print(f"fpexp peak RSS {fmt}: {sizes[-1]:,} rows / {sizes[0]:,} rows = {ratio:.2f}")


if __name__ == "__main__":
    main()
