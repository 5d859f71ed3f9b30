"""A default run vs the bare script writing the same outputs, in a user's data environment.

    .venv/bin/python benchmarks/default_run.py [--reps 7] [--fpexp-path DIR]

Meant for an environment like a user's: the project plus pandas, scikit-learn and matplotlib
(``pip install -c constraints.txt -e '.[bench]'``); it says which of them are missing. fpexp
must not import any of them (tests/test_imports.py), so installing them must not slow it down.
Whole processes, interleaved, medians, in one invocation; prints the ratio (target <= 1.0x).
The bare script: the lesson's nn.Sequential on the five animals, seeded, writing what a
default run writes for them: outputs.csv, predictions.csv (stdlib csv), weights.safetensors
and model.txt. ``--fpexp-path``: also time fpexp from another checkout (before/after, in one
invocation).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

USER_LIBRARIES = ("pandas", "sklearn", "matplotlib")

BARE = """
import csv, sys
from pathlib import Path
import torch
from safetensors.torch import save_file
from torch import nn

out = Path(sys.argv[1])
out.mkdir(parents=True)
torch.manual_seed(42)
ids = ["dog", "platypus", "eagle", "tortoise", "snake"]
x = torch.tensor([[1,0,0,1,4,1],[1,0,1,1,4,1],[0,1,1,0,2,1],[0,0,1,0,4,1],[0,0,1,0,0,1]],
                 dtype=torch.float32)
model = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 1), nn.Sigmoid())
with torch.inference_mode():
    y = model(x)
print(model)
print(y)
p = y[:, 0].tolist()
with open(out / "outputs.csv", "w", newline="") as f:
    w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)
    w.writerow(["id", "mammal"])
    w.writerows(zip(ids, p))
with open(out / "predictions.csv", "w", newline="") as f:
    w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)
    w.writerow(["id", "prediction", "label"])
    w.writerows((i, int(v >= 0.5), "mammal" if v >= 0.5 else "not mammal") for i, v in zip(ids, p))
save_file(dict(model.state_dict()), str(out / "weights.safetensors"))
(out / "model.txt").write_text(str(model) + "\\n")
"""


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> float:
    start = time.perf_counter()
    out = subprocess.DEVNULL
    subprocess.run(cmd, check=True, stdout=out, stderr=out, env=env, cwd=cwd)
    return time.perf_counter() - start


def steady_state_bytecode(other: str | None) -> str:
    """fpexp's bytecode written as a user's Python writes it on the first run. Where
    ``PYTHONDONTWRITEBYTECODE`` is set (this machine sets it) nothing is cached, and every timed
    run would compile fpexp's ~90 modules from source (~40 ms) that no user's second run pays."""
    import compileall

    roots = [Path(importlib.util.find_spec("fpexp").origin).parent.parent]  # type: ignore[union-attr, arg-type]
    roots += [Path(other)] if other else []
    for root in roots:
        for package in ("fpexp", "hydra_plugins"):
            if (root / package).is_dir():
                compileall.compile_dir(root / package, quiet=1)
    return f"bytecode: fpexp's compiled as a first run would (in {', '.join(map(str, roots))})"


def missing_libraries() -> list[str]:
    """The user libraries this environment lacks (the comparison is then not the issue's)."""
    return [name for name in USER_LIBRARIES if importlib.util.find_spec(name) is None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--fpexp-path", help="another checkout whose fpexp to time as well")
    args = parser.parse_args()
    missing = missing_libraries()
    note = f" (missing: {', '.join(missing)}: not a user's environment)" if missing else ""
    print(f"user libraries: {', '.join(USER_LIBRARIES)}{note}")
    print(steady_state_bytecode(args.fpexp_path))
    env = dict(os.environ)
    if args.fpexp_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.fpexp_path, env.get("PYTHONPATH")]))
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "bare.py")
        script.write_text(BARE)
        cases = {
            "python -c 'import torch'": lambda i: [py, "-c", "import torch"],
            "bare script": lambda i: [py, str(script), f"{tmp}/bare{i}"],
            "python -m fpexp": lambda i: [py, "-m", "fpexp", f"hydra.run.dir={tmp}/run{i}"],
        }
        if args.fpexp_path:
            cases["python -m fpexp (--fpexp-path)"] = lambda i: [
                *cases["python -m fpexp"](i)[:-1],
                f"hydra.run.dir={tmp}/other{i}",
            ]
        times: dict[str, list[float]] = {name: [] for name in cases}
        for i in range(args.reps):
            for name, cmd in cases.items():
                own = name.endswith("(--fpexp-path)")  # -m looks in the working directory first
                where = (env, args.fpexp_path) if own else (None, None)
                times[name].append(timed(cmd(i), *where))
        phases = [_phases(Path(tmp, f"run{i}", "run.json")) for i in range(args.reps)]
    med = {name: statistics.median(ts) for name, ts in times.items()}
    base = med["bare script"]
    print(f"{'command':<34} {'median s':>9} {'vs bare':>8}   ({args.reps} reps, interleaved)")
    for name, m in med.items():
        print(f"{name:<34} {m:>9.3f} {m / base:>7.2f}x")
    print(f"default run / bare script: {med['python -m fpexp'] / base:.2f}x (target <= 1.00x)")
    print_profile(phases, times["python -m fpexp"])


def _phases(record: Path) -> dict[str, float]:
    return dict(json.loads(record.read_text())["phases_s"])


def print_profile(phases: list[dict[str, float]], walls: list[float]) -> None:
    """Per phase of the default run (run.json's phases_s), medians; the rest of the process
    (interpreter start, Hydra's import and composition, the record's lifecycle, exit)."""
    print("default run, per phase (median s):")
    for name in phases[0]:
        print(f"  {name:<12} {statistics.median(p[name] for p in phases):>7.3f}")
    rest = statistics.median(w - sum(p.values()) for p, w in zip(phases, walls, strict=True))
    print(f"  {'rest':<12} {rest:>7.3f}  (interpreter, Hydra import and composition, exit)")


if __name__ == "__main__":
    main()
