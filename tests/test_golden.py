"""Existing configs keep their exact files: the sha256 of every output of five runs, as
recorded on main before the registry redesign (issue 10), must not change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fpexp.cli import main

GOLDEN = json.loads((Path(__file__).parent / "golden_hashes.json").read_text())
CASES = {
    "default": [],
    "multiclass": ["task=multiclass"],
    "regression_relu": ["task=regression", "model.hidden=[8,8]", "model.activation=relu"],
    "synthetic_parquet": [
        "data=synthetic",
        "data.n_rows=50",
        "model.width=5",
        "model.depth=2",
        "model.activation=tanh",
        "output.format=parquet",
    ],
    "npy_float64": ["data=synthetic", "dtype=float64", "output.format=npy", "model.bias=false"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_outputs_are_byte_identical_to_before_the_redesign(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / name
    assert main([*CASES[name], f"hydra.run.dir={run_dir}"]) == 0
    record = json.loads((run_dir / "run.json").read_text())
    assert {k: v["sha256"] for k, v in record["outputs"].items()} == GOLDEN[name]
