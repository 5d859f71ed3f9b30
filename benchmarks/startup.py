"""Default run end to end vs a bare PyTorch script and a minimal Hydra app doing the same.

    .venv/bin/python benchmarks/startup.py [--reps 7]

Both run as fresh processes, interleaved, in the same invocation; prints medians and the ratio.
The bare script seeds, builds the lesson model, runs the five animals, and saves the output.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LESSON = """
import sys, torch
from torch import nn
def lesson():
    torch.manual_seed(42)
    x = torch.tensor([[1,0,0,1,4,1],[1,0,1,1,4,1],[0,1,1,0,2,1],[0,0,1,0,4,1],[0,0,1,0,0,1]],
                     dtype=torch.float32)
    model = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 1), nn.Sigmoid())
    with torch.inference_mode():
        y = model(x)
    print(y)
    return y
"""

BARE = (
    LESSON
    + """
torch.save(lesson(), sys.argv[1])
"""
)

PLAIN_HYDRA = (
    LESSON
    + """
import hydra
from hydra.core.hydra_config import HydraConfig

@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg):
    torch.save(lesson(), HydraConfig.get().runtime.output_dir + "/y.pt")

main()
"""
)


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "bare.py")
        script.write_text(BARE)
        plain = Path(tmp, "plain_hydra.py")
        plain.write_text(PLAIN_HYDRA)
        cases = {
            "python -c 'import torch'": lambda i: [py, "-c", "import torch"],
            "bare script": lambda i: [py, str(script), f"{tmp}/y{i}.pt"],
            "minimal Hydra app": lambda i: [py, str(plain), f"hydra.run.dir={tmp}/plain{i}"],
            "python -m fpexp --help": lambda i: [py, "-m", "fpexp", "--help"],
            "python -m fpexp": lambda i: [py, "-m", "fpexp", f"hydra.run.dir={tmp}/run{i}"],
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for i in range(args.reps):
            for name, cmd in cases.items():
                times[name].append(timed(cmd(i)))
    med = {name: statistics.median(ts) for name, ts in times.items()}
    base = med["bare script"]
    print(f"{'command':<28} {'median s':>9} {'vs bare':>8}   ({args.reps} reps, interleaved)")
    for name, m in med.items():
        print(f"{name:<28} {m:>9.3f} {m / base:>7.2f}x")
    fp, hy = med["python -m fpexp"], med["minimal Hydra app"]
    print(f"fpexp vs bare script: {fp - base:+.3f} s; vs minimal Hydra app: {fp - hy:+.3f} s")


if __name__ == "__main__":
    main()
