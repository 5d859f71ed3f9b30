"""A 32-width sweep: fpexp vs a minimal plain Hydra app vs a bare one-process loop.

    .venv/bin/python benchmarks/sweep.py [--widths 32] [--reps 3]

All three do the same work per width: seed, build Linear(6, w) -> Linear(w, 1) -> Sigmoid, run
the five animals, save the output. They run as fresh processes, interleaved, in one
invocation; the table gives medians, ratios and the per-job cost, in wall-clock seconds and in
CPU seconds (user + system of the process and the helpers it waited for, such as fpexp's plot
process): on a shared machine the wall clock also measures the neighbours, the CPU time less so.
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

FORWARD = """
import torch
from torch import nn
X = torch.tensor([[1,0,0,1,4,1],[1,0,1,1,4,1],[0,1,1,0,2,1],[0,0,1,0,4,1],[0,0,1,0,0,1]],
                 dtype=torch.float32)
def job(width, out):
    torch.manual_seed(42)
    model = nn.Sequential(nn.Linear(6, width), nn.Linear(width, 1), nn.Sigmoid())
    with torch.inference_mode():
        y = model(X)
    torch.save(y, out)
"""

PLAIN_HYDRA = (
    FORWARD
    + """
import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
ConfigStore.instance().store(name="cfg", node={"width": 4})

@hydra.main(version_base="1.3", config_path=None, config_name="cfg")
def main(cfg):
    job(cfg.width, HydraConfig.get().runtime.output_dir + "/y.pt")

main()
"""
)

BARE_LOOP = (
    FORWARD
    + """
import sys
for w in range(1, int(sys.argv[1]) + 1):
    job(w, f"{sys.argv[2]}/y{w}.pt")
"""
)


def timed(cmd: list[str], cwd: str) -> tuple[float, float]:
    """(wall s, CPU s) of one run of ``cmd``."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, default=32)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    py, n = sys.executable, args.widths
    widths = ",".join(str(w) for w in range(1, n + 1))
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "plain.py").write_text(PLAIN_HYDRA)
        Path(tmp, "bare.py").write_text(BARE_LOOP)
        cases = {
            "bare loop (1 process)": lambda i: [py, "bare.py", str(n), tmp],
            "minimal Hydra app": lambda i: [
                py,
                "plain.py",
                "-m",
                f"width={widths}",
                f"hydra.sweep.dir={tmp}/plain{i}",
            ],
            "fpexp": lambda i: [
                py,
                "-m",
                "fpexp",
                "-m",
                f"model.width={widths}",
                f"hydra.sweep.dir={tmp}/fpexp{i}",
            ],
        }
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for i in range(args.reps):
            for name, cmd in cases.items():
                times[name].append(timed(cmd(i), tmp))
    med = {name: statistics.median(w for w, _ in ts) for name, ts in times.items()}
    cpu = {name: statistics.median(c for _, c in ts) for name, ts in times.items()}
    hydra_s, fpexp_s = med["minimal Hydra app"], med["fpexp"]
    print(f"{n}-width sweep, medians of {args.reps} interleaved runs")
    print(f"{'':<24}{'total s':>9}{'vs Hydra':>10}{'per job ms':>12}{'CPU s':>8}{'vs Hydra':>10}")
    for name, m in med.items():
        c = cpu[name]
        print(
            f"{name:<24}{m:>9.2f}{m / hydra_s:>9.2f}x{1000 * m / n:>12.1f}"
            f"{c:>8.2f}{c / cpu['minimal Hydra app']:>9.2f}x"
        )
    print(
        f"fpexp adds {100 * (fpexp_s / hydra_s - 1):+.1f}% to the plain Hydra sweep "
        f"({1000 * (fpexp_s - hydra_s) / n:+.1f} ms per job, summary and plot included)"
    )


if __name__ == "__main__":
    main()
