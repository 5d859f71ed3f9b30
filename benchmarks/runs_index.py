"""``fpexp runs ROOT --where ... --json`` over 10,000 run directories, cold and warm.

    .venv/bin/python benchmarks/runs_index.py [--runs 10000] [--reps 3]

Makes one real run, then (once; kept in benchmarks/.data/, git-ignored) N run directories
holding copies of its run.json with varied configs, metrics and times (output files hard-linked,
so every run is intact). Times the listing in-process cold (no index) and warm (index fresh),
as a process (warm), and a bare Python loop that walks the root and json-loads every run.json;
prints seconds (medians) and each ratio to the bare loop. Target: warm <= 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / ".data"
WHERE = ["--where", "metrics.accuracy>=0.5", "--where", "model.activation~t*"]


def make_runs(n: int) -> Path:
    """``DATA/runs<n>``: n run directories (made once), from one real run."""
    root = DATA / f"runs{n}"
    if (root / ".complete").exists():
        return root
    import fpexp

    shutil.rmtree(root, ignore_errors=True)
    seed = fpexp.run("data=synthetic", "model.hidden=[8]", root=DATA / "seed")
    base = json.loads((seed.dir / "run.json").read_text())
    rng = random.Random(0)
    for i in range(n):
        d = root / f"{i // 100:03d}" / f"{i % 100:02d}"
        d.mkdir(parents=True)
        for name in base.get("outputs") or {}:
            os.link(seed.dir / name, d / name)
        rec = json.loads(json.dumps(base))
        rec["config"]["seed"] = i
        rec["config"]["model"]["activation"] = rng.choice(["relu", "tanh", "none", "gelu"])
        rec["config"]["model"]["hidden"] = [rng.choice([4, 8, 16, 32])]
        rec["metrics"] = {"accuracy": rng.random(), "bce": rng.random()}
        rec["started_at"] = f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:00:{i % 60:02d}.000+00:00"
        (d / "run.json").write_text(json.dumps(rec, indent=2))
    (root / ".complete").write_text("")
    return root


def in_process(root: Path) -> tuple[float, int]:
    from fpexp.cli import main

    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        assert main(["runs", str(root), *WHERE, "--json"]) == 0
    return time.perf_counter() - start, len(json.loads(out.getvalue()))


def as_process(root: Path) -> float:
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "fpexp", "runs", str(root), *WHERE, "--json"]
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def bare_loop(root: Path) -> float:
    start = time.perf_counter()
    records = []
    for dirpath, _, files in os.walk(root):
        if "run.json" in files:
            with open(os.path.join(dirpath, "run.json"), "rb") as f:
                records.append(json.loads(f.read()))
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10_000)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    root = make_runs(args.runs)
    index = root / ".fpexp-index.sqlite"
    cold, warm, proc, bare = [], [], [], []
    listed = 0
    for _ in range(args.reps):
        index.unlink(missing_ok=True)
        seconds, listed = in_process(root)
        cold.append(seconds)
        warm.append(in_process(root)[0])
        proc.append(as_process(root))
        bare.append(bare_loop(root))
    b = statistics.median(bare)
    print(f"{args.runs} runs, {listed} listed by {' '.join(WHERE)}; medians of {args.reps}:")
    for name, times in (
        ("cold, in-process", cold),
        ("warm, in-process", warm),
        ("warm, a process", proc),
        ("bare json loop", bare),
    ):
        t = statistics.median(times)
        print(f"  {name:18} {t:7.3f} s  {t / b:5.2f}x the bare loop")


if __name__ == "__main__":
    main()
