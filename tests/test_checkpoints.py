"""model.weights from real checkpoints: layouts, key choice, prefixes, and reading without running.

Driven as a user does (``fpexp.cli.main`` in-process); every run's outputs are compared with a
direct forward pass of the hand-built torch model in eval mode.
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import sys
from pathlib import Path

import pytest
import torch
from test_run import FEATURES
from test_trust_model import NON_DENSE, _non_strided
from torch import nn

from fpexp.cli import main
from fpexp.errors import UsageError
from fpexp.safe_pickle import read_inert


def mlp(seed: int = 7, bias: bool = True) -> nn.Sequential:
    """An MLP trained in plain torch, numbered as fpexp numbers it (relu between layers)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(6, 16, bias=bias),
        nn.ReLU(),
        nn.Linear(16, 8, bias=bias),
        nn.ReLU(),
        nn.Linear(8, 1, bias=bias),
        nn.Sigmoid(),
    )


def expected(model: nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(torch.tensor(FEATURES, dtype=torch.float32))[:, 0]


def outputs(run_dir: Path) -> torch.Tensor:
    with open(run_dir / "outputs.csv", newline="") as fh:
        return torch.tensor([float(r["mammal"]) for r in csv.DictReader(fh)], dtype=torch.float32)


def fpexp(tmp_path, monkeypatch, capsys, *args: str, name: str = "run"):
    """``fpexp ARGS`` in-process from ``tmp_path``: (exit code, stdout, stderr, run dir)."""
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / name
    code = main([*args, f"hydra.run.dir={run_dir}"])
    out, err = capsys.readouterr()
    return code, out, err, run_dir


def prefixed(state: dict, prefix: str) -> dict:
    return {prefix + k: v for k, v in state.items()}


def lightning(state: dict, **extra: object) -> dict:
    """What a Lightning checkpoint holds besides its ``state_dict``: plain values here (the
    classes Lightning puts in are in the safety tests below)."""
    return {
        "epoch": 3,
        "global_step": 120,
        "pytorch-lightning_version": "2.4.0",
        "state_dict": state,
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 4}}}},
        "callbacks": {"ModelCheckpoint{'monitor': None}": {"best_model_score": torch.tensor(0.3)}},
        "optimizer_states": [{"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": []}],
        "lr_schedulers": [],
        **extra,
    }


# layout name -> (file name, what to save, overrides, recorded key, recorded prefix)
def layouts(sd: dict) -> dict[str, tuple]:
    return {
        "lightning_model_prefix": (
            "l.ckpt",
            lightning(prefixed(sd, "model.")),
            [],
            "state_dict",
            "model.",
        ),
        "dataparallel_module_prefix": ("dp.pt", prefixed(sd, "module."), [], None, "module."),
        "model_state_dict": (
            "m.pth",
            {"model_state_dict": sd, "optimizer_state_dict": {"state": {}}, "epoch": 2},
            [],
            "model_state_dict",
            None,
        ),
        "two_level_prefix": (
            "n.pt",
            {"model": prefixed(sd, "module.net.")},
            [],
            "model",
            "module.net.",
        ),
        "nested_key_choice": (
            "nested.pt",
            {"teacher": {"state_dict": mlp(99).state_dict()}, "student": {"state_dict": sd}},
            ["model.weights_key=student.state_dict"],
            "student.state_dict",
            None,
        ),
        "explicit_prefix_without_dot": (
            "e.pt",
            {"state_dict": prefixed(sd, "net.")},
            ["model.weights_prefix=net"],
            "state_dict",
            "net.",
        ),
    }


@pytest.mark.parametrize("widths", ["from_weights", "given"])
@pytest.mark.parametrize("layout", list(layouts({})))
def test_checkpoint_layouts_load_the_models_weights(tmp_path, monkeypatch, capsys, layout, widths):
    model = mlp()
    name, content, args, key, prefix = layouts(model.state_dict())[layout]
    torch.save(content, tmp_path / name)
    given = ["model.hidden=[16,8]"] if widths == "given" else []
    code, out, err, run_dir = fpexp(
        tmp_path,
        monkeypatch,
        capsys,
        f"model.weights={name}",
        "model.activation=relu",
        *args,
        *given,
    )
    assert code == 0, err
    assert torch.equal(outputs(run_dir), expected(model))
    rec = json.loads((run_dir / "run.json").read_text())
    picked = {k: v for k, v in {"key": key, "prefix": prefix}.items() if v is not None}
    assert {k: rec["weights"].get(k) for k in ("key", "prefix") if k in rec["weights"]} == picked
    said = [f"the state dict under '{key}'"] if key else []
    said += [f"key prefix '{prefix}' stripped"] if prefix else []
    assert f"weights: {', '.join(said)} ({tmp_path / name})\n" in out


def test_an_ambiguous_checkpoint_lists_its_keys(tmp_path, monkeypatch, capsys):
    sd = mlp().state_dict()
    torch.save({"epoch": 1, "state_dict": sd, "model": sd}, tmp_path / "two.pt")
    code, _, err, run_dir = fpexp(tmp_path, monkeypatch, capsys, "model.weights=two.pt")
    assert code == 2
    assert err == (
        f"fpexp: error: model.weights_key: {tmp_path}/two.pt: more than one state dict (under "
        "state_dict and model); keys found: epoch, state_dict, model "
        "(model.weights_key=state_dict or model.weights_key=model)\n"
    )
    assert not (run_dir / "outputs.csv").exists()


@pytest.mark.parametrize(
    ("content", "args", "line"),
    [
        (
            {"epoch": 1, "weights": {"a": 1}},
            [],
            "model.weights_key: {p}: no state dict under state_dict, model_state_dict, model or "
            "module; keys found: epoch, weights (the key that holds it; a.b for a nested key)",
        ),
        (
            {"ema": {"state_dict": {}}},
            ["model.weights_key=ema.model"],
            "model.weights_key: 'ema.model' not found: 'ema' in {p} has no key 'model' "
            "(keys found: state_dict) (a key of the file; a.b for a nested key)",
        ),
        (
            {"ema": 1},
            ["model.weights_key=student"],
            "model.weights_key: 'student' not found: {p} has no key 'student' "
            "(keys found: ema) (a key of the file; a.b for a nested key)",
        ),
    ],
    ids=["no_state_dict", "nested_miss", "top_miss"],
)
def test_a_key_that_is_not_there_lists_the_keys_found(
    tmp_path, monkeypatch, capsys, content, args, line
):
    torch.save(content, tmp_path / "c.pt")
    code, _, err, _ = fpexp(tmp_path, monkeypatch, capsys, "model.weights=c.pt", *args)
    assert code == 2
    assert err == "fpexp: error: " + line.format(p=tmp_path / "c.pt") + "\n"


def test_an_explicit_prefix_must_start_every_key(tmp_path, monkeypatch, capsys):
    torch.save(prefixed(mlp().state_dict(), "model."), tmp_path / "w.pt")
    code, _, err, _ = fpexp(
        tmp_path, monkeypatch, capsys, "model.weights=w.pt", "model.weights_prefix=net."
    )
    assert code == 2
    assert err == (
        f"fpexp: error: model.weights_prefix: 'net.' does not start every key of {tmp_path}/w.pt "
        "(not model.0.weight) (a prefix every key shares, e.g. model.)\n"
    )


def test_a_prefix_whose_stripped_keys_do_not_fit_is_kept_and_named(tmp_path, monkeypatch, capsys):
    state = prefixed(mlp().state_dict(), "net.")
    torch.save(state, tmp_path / "w.pt")
    code, _, err, _ = fpexp(tmp_path, monkeypatch, capsys, "model.weights=w.pt", "model.hidden=[4]")
    assert code == 2
    assert err.startswith(f"fpexp: error: model.weights: {tmp_path}/w.pt does not fit the model: ")
    assert "unexpected net.0.weight [16, 6]" in err
    assert "every key starts with 'net.' (model.weights_prefix strips it)" in err
    assert len(err.splitlines()) == 1


# --------------------------------------------------------------------------- reading safely

SIDE_EFFECTS = '''
import os
from pathlib import Path

MARKS = Path(os.environ["FPEXP_TEST_MARKS"])
(MARKS / "imported").touch()  # importing this module is a side effect too
FLAG = []


def touch(name):
    (MARKS / name).touch()
    FLAG.append(name)


class AttributeDict(dict):
    """Like Lightning's hyper_parameters: a dict subclass; building it sets a flag."""

    def __setstate__(self, state):
        touch("setstate")


class Reduced:
    def __reduce__(self):
        return (touch, ("reduce",))


class Stateful:
    def __setstate__(self, state):
        touch("stateful")
'''


@pytest.fixture
def side_effects(tmp_path, monkeypatch):
    """A temp module whose objects, if ever constructed (or the module imported), leave marks
    in ``marks/``; the marks are cleared after pickling them, and the module is forgotten."""
    marks = tmp_path / "marks"
    marks.mkdir()
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "fx_side_effects.py").write_text(SIDE_EFFECTS)
    monkeypatch.setenv("FPEXP_TEST_MARKS", str(marks))
    monkeypatch.syspath_prepend(str(tmp_path / "pkg"))
    module = importlib.import_module("fx_side_effects")
    hp = module.AttributeDict(lr=0.1, activation="relu")
    hp.__dict__["x"] = 1  # so pickle calls __setstate__ when it builds one
    stateful = module.Stateful()
    stateful.x = 1
    objects = {"hp": hp, "reduced": module.Reduced(), "stateful": stateful}
    yield objects, module, marks
    sys.modules.pop("fx_side_effects", None)


def _forget(module, marks):
    sys.modules.pop(module.__name__, None)
    for mark in marks.iterdir():
        mark.unlink()


def test_a_lightning_checkpoint_loads_without_constructing_its_extras(
    tmp_path, monkeypatch, capsys, side_effects
):
    objects, module, marks = side_effects
    model = mlp()

    class System:  # a pickled os.system call
        def __reduce__(self):
            return (os.system, (f"touch {marks}/system",))

    content = lightning(
        prefixed(model.state_dict(), "model."),
        hyper_parameters=objects["hp"],
        callbacks={"Custom": objects["stateful"], "Other": objects["reduced"]},
        loops={"fit_loop": System()},
        model=model,  # a whole pickled nn.Module next to its state dict
    )
    torch.save(content, tmp_path / "l.ckpt")
    _forget(module, marks)
    code, _, err, run_dir = fpexp(
        tmp_path, monkeypatch, capsys, "model.weights=l.ckpt", "model.activation=relu"
    )
    assert code == 0, err
    assert torch.equal(outputs(run_dir), expected(model))
    assert list(marks.iterdir()) == [] and "fx_side_effects" not in sys.modules
    assert json.loads((run_dir / "run.json").read_text())["weights"]["key"] == "state_dict"


@pytest.mark.parametrize("bad", ["reduced", "stateful", "hp"])
def test_a_state_dict_holding_objects_is_refused_and_none_is_built(
    tmp_path, monkeypatch, capsys, side_effects, bad
):
    objects, module, marks = side_effects
    state = dict(prefixed(mlp().state_dict(), "model."), **{"model.extra": objects[bad]})
    torch.save(lightning(state, hyper_parameters=objects["hp"]), tmp_path / "l.ckpt")
    _forget(module, marks)
    code, _, err, _ = fpexp(tmp_path, monkeypatch, capsys, "model.weights=l.ckpt")
    assert code == 2
    assert err == (
        f"fpexp: error: model.weights: {tmp_path}/l.ckpt: holds pickled objects, not only "
        "tensors; refused without loading them (a state dict of tensors, or .safetensors)\n"
    )
    assert list(marks.iterdir()) == [] and "fx_side_effects" not in sys.modules


def test_a_torchscript_archive_is_never_loaded_by_the_inert_reader(tmp_path):
    torch.jit.save(torch.jit.script(mlp()), tmp_path / "scripted.pt")
    with pytest.raises(UsageError) as info:
        read_inert(tmp_path / "scripted.pt")
    assert "holds pickled objects" in info.value.lines()[0]


@pytest.mark.parametrize(
    ("kind", "what"), [*NON_DENSE, ("int64", "int64, not a real floating-point tensor")]
)
def test_the_inert_reader_refuses_what_weights_only_refuses_with_the_same_line(
    tmp_path, kind, what
):
    from fpexp.weights import load_state

    class System:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path}/system",))

    state = mlp().state_dict()
    dense = state["0.weight"]
    state["0.weight"] = dense.long() if kind == "int64" else _non_strided(kind, dense)
    torch.save({"state_dict": state, "hyper_parameters": System()}, tmp_path / "w.ckpt")
    with pytest.raises(UsageError) as info:
        load_state(tmp_path / "w.ckpt")
    assert info.value.lines()[0].startswith(
        f"fpexp: error: model.weights: {tmp_path}/w.ckpt: 0.weight is {what} (dense "
    )
    assert not (tmp_path / "system").exists()
