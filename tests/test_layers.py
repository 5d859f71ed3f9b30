"""layers.csv: per-module output statistics, checked against a direct forward pass."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from fpexp.layer_stats import COLUMNS, LayerStats, last_hidden_index


def direct_stats(model: nn.Sequential, x: torch.Tensor) -> list[dict]:
    """Every module's full output, kept whole, then reduced in float64."""
    outs: list[torch.Tensor] = []
    handles = [m.register_forward_hook(lambda m, i, o: outs.append(o.detach())) for m in model]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    rows = []
    for o in outs:
        d = o.double()
        rows.append(
            {
                "output_shape": str(list(o.shape)),
                "mean": d.mean().item(),
                "std": d.std(correction=0).item(),
                "min": d.min().item(),
                "max": d.max().item(),
                "zero_fraction": (o == 0).double().mean().item(),
            }
        )
    return rows


def test_layers_csv_matches_a_direct_forward_pass(fpexp_cli):
    res = fpexp_cli(
        "data=synthetic",
        "data.n_rows=300",
        "model.hidden=[8,4]",
        "model.activation=relu",
        "task=multiclass",
    )
    assert res.returncode == 0, res.stderr
    with open(res.run_dir / "layers.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(COLUMNS)
    assert [r["type"] for r in rows] == ["Linear", "ReLU", "Linear", "ReLU", "Linear", "Softmax"]

    model = nn.Sequential(
        nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 3), nn.Softmax(dim=-1)
    )
    model.load_state_dict(load_file(res.run_dir / "weights.safetensors"))
    x = torch.randn(300, 6, generator=torch.Generator().manual_seed(42))
    for got, want in zip(rows, direct_stats(model, x), strict=True):
        assert got["output_shape"] == want["output_shape"]
        for key in ("mean", "std", "min", "max", "zero_fraction"):
            assert float(got[key]) == pytest.approx(want[key], rel=1e-5, abs=1e-6), key
    assert float(rows[1]["zero_fraction"]) > 0  # ReLU zeroes some units
    assert float(rows[-1]["mean"]) == pytest.approx(1 / 3)  # softmax rows sum to 1
    assert res.record["layers"][2]["std"] == pytest.approx(float(rows[2]["std"]))


@pytest.mark.parametrize("batch", [1, 7, 64, 1000])
def test_streamed_statistics_equal_one_full_batch(batch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 2))
    x = torch.randn(301, 5) * 3 + 1
    stats = LayerStats(model)
    with torch.no_grad():
        for start in range(0, len(x), batch):
            model(x[start : start + batch])
    stats.remove()
    for got, want in zip(stats.table(), direct_stats(model, x), strict=True):
        assert got["output_shape"] == want["output_shape"]
        for key in ("mean", "std", "min", "max", "zero_fraction"):
            assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6), key


def test_hooks_are_removed_and_empty_stats_are_nan():
    model = nn.Sequential(nn.Linear(2, 2))
    stats = LayerStats(model)
    stats.remove()
    model(torch.zeros(3, 2))
    (row,) = stats.table()
    assert math.isnan(row["mean"]) and row["output_shape"] == "[0]"


def test_last_hidden_index():
    assert last_hidden_index(["Linear", "Linear", "Sigmoid"]) == 0
    assert last_hidden_index(["Linear", "ReLU", "Linear", "ReLU", "Linear"]) == 3
    assert last_hidden_index(["Linear", "Softmax"]) is None


def test_each_row_counts_its_parameters_for_the_record_but_not_for_layers_csv():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.ReLU())
    stats = LayerStats(model)
    model(torch.zeros(2, 3))
    stats.remove()
    assert [row["params"] for row in stats.table()] == [16, 8, 0]
    assert "params" not in COLUMNS
