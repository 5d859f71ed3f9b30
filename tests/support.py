"""What several test modules share: the lesson's data and models, the files a run writes, and
small readers of a run directory. Test modules import from here (or conftest), never from
each other."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import torch
from torch import nn

# The embedded animals data (fpexp/data/animals.csv): its ids and features, in order.
ANIMALS = ["dog", "platypus", "eagle", "tortoise", "snake"]
FEATURES = [
    [1, 0, 0, 1, 4, 1],
    [1, 0, 1, 1, 4, 1],
    [0, 1, 1, 0, 2, 1],
    [0, 0, 1, 0, 4, 1],
    [0, 0, 1, 0, 0, 1],
]

# The result files of a completed run with the default output format (csv), and what a run
# directory holds besides them (also all a failed run's directory holds).
RUN_FILES = frozenset(
    {"model.txt", "weights.safetensors", "outputs.csv", "predictions.csv", "layers.csv"}
)
RUN_BOOKKEEPING = frozenset({".hydra", "run.json", "fpexp.log"})

# The default model of each task, as torch prints it.
LESSON = (
    "Sequential(\n"
    "  (0): Linear(in_features=6, out_features=4, bias=True)\n"
    "  (1): Linear(in_features=4, out_features=1, bias=True)\n"
    "  (2): Sigmoid()\n"
    ")"
)
MULTICLASS = (
    "Sequential(\n"
    "  (0): Linear(in_features=6, out_features=4, bias=True)\n"
    "  (1): Linear(in_features=4, out_features=3, bias=True)\n"
    "  (2): Softmax(dim=-1)\n"
    ")"
)
REGRESSION = (
    "Sequential(\n"
    "  (0): Linear(in_features=6, out_features=4, bias=True)\n"
    "  (1): Linear(in_features=4, out_features=1, bias=True)\n"
    ")"
)

# Tensors that are not dense, and how a refusal names each (model.weights and the inert reader).
NON_DENSE = [
    ("sparse_coo", "a sparse_coo tensor"),
    ("sparse_csr", "a sparse_csr tensor"),
    ("quantized", "a quantized tensor (qint8)"),
    ("meta", "a meta tensor (no values)"),
]


def non_strided(kind: str, dense: torch.Tensor) -> torch.Tensor:
    """``dense`` as the NON_DENSE ``kind`` of tensor."""
    if kind == "sparse_coo":
        return dense.to_sparse()
    if kind == "sparse_csr":
        return dense.to_sparse_csr()
    if kind == "quantized":
        return torch.quantize_per_tensor(dense, 0.1, 0, torch.qint8)
    return torch.empty(dense.shape, device="meta")


def record(run_dir: Path) -> dict:
    """The run's run.json."""
    return json.loads((run_dir / "run.json").read_text())


def mammal_outputs(run_dir: Path) -> torch.Tensor:
    """The ``mammal`` column of a binary run's outputs.csv, as float32."""
    with open(run_dir / "outputs.csv", newline="") as fh:
        return torch.tensor([float(r["mammal"]) for r in csv.DictReader(fh)], dtype=torch.float32)


def lesson_forward(model: nn.Module) -> torch.Tensor:
    """``model`` in eval mode on the animals' features: its first output column."""
    with torch.no_grad():
        return model.eval()(torch.tensor(FEATURES, dtype=torch.float32))[:, 0]


# A user's own layer (a module outside torch), for the tests of model.layers from user code.
RESIDUAL_MODULE = """
from torch import nn


class Residual(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.inner = nn.Linear(width, width)

    def forward(self, x):
        return x + self.inner(x)
"""


def rewrite_in_place(path: Path, text: str) -> None:
    """New content, same size, inode and mtime: only the content tells the edit."""
    st = path.stat()
    with open(path, "r+") as f:
        f.write(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_ino) == (st.st_size, st.st_ino)


# Overrides covering fpexp's config shapes: presets, tasks, data, an explicit layer list, and
# values that interpolate (``${now:}``: a cached resolver) or need quoting in YAML.
COMPOSED_WITH_HYDRA = (
    [],
    ["task=multiclass", "model.hidden=[8,4]"],
    ["task=regression", "data=synthetic", "hydra.run.dir=out/${now:%H-%M}"],
    ["hydra.job.name='é ✓'", "seed=3"],
    ["model.layers=[{_target_: torch.nn.Linear, in_features: 6, out_features: 2}]"],
)


def composed_with_hydra() -> list:
    """fpexp's config for each of ``COMPOSED_WITH_HYDRA``, with its ``hydra`` node, as Hydra
    composes it for a run (plain Hydra: no fpexp speed-up installed)."""
    from hydra import compose, initialize_config_dir

    from fpexp.config.store import CONFIG_NAME, config_dir, register

    register()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return [
            compose(CONFIG_NAME, overrides=list(o), return_hydra_config=True)
            for o in COMPOSED_WITH_HYDRA
        ]
