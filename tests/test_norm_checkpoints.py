"""Norm MLPs end to end from real checkpoints: widths, bias and norm read from the weights of
a Lightning-style ``.ckpt`` (``model.`` prefix), a DataParallel ``module.`` dict or a plain
file, checked against the trained torch model in ``eval()`` mode; then ``rerun --check``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from fpexp.cli import main

SYNTH = ["data=synthetic", "data.n_rows=9", "output.format=npy", "task=regression"]
NORMS = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}


def trained(norm: str, bias: bool, dropout: float) -> nn.Sequential:
    """6 -> 5 -> 4 -> 1 with ``norm`` after each hidden Linear, its statistics and affine
    parameters moved off their initial values as training would."""
    torch.manual_seed(3)
    layers: list[nn.Module] = []
    for n_in, n_out in ((6, 5), (5, 4)):
        layers += [nn.Linear(n_in, n_out, bias=bias), NORMS[norm](n_out), nn.ReLU()]
        layers += [nn.Dropout(dropout)] if dropout else []
    model = nn.Sequential(*layers, nn.Linear(4, 1, bias=bias))
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(32, 6) * 2 + 1)
        for m in model:
            if isinstance(m, nn.BatchNorm1d | nn.LayerNorm):
                m.weight.mul_(1.5).add_(0.2)
                m.bias.add_(-0.3)
    return model.eval()


def save(model: nn.Module, path: Path, layout: str) -> None:
    state = model.state_dict()
    if layout == "safetensors":
        save_file(state, str(path))
    elif layout == "lightning":
        state = {f"model.{k}": v for k, v in state.items()}
        torch.save({"state_dict": state, "epoch": 3, "hyper_parameters": {"lr": 0.1}}, path)
    else:  # DataParallel, under model_state_dict
        torch.save({"model_state_dict": {f"module.{k}": v for k, v in state.items()}}, path)


@pytest.mark.parametrize("layout", ["lightning", "module", "safetensors"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_a_norm_mlp_read_from_a_checkpoint_gives_the_trained_models_outputs(
    tmp_path, capsys, norm, bias, layout
):
    dropout = 0.2 if norm == "batch" else 0.0
    model = trained(norm, bias, dropout)
    path = tmp_path / ("w.safetensors" if layout == "safetensors" else "w.ckpt")
    save(model, path, layout)
    args = [*SYNTH, f"model.weights={path}", "model.activation=relu", f"model.dropout={dropout}"]
    if norm == "layer":  # weight and bias only: the user says it is a LayerNorm
        args.append("model.norm=layer")
    run_dir = tmp_path / "run"
    assert main([*args, f"hydra.run.dir={run_dir}"]) == 0
    out = capsys.readouterr().out
    b = "true" if bias else "false"
    assert f"hidden [5, 4] from weights (in_features 6, bias {b}, norm {norm})" in out
    x = torch.randn(9, 6, generator=torch.Generator().manual_seed(42))
    with torch.no_grad():
        want = model(x).numpy()
    got = np.load(run_dir / "outputs.npy")
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    saved = load_file(run_dir / "weights.safetensors")
    assert set(saved) == set(model.state_dict())
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    record = json.loads((run_dir / "run.json").read_text())
    assert record["model"]["from_weights"] == {
        "in_features": 6,
        "hidden": [5, 4],
        "bias": bias,
        "norm": norm,
    }
    assert main(["rerun", str(run_dir), "--check", f"hydra.run.dir={tmp_path / 'again'}"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "again" / "outputs.npy"), got)


def _bn_state(edit: str) -> dict:
    state = dict(trained("batch", True, 0.0).state_dict())
    if edit == "no_counter":  # torch < 0.4.1, or an exporter that drops int buffers
        return {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    state["1.running_var"] = -state["1.running_var"]
    return state


def test_a_batchnorm_checkpoint_without_its_batch_counter_loads(tmp_path):
    model = trained("batch", True, 0.0)
    save_file(_bn_state("no_counter"), str(tmp_path / "w.safetensors"))
    run_dir = tmp_path / "run"
    args = [*SYNTH, f"model.weights={tmp_path / 'w.safetensors'}", "model.activation=relu"]
    assert main([*args, f"hydra.run.dir={run_dir}"]) == 0
    x = torch.randn(9, 6, generator=torch.Generator().manual_seed(42))
    with torch.no_grad():
        np.testing.assert_allclose(np.load(run_dir / "outputs.npy"), model(x).numpy(), rtol=1e-6)


def test_a_negative_running_variance_is_refused_not_run_to_nan(tmp_path, capsys):
    path = tmp_path / "w.safetensors"
    save_file(_bn_state("negative"), str(path))
    args = [*SYNTH, f"model.weights={path}", "model.activation=relu"]
    assert main([*args, f"hydra.run.dir={tmp_path / 'run'}"]) == 2
    assert capsys.readouterr().err == (
        f"fpexp: error: model.weights: {path}: negative variances in 1.running_var "
        "(finite weights in the model's dtype, variances >= 0)\n"
    )
    assert not (tmp_path / "run" / "outputs.npy").exists()


@pytest.mark.parametrize("which", ["layer", "batch without running statistics"])
def test_a_norm_with_weight_and_bias_only_is_not_guessed(tmp_path, capsys, which):
    """LayerNorm(5) and BatchNorm1d(5, track_running_stats=False) hold the same tensors but
    compute different outputs: with model.norm unset the run stops and asks."""
    torch.manual_seed(0)
    norm = nn.LayerNorm(5) if which == "layer" else nn.BatchNorm1d(5, track_running_stats=False)
    model = nn.Sequential(nn.Linear(6, 5), norm, nn.ReLU(), nn.Linear(5, 1)).eval()
    path = tmp_path / "w.safetensors"
    save_file(model.state_dict(), str(path))
    args = [*SYNTH, f"model.weights={path}", "model.activation=relu"]
    assert main([*args, f"hydra.run.dir={tmp_path / 'run'}"]) == 2
    assert capsys.readouterr().err == (
        f"fpexp: error: model.norm: none, but each hidden Linear in {path} is followed by a norm "
        "with weight and bias only: a LayerNorm, or a BatchNorm1d without running statistics "
        "(the weights cannot tell them apart) (model.norm=layer for a LayerNorm)\n"
    )
    assert not (tmp_path / "run" / "outputs.npy").exists()
