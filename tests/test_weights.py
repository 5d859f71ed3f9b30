"""model.weights: trained state dicts from .pt and .safetensors, refused when unsafe or wrong."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ENV, run_into
from safetensors.torch import save_file
from test_run import FEATURES
from torch import nn


def lesson_model(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 1), nn.Sigmoid())


run = run_into


def outputs(run_dir: Path) -> torch.Tensor:
    with open(run_dir / "outputs.csv", newline="") as fh:
        return torch.tensor([float(r["mammal"]) for r in csv.DictReader(fh)], dtype=torch.float32)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_trained_weights_are_loaded(tmp_path, suffix):
    trained = lesson_model(123)
    path = tmp_path / f"trained{suffix}"
    if suffix == ".pt":
        torch.save(trained.state_dict(), path)
    else:
        save_file(trained.state_dict(), str(path))
    done, out = run(tmp_path, f"model.weights={path.name}")  # relative to the working directory
    assert done.returncode == 0, done.stderr
    with torch.no_grad():
        expected = trained(torch.tensor(FEATURES, dtype=torch.float32))[:, 0]
    assert torch.equal(outputs(out), expected)
    import json

    rec = json.loads((out / "run.json").read_text())
    assert rec["weights"]["origin"] == "model.weights"
    assert rec["weights"]["path"] == str(path)
    import hashlib

    assert rec["weights"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    from safetensors.torch import load_file

    saved = load_file(out / "weights.safetensors")
    assert all(torch.equal(saved[k], v) for k, v in trained.state_dict().items())


def test_shape_and_key_mismatches_name_every_key(tmp_path):
    state = lesson_model(0).state_dict()
    state["0.weight"] = torch.zeros(4, 5)
    del state["1.bias"]
    state["2.weight"] = torch.zeros(3)
    torch.save(state, tmp_path / "bad.pt")
    done, out = run(tmp_path, "model.weights=bad.pt")
    assert done.returncode == 2
    assert done.stderr == (
        f"fpexp: error: model.weights: {tmp_path}/bad.pt does not fit the model: "
        "missing 1.bias [1]; unexpected 2.weight [3]; 0.weight expected [4, 6] got [4, 5]; "
        "the data gave 6 features: hair, feathers, eggs, milk, legs, tail "
        "(a state dict of this model)\n"
    )
    assert not (out / "outputs.csv").exists()


def test_pickled_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"0.weight": Payload()}, tmp_path / "evil.pt")
    done, _ = run(tmp_path, "model.weights=evil.pt")
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"fpexp: error: model.weights: {tmp_path}/evil.pt: holds pickled objects"
    )
    assert len(done.stderr.splitlines()) == 1
    assert not marker.exists()


def test_non_finite_weights_are_refused(tmp_path):
    state = lesson_model(0).state_dict()
    state["1.weight"][0, 2] = float("nan")
    save_file(state, str(tmp_path / "nan.safetensors"))
    done, _ = run(tmp_path, "model.weights=nan.safetensors")
    assert done.returncode == 2
    assert "non-finite values (NaN or inf) in 1.weight" in done.stderr


@pytest.mark.parametrize(
    ("name", "what"),
    [("missing.pt", "no such file"), ("weights.bin", "unknown weights format '.bin'")],
)
def test_missing_or_unknown_file(tmp_path, name, what):
    (tmp_path / "weights.bin").write_bytes(b"x")
    done, _ = run(tmp_path, f"model.weights={name}")
    assert done.returncode == 2 and what in done.stderr


def test_rerun_after_the_weights_file_is_deleted(tmp_path):
    path = tmp_path / "trained.pt"
    torch.save(lesson_model(5).state_dict(), path)
    done, first = run(tmp_path, f"model.weights={path}", name="first")
    assert done.returncode == 0, done.stderr
    path.unlink()
    check = subprocess.run(
        [sys.executable, "-m", "fpexp", "rerun", str(first), "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.rstrip().endswith("reproduced: identical")
    # the same rerun from another working directory
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copytree(first, elsewhere / "copy")
    again = subprocess.run(
        [sys.executable, "-m", "fpexp", "rerun", "copy", "--check"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert again.returncode == 0, again.stderr
