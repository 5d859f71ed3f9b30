"""model.weights: trained state dicts from .pt and .safetensors, refused when unsafe or wrong;
the MLP's widths, bias and norm read from them."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from conftest import call_fpexp, run_into
from safetensors.torch import save_file
from support import FEATURES, lesson_forward, mammal_outputs, record
from torch import nn


def lesson_model(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 1), nn.Sigmoid())


run = run_into


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
    assert torch.equal(mammal_outputs(out), expected)

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
    done, out = run(tmp_path, "model.weights=bad.pt", "model.hidden=[4]")  # the fit, not widths
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
    check = call_fpexp(["rerun", str(first), "--check"], tmp_path)
    assert check.returncode == 0, check.stderr
    assert check.stdout.rstrip().endswith("reproduced: identical")
    # the same rerun from another working directory
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copytree(first, elsewhere / "copy")
    again = call_fpexp(["rerun", "copy", "--check"], elsewhere)
    assert again.returncode == 0, again.stderr


# --------------------------------------------------------------------------- widths from weights


def trained_mlp(bias: bool = True, act: type[nn.Module] | None = nn.Tanh, seed: int = 3):
    torch.manual_seed(seed)
    acts = [act()] if act is not None else []
    return nn.Sequential(
        nn.Linear(6, 16, bias=bias),
        *acts,
        nn.Linear(16, 8, bias=bias),
        *[act() for _ in acts],
        nn.Linear(8, 1, bias=bias),
        nn.Sigmoid(),
    )


@pytest.mark.parametrize("bias", [True, False])
def test_widths_bias_and_in_features_are_read_from_the_weights(tmp_path, bias):
    model = trained_mlp(bias)
    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    args = ("model.weights=w.safetensors", "model.activation=tanh")
    done, run_dir = run_into(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    said = f"hidden [16, 8] from weights (in_features 6, bias {str(bias).lower()}, norm none)"
    assert f"\n{said}\n" in done.stdout
    assert torch.equal(mammal_outputs(run_dir), lesson_forward(model))
    rec = record(run_dir)
    assert rec["model"]["hidden"] == [16, 8] and rec["model"]["depth"] == 2
    assert rec["model"]["from_weights"] == {
        "in_features": 6,
        "hidden": [16, 8],
        "bias": bias,
        "norm": "none",
    }
    assert "notes" not in rec and "notes" not in rec["model"]


def test_a_rerun_of_widths_from_weights_reproduces_identically(tmp_path):
    model = trained_mlp()
    torch.save(
        {"state_dict": {f"net.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "c.ckpt"
    )
    done, first = run_into(tmp_path, "model.weights=c.ckpt", "model.activation=tanh")
    assert done.returncode == 0, done.stderr
    (tmp_path / "c.ckpt").unlink()  # the rerun uses the run's own saved, flat weights
    rerun = call_fpexp(["rerun", str(first), "--check"], tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    out = rerun.stdout
    assert out.rstrip().endswith("reproduced: identical")
    again = Path(out.split("rerun:")[1].split()[0])
    again = again if again.is_absolute() else tmp_path / again
    rec = record(again)
    assert rec["weights"]["origin"] == "rerun" and "key" not in rec["weights"]
    assert rec["model"]["from_weights"]["hidden"] == [16, 8]


def test_activation_none_over_several_linears_is_said(tmp_path):
    model = trained_mlp(act=None)  # trained without activations: nothing numbered between
    torch.save(model.state_dict(), tmp_path / "w.pt")
    done, run_dir = run_into(tmp_path, "model.weights=w.pt")
    assert done.returncode == 0, done.stderr
    note = (
        "activations cannot be read from weights: model.activation is none, so nothing runs "
        f"between the 3 Linear layers from {tmp_path}/w.pt (set model.activation to the one "
        "the model was trained with)"
    )
    assert f"\nnote: {note}\n" in done.stdout
    assert record(run_dir)["model"]["notes"] == [note]
    assert torch.equal(mammal_outputs(run_dir), lesson_forward(model))


@pytest.mark.parametrize(
    ("act", "args", "line"),
    [
        (
            nn.ReLU,
            [],
            "model.activation: none, but {p} numbers 1 module without parameters after each "
            "hidden layer (an activation, a Dropout?) (set model.activation to the model's "
            "(and model.dropout if it has a Dropout))",
        ),
        (
            None,
            ["model.activation=relu"],
            "model.activation: relu with model.dropout=0.0 makes 1, but {p} numbers 0 modules "
            "without parameters after each hidden layer (the activation and dropout the model "
            "was built with)",
        ),
    ],
    ids=["gap_without_activation", "activation_without_gap"],
)
def test_gaps_in_the_numbering_must_match_the_activation(tmp_path, act, args, line):
    torch.save(trained_mlp(act=act).state_dict(), tmp_path / "w.pt")
    done, run_dir = run_into(tmp_path, "model.weights=w.pt", *args)
    assert done.returncode == 2
    assert done.stderr == "fpexp: error: " + line.format(p=tmp_path / "w.pt") + "\n"
    assert not (run_dir / "outputs.csv").exists()


@pytest.mark.parametrize(
    ("model", "args", "line"),
    [
        (
            nn.Sequential(nn.Linear(8, 4), nn.Linear(4, 1)),
            [],
            "model.weights: {p} takes 8 input features, but the data gave 6 features: hair, "
            "feathers, eggs, milk, legs, tail (data.features naming 8 columns, or weights for "
            "this data)",
        ),
        (
            nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 3)),
            [],
            "task.out_features: 1, but the weights in {p} end in 3 outputs (a task with the "
            "weights' output width)",
        ),
        (
            nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 1)),
            ["model.bias=false"],
            "model.bias: false, but every Linear in {p} has a bias (true, or weights without "
            "biases)",
        ),
    ],
    ids=["data_width", "task_width", "bias"],
)
def test_what_the_weights_say_must_agree_with_the_data_and_config(tmp_path, model, args, line):
    torch.save(model.state_dict(), tmp_path / "w.pt")
    done, _ = run_into(tmp_path, "model.weights=w.pt", *args)
    assert done.returncode == 2
    assert done.stderr == "fpexp: error: " + line.format(p=tmp_path / "w.pt") + "\n"


def _shapes(model: nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize(("norm", "module"), [("batch", nn.BatchNorm1d), ("layer", nn.LayerNorm)])
@pytest.mark.parametrize("dropout", [False, True])
def test_the_norm_is_read_from_the_keys(norm, module, dropout):
    from fpexp.weights_shape import MlpShape, infer_mlp

    def hidden(n_in: int, n_out: int) -> list[nn.Module]:
        return [nn.Linear(n_in, n_out), module(n_out), nn.ReLU(), *[nn.Dropout(0.1)] * dropout]

    model = nn.Sequential(*hidden(6, 16), *hidden(16, 8), nn.Linear(8, 3))
    assert infer_mlp(_shapes(model), "w") == MlpShape(6, [16, 8], 3, True, norm, 1 + dropout)


@pytest.mark.parametrize(
    ("model", "why"),
    [
        (
            nn.Sequential(nn.Linear(6, 4), nn.Linear(5, 1)),
            "1.weight takes 5 inputs after a layer of 4",
        ),
        (
            nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 4, bias=False), nn.Linear(4, 1)),
            "some Linear layers have a bias and others do not",
        ),
        (
            nn.Sequential(nn.Linear(6, 4), nn.LayerNorm(4), nn.Linear(4, 4), nn.Linear(4, 1)),
            "its hidden layers do not all have the same norm right after them",
        ),
        (
            nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 4), nn.Linear(4, 1)),
            "its hidden layers are numbered with different gaps",
        ),
        (nn.Sequential(nn.ReLU(), nn.Linear(6, 1)), "its first module (0) is not a Linear"),
        (nn.Sequential(nn.Linear(6, 1), nn.LayerNorm(1)), "a norm follows the last Linear"),
        (
            nn.Sequential(nn.Conv1d(1, 2, 3)),
            "module 0 is neither a Linear nor a norm",
        ),
    ],
    ids=["chain", "bias", "norm", "gaps", "first", "last_norm", "conv"],
)
def test_weights_that_are_no_fpexp_mlp_say_why(model, why):
    from fpexp.errors import Problem
    from fpexp.weights_shape import infer_mlp

    assert infer_mlp(_shapes(model), "w") == Problem(
        "model.weights",
        f"cannot read the model's widths from w: {why}",
        "model.hidden (or model.layers) to say the model's shape",
    )


def test_a_key_outside_the_numbering_is_named():
    from fpexp.weights_shape import infer_mlp

    problem = infer_mlp({"encoder.weight": [4, 6]}, "w")
    assert "key 'encoder.weight' is not N.weight, N.bias, N.running_mean, ..." in str(problem)


def test_a_given_norm_must_match_the_weights():
    from types import SimpleNamespace

    from fpexp.weights_shape import MlpShape, config_problems

    shape = MlpShape(6, [16], 1, True, "batch", 1)
    model = SimpleNamespace(activation="relu", dropout=0.0, bias=True, norm="layer")
    problems, notes = config_problems(shape, model, 1, "w")
    assert [str(p) for p in problems] == [
        "model.norm: layer, but the weights in w have norm batch (batch, or none to read it "
        "from the weights)"
    ]
    assert notes == []


def test_batchnorm_step_counter_is_the_one_integer_tensor_allowed():
    from fpexp.weights import tensor_problems

    state = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4)).state_dict()
    assert state["1.num_batches_tracked"].dtype == torch.int64
    assert tensor_problems(state, Path("w")) == []
    state["1.running_mean"] = state["1.running_mean"].long()
    assert "1.running_mean is int64" in str(tensor_problems(state, Path("w"))[0])


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["model.weights_key=state_dict"],
            "model.weights_key: is set but model.weights is null (null, or give model.weights)",
        ),
        (
            ["model.weights_prefix=net."],
            "model.weights_prefix: is set but model.weights is null (null, or give model.weights)",
        ),
        (
            ["model.weights=w.pt", "model.weights_key=' '"],
            "model.weights_key: is empty (null, or the key that holds it)",
        ),
    ],
)
def test_weights_key_and_prefix_are_checked_with_the_config(compose_cfg, args, line):
    from fpexp.config.validate import check_config

    assert [str(p) for p in check_config(compose_cfg(*args))] == [line]
