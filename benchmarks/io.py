"""Large inputs end to end: fpexp vs the bare script, for every input -> output format pair.

    .venv/bin/python benchmarks/io.py [--rows 1000000 10000000] [--pairs npy-npy csv-csv ...]
                                      [--reps 3] [--profile] [--fpexp-path DIR ...]

Generates rows x 6 float32 features (standard normal, seed 0) once per size and format, in
benchmarks/.data/ (git-ignored). Then, per pair (input format -> output format; the three
same-format pairs first), runs as fresh processes, alternating: the bare script, which reads
the input in chunks, runs the lesson model (Linear(6,4) -> Linear(4,1) -> Sigmoid, seed 42) and
writes the same outputs and predictions files fpexp writes, with the same content (npy:
np.load(mmap) in 65,536-row chunks and np.save; csv: pyarrow's streaming reader and
CSVWriter; parquet: iter_batches and one write_table), and ``python -m fpexp data=file ...
output.format=<out>`` (smaller sizes: fpexp only, for its peak RSS). Prints medians of wall
time and CPU, peak RSS (os.wait4), the ratio fpexp / bare (target <= 1.10), whether the two
wrote the same bytes (else the same values, else their largest difference), the pandas
script (read_csv / to_csv) for csv -> csv at the largest size (target fpexp <= 0.5x it), and
each pair's peak RSS at the largest size over the smallest (target <= 1.3). ``--profile``: one
more run per pair at the largest size with its stages timed (benchmarks/io_profile.py).
``--fpexp-path DIR``: also time fpexp from another checkout, by the directory's name (before and
after in one invocation; repeatable; run the benchmark from outside the checkouts, since
``python -m`` looks in the working directory first).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / ".data"
FORMATS = ("npy", "parquet", "csv")
HEADLINE = [f"{f}-{f}" for f in FORMATS]
PAIRS = HEADLINE + [f"{a}-{b}" for a in FORMATS for b in FORMATS if a != b]
FILES = ("outputs", "predictions")

BARE = r"""
import sys, time
import numpy as np, torch
from torch import nn
src, fmt, out = sys.argv[1], sys.argv[2], sys.argv[3]
start = time.perf_counter()
CHUNK = 65536


def chunks():
    if src.endswith(".npy"):
        x = np.load(src, mmap_mode="r")
        for s in range(0, len(x), CHUNK):
            yield np.ascontiguousarray(x[s:s + CHUNK], dtype=np.float32)
        return
    if src.endswith(".parquet"):
        import pyarrow.parquet as pq
        batches = pq.ParquetFile(src).iter_batches(batch_size=CHUNK)
    else:
        import pyarrow.csv as pacsv
        batches = pacsv.open_csv(src)
    for b in batches:
        yield np.column_stack([c.to_numpy() for c in b.columns]).astype(np.float32)


torch.manual_seed(42)
model = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 1), nn.Sigmoid())
ys, ps = [], []
if fmt == "csv":
    import pyarrow as pa, pyarrow.csv as pacsv
    names = pa.array(["0", "1"])
    opts = pacsv.WriteOptions(quoting_style="needed")
    wo = wp = None
    n = 0
with torch.inference_mode():
    for xb in chunks():
        y = model(torch.from_numpy(xb)).numpy()
        p = (y[:, 0] >= 0.5).astype(np.int64)
        if fmt != "csv":
            ys.append(y), ps.append(p)
            continue
        ids = np.arange(n, n + len(y))
        n += len(y)
        o = pa.table({"id": ids, "1": y[:, 0]})
        q = pa.table({"id": ids, "prediction": p, "label": names.take(pa.array(p))})
        if wo is None:
            wo = pacsv.CSVWriter(out + "/outputs.csv", o.schema, write_options=opts)
            wp = pacsv.CSVWriter(out + "/predictions.csv", q.schema, write_options=opts)
        wo.write_table(o), wp.write_table(q)
if fmt == "csv":
    wo.close(), wp.close()
else:
    y, p = np.concatenate(ys), np.concatenate(ps)
    if fmt == "npy":
        np.save(out + "/outputs.npy", y), np.save(out + "/predictions.npy", p)
    else:
        import pyarrow as pa, pyarrow.parquet as pq
        ids = np.arange(len(y))
        label = pa.array(["0", "1"]).take(pa.array(p))
        pq.write_table(pa.table({"id": ids, "1": y[:, 0]}), out + "/outputs.parquet")
        pq.write_table(pa.table({"id": ids, "prediction": p, "label": label}),
                       out + "/predictions.parquet")
open(out + "/work_s", "w").write(str(time.perf_counter() - start))
"""

PANDAS = r"""
import sys, time
import numpy as np, pandas as pd, torch
from torch import nn
src, out = sys.argv[1], sys.argv[3]
start = time.perf_counter()
x = pd.read_csv(src).to_numpy(dtype=np.float32)
torch.manual_seed(42)
model = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 1), nn.Sigmoid())
with torch.inference_mode():
    y = np.concatenate([model(torch.from_numpy(x[s:s + 65536])).numpy()
                        for s in range(0, len(x), 65536)])
p = (y[:, 0] >= 0.5).astype(np.int64)
pd.DataFrame({"id": np.arange(len(y)), "1": y[:, 0]}).to_csv(out + "/outputs.csv", index=False)
pd.DataFrame({"id": np.arange(len(y)), "prediction": p, "label": np.where(p == 1, "1", "0")}
             ).to_csv(out + "/predictions.csv", index=False)
open(out + "/work_s", "w").write(str(time.perf_counter() - start))
"""


def in_child(*args: str) -> str:
    """This script's ``--child`` call in a fresh process, its output. Generating and comparing
    10M rows here would leave this process hundreds of MB large (pyarrow keeps what it freed),
    and a child's peak RSS (os.wait4) starts at its parent's size: it would be measured in."""
    cmd = [sys.executable, __file__, "--child", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def generate(rows: int, fmt: str) -> Path:
    """The input file, generated (in a child process) if it is not there yet."""
    path = DATA / f"x{rows}.{fmt}"
    return path if path.exists() else Path(in_child("generate", str(rows), fmt))


def _generate(rows: int, fmt: str) -> Path:
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


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one process.

    Dirty pages left by earlier processes are written back first (untimed): the bare script
    does not fsync its outputs, and once a few hundred MB of them are pending the kernel
    throttles whichever process writes next. Every process starts from the same clean state;
    fpexp pays its own fsyncs."""
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed:\n{err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(16 << 20):
            h.update(block)
    return h.hexdigest()


def same_files(bare: Path, fpexp: Path, fmt: str) -> str:
    """``bytes`` where the files are identical, else ``values`` where they hold the same
    columns and values (Parquet pages can split differently), else the largest difference
    (a CSV read in other chunks gives the model other batch shapes: last-bit differences)."""
    if all(digest(bare / f"{s}.{fmt}") == digest(fpexp / f"{s}.{fmt}") for s in FILES):
        return "bytes"
    worst = 0.0
    for stem in FILES:
        a, b = (_columns(d / f"{stem}.{fmt}") for d in (bare, fpexp))
        if list(a) != list(b) or any(a[k].dtype != b[k].dtype for k in a):
            return "no"
        for k in a:
            if a[k].dtype.kind == "f":
                worst = max(worst, float(abs(a[k].astype("f8") - b[k].astype("f8")).max()))
            elif not (a[k] == b[k]).all():
                return f"no ({stem}.{k})"
    return "values" if worst == 0 else f"max diff {worst:.0e}"


def _columns(path: Path) -> dict[str, Any]:
    import numpy as np

    if path.suffix == ".npy":
        return {"values": np.load(path)}
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    else:
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(path)
    return {k: table.column(k).to_numpy() for k in table.column_names}


def clear(out: Path) -> None:
    """Remove a run's large files (10M rows: ~0.5 GB a run)."""
    for path in sorted(out.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    out.rmdir()


class Bench:
    """The commands of one invocation, and their measurements."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args, self.tmp, self.py = args, tmp, sys.executable
        (tmp / "bare.py").write_text(BARE)
        (tmp / "pandas_csv.py").write_text(PANDAS)
        self.others = {
            f"fpexp ({Path(d).name})": dict(os.environ, PYTHONPATH=d) for d in args.fpexp_path
        }

    def commands(self, src: Path, fmt: str, out: Path, pandas: bool) -> dict[str, Any]:
        fpexp = [self.py, "-m", "fpexp", "data=file", f"data.path={src}"]
        fpexp += [f"output.format={fmt}", "progress=false", f"hydra.run.dir={out}/fpexp"]
        cmds: dict[str, Any] = {
            "bare": ([self.py, str(self.tmp / "bare.py"), str(src), fmt, str(out / "bare")], None),
            "fpexp": (fpexp, None),
        }
        for i, (name, env) in enumerate(self.others.items()):
            cmds[name] = ([*fpexp[:-1], f"hydra.run.dir={out}/other{i}"], env)
        if pandas:
            script = str(self.tmp / "pandas_csv.py")
            cmds["pandas"] = ([self.py, script, str(src), fmt, str(out / "pandas")], None)
        return cmds

    def pair(self, rows: int, pair: str, pandas: bool, rss_only: bool) -> dict[str, Any]:
        """Medians of each command's runs; ``rss_only``: fpexp's runs only (a smaller size,
        for the peak RSS ratio)."""
        src_fmt, fmt = pair.split("-")
        src = generate(rows, src_fmt)
        measured: dict[str, list[tuple[float, float, float]]] = {}
        same = None
        for i in range(self.args.rss_reps if rss_only else self.args.reps):
            out = self.tmp / f"{pair}-{rows}-{i}"
            out.mkdir()
            for name, (cmd, env) in self.commands(src, fmt, out, pandas).items():
                if rss_only and not name.startswith("fpexp"):
                    continue
                if name in ("bare", "pandas"):
                    (out / name).mkdir()
                measured.setdefault(name, []).append(run(cmd, env))
            if same is None and not rss_only:
                same = in_child("same", str(out / "bare"), str(out / "fpexp"), fmt)
            clear(out)
        result = {
            name: {
                "wall": statistics.median(m[0] for m in runs),
                "cpu": statistics.median(m[1] for m in runs),
                "rss": max(m[2] for m in runs),
            }
            for name, runs in measured.items()
        }
        return {"rows": rows, "pair": pair, "same": same, **result}

    def profile(self, rows: int, pair: str) -> dict[str, Any]:
        src_fmt, fmt = pair.split("-")
        out = self.tmp / f"profile-{pair}"
        script = Path(__file__).resolve().parent / "io_profile.py"
        cmd = [self.py, str(script), str(generate(rows, src_fmt)), fmt, str(out)]
        os.sync()
        text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        clear(out)
        return json.loads(text.strip().splitlines()[-1])


def show(r: dict[str, Any]) -> None:
    if "bare" not in r:
        runs = ", ".join(
            f"{k} {v['wall']:.2f}s {v['rss']:.0f}MB" for k, v in r.items() if "fpexp" in k
        )
        print(f"{r['rows']:>11,} {r['pair']:<16} {runs}", flush=True)
        return
    bare, fp = r["bare"], r["fpexp"]
    line = (
        f"{r['rows']:>11,} {r['pair']:<16} bare {bare['wall']:6.2f}s {bare['cpu']:6.2f}cpu "
        f"{bare['rss']:6.0f}MB | fpexp {fp['wall']:6.2f}s {fp['cpu']:6.2f}cpu {fp['rss']:6.0f}MB"
        f" | fpexp/bare {fp['wall'] / bare['wall']:.2f} | same: {r['same']}"
    )
    for name in [k for k in r if k.startswith("fpexp (")]:
        o = r[name]
        line += f" | {name} {o['wall']:6.2f}s {o['rss']:5.0f}MB ({o['wall'] / bare['wall']:.2f})"
    if "pandas" in r:
        pd = r["pandas"]
        line += f" | pandas {pd['wall']:6.2f}s {pd['rss']:5.0f}MB: fpexp/pandas"
        line += f" {fp['wall'] / pd['wall']:.2f}"
    print(line, flush=True)


def show_profile(pair: str, prof: dict[str, Any]) -> None:
    phases = " ".join(f"{k} {v:.2f}" for k, v in prof["phases"].items())
    print(f"profile {pair}: phases (s): {phases}")
    for thread, stages in prof["threads"].items():
        parts = sorted(stages.items(), key=lambda kv: -kv[1])
        text = ", ".join(f"{k} {v:.2f}" for k, v in parts if v >= 0.005)
        print(f"    {thread:<26} {sum(stages.values()):5.2f}s: {text}", flush=True)


def child(args: list[str]) -> None:
    if args[0] == "generate":
        print(_generate(int(args[1]), args[2]))
    else:
        print(same_files(Path(args[1]), Path(args[2]), args[3]))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        return child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--pairs", nargs="+", default=PAIRS, choices=PAIRS)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="stage profile at the largest size")
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas csv script")
    parser.add_argument(
        "--fpexp-path", action="append", default=[], help="another checkout's fpexp, also timed"
    )
    parser.add_argument("--rss-reps", type=int, default=1, help="runs at the smaller sizes")
    args = parser.parse_args()
    sizes = sorted(set(args.rows))
    results = []
    with tempfile.TemporaryDirectory(dir=DATA.parent if DATA.exists() else None) as tmp:
        bench = Bench(args, Path(tmp))
        for rows in sizes:
            for pair in args.pairs:
                pandas = pair == "csv-csv" and rows == sizes[-1] and not args.no_pandas
                results.append(bench.pair(rows, pair, pandas, rows != sizes[-1]))
                show(results[-1])
        if len(sizes) > 1:
            for pair in args.pairs:
                for name in [k for k in results[0] if k.startswith("fpexp")]:
                    peak = {r["rows"]: r[name]["rss"] for r in results if r["pair"] == pair}
                    ratio = peak[sizes[-1]] / peak[sizes[0]]
                    big, small = f"{sizes[-1]:,}", f"{sizes[0]:,}"
                    print(f"{name} peak RSS {pair}: {big} rows / {small} = {ratio:.2f}")
        if args.profile:
            for pair in args.pairs:
                show_profile(pair, bench.profile(sizes[-1], pair))


if __name__ == "__main__":
    main()
