"""model.weights from real checkpoints: layouts, key choice, prefixes, and reading without running.

Driven as a user does (``fpexp.cli.main`` in-process); every run's outputs are compared with a
direct forward pass of the hand-built torch model in eval mode.
"""

from __future__ import annotations

import importlib
import os
import sys

import pytest
import torch
from conftest import run_into
from support import NON_DENSE, lesson_forward, mammal_outputs, non_strided, record
from torch import nn

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
def test_checkpoint_layouts_load_the_models_weights(tmp_path, layout, widths):
    model = mlp()
    name, content, args, key, prefix = layouts(model.state_dict())[layout]
    torch.save(content, tmp_path / name)
    given = ["model.hidden=[16,8]"] if widths == "given" else []
    done, run_dir = run_into(
        tmp_path,
        f"model.weights={name}",
        "model.activation=relu",
        *args,
        *given,
    )
    assert done.returncode == 0, done.stderr
    assert torch.equal(mammal_outputs(run_dir), lesson_forward(model))
    rec = record(run_dir)
    picked = {k: v for k, v in {"key": key, "prefix": prefix}.items() if v is not None}
    assert {k: rec["weights"].get(k) for k in ("key", "prefix") if k in rec["weights"]} == picked
    said = [f"the state dict under '{key}'"] if key else []
    said += [f"key prefix '{prefix}' stripped"] if prefix else []
    assert f"weights: {', '.join(said)} ({tmp_path / name})\n" in done.stdout


def test_an_ambiguous_checkpoint_lists_its_keys(tmp_path):
    sd = mlp().state_dict()
    torch.save({"epoch": 1, "state_dict": sd, "model": sd}, tmp_path / "two.pt")
    done, run_dir = run_into(tmp_path, "model.weights=two.pt")
    assert done.returncode == 2
    assert done.stderr == (
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
def test_a_key_that_is_not_there_lists_the_keys_found(tmp_path, content, args, line):
    torch.save(content, tmp_path / "c.pt")
    done, _ = run_into(tmp_path, "model.weights=c.pt", *args)
    assert done.returncode == 2
    assert done.stderr == "fpexp: error: " + line.format(p=tmp_path / "c.pt") + "\n"


def test_an_explicit_prefix_must_start_every_key(tmp_path):
    torch.save(prefixed(mlp().state_dict(), "model."), tmp_path / "w.pt")
    done, _ = run_into(tmp_path, "model.weights=w.pt", "model.weights_prefix=net.")
    assert done.returncode == 2
    assert done.stderr == (
        f"fpexp: error: model.weights_prefix: 'net.' does not start every key of {tmp_path}/w.pt "
        "(not model.0.weight) (a prefix every key shares, e.g. model.)\n"
    )


def test_a_prefix_whose_stripped_keys_do_not_fit_is_kept_and_named(tmp_path):
    state = prefixed(mlp().state_dict(), "net.")
    torch.save(state, tmp_path / "w.pt")
    done, _ = run_into(tmp_path, "model.weights=w.pt", "model.hidden=[4]")
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"fpexp: error: model.weights: {tmp_path}/w.pt does not fit the model: "
    )
    assert "unexpected net.0.weight [16, 6]" in done.stderr
    assert "every key starts with 'net.' (model.weights_prefix strips it)" in done.stderr
    assert len(done.stderr.splitlines()) == 1


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


def test_a_lightning_checkpoint_loads_without_constructing_its_extras(tmp_path, side_effects):
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
    done, run_dir = run_into(tmp_path, "model.weights=l.ckpt", "model.activation=relu")
    assert done.returncode == 0, done.stderr
    assert torch.equal(mammal_outputs(run_dir), lesson_forward(model))
    assert list(marks.iterdir()) == [] and "fx_side_effects" not in sys.modules
    assert record(run_dir)["weights"]["key"] == "state_dict"


@pytest.mark.parametrize("bad", ["reduced", "stateful", "hp"])
def test_a_state_dict_holding_objects_is_refused_and_none_is_built(tmp_path, side_effects, bad):
    objects, module, marks = side_effects
    state = dict(prefixed(mlp().state_dict(), "model."), **{"model.extra": objects[bad]})
    torch.save(lightning(state, hyper_parameters=objects["hp"]), tmp_path / "l.ckpt")
    _forget(module, marks)
    done, _ = run_into(tmp_path, "model.weights=l.ckpt")
    assert done.returncode == 2
    assert done.stderr == (
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
    state["0.weight"] = dense.long() if kind == "int64" else non_strided(kind, dense)
    torch.save({"state_dict": state, "hyper_parameters": System()}, tmp_path / "w.ckpt")
    with pytest.raises(UsageError) as info:
        load_state(tmp_path / "w.ckpt")
    assert info.value.lines()[0].startswith(
        f"fpexp: error: model.weights: {tmp_path}/w.ckpt: 0.weight is {what} (dense "
    )
    assert not (tmp_path / "system").exists()
