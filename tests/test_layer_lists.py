"""Layer lists (``model.layers``), the MLP preset's norm/dropout options, and what a record's
layers may make a rerun import: driven as a user does, checked against hand-built models."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import ENV
from safetensors.torch import load_file, save_file
from support import RESIDUAL_MODULE
from torch import nn

from fpexp.cli import main
from fpexp.config import model_size, sizes
from fpexp.layer_types import last_hidden_index
from fpexp.replay import config_problems, foreign_targets

PRESET = [  # conf/model/layers.yaml
    "Linear(6, 16)",
    "LayerNorm(16)",
    "GELU()",
    "Dropout(0.1)",
    "Linear(16, 3)",
]
SYNTH = ["data=synthetic", "data.n_rows=9", "output.format=npy"]


def run(tmp_path: Path, *args: str, name: str = "run") -> Path:
    run_dir = tmp_path / name
    assert main([*args, f"hydra.run.dir={run_dir}"]) == 0
    return run_dir


def features(n: int = 9, seed: int = 42) -> torch.Tensor:
    """``data=synthetic``'s table: standard normal from its own seeded generator."""
    return torch.randn(n, 6, generator=torch.Generator().manual_seed(seed))


def same_outputs(run_dir: Path, reference: nn.Sequential) -> None:
    """The run's outputs equal ``reference`` (loaded with the run's weights) in eval mode."""
    reference.load_state_dict(load_file(run_dir / "weights.safetensors"))
    reference.eval()
    with torch.no_grad():
        want = reference(features()).numpy()
    np.testing.assert_allclose(np.load(run_dir / "outputs.npy"), want, rtol=1e-6, atol=1e-7)


def layers_arg(*specs: str) -> str:
    return "model.layers=[" + ",".join(specs) + "]"


def test_the_layers_preset_matches_a_hand_built_sequential(tmp_path):
    run_dir = run(tmp_path, "model=layers", "task=multiclass", *SYNTH)
    reference = nn.Sequential(
        nn.Linear(6, 16), nn.LayerNorm(16), nn.GELU(), nn.Dropout(0.1), nn.Linear(16, 3)
    )
    same_outputs(run_dir, nn.Sequential(*reference, nn.Softmax(dim=-1)))
    record = json.loads((run_dir / "run.json").read_text())
    assert record["model"]["layers"][1] == {
        "target": "torch.nn.LayerNorm",
        "args": {"normalized_shape": 16},
    }
    assert record["model"]["hidden"] is None and record["model"]["parameters"] == 195
    assert [row["params"] for row in record["layers"]] == [112, 32, 0, 0, 51, 0]
    table = (run_dir / "model.txt").read_text().split("\n\n")[1].splitlines()
    assert table[2].split() == ["1", "LayerNorm", "16", "->", "16", "32"]
    assert table[5].split() == ["4", "Linear", "16", "->", "3", "51"]


@pytest.mark.parametrize(
    ("norm", "module"), [("batch", nn.BatchNorm1d), ("layer", nn.LayerNorm), ("none", None)]
)
def test_mlp_norm_and_dropout_follow_torchvision_order(tmp_path, norm, module):
    args = ["model.hidden=[5,4]", "model.activation=relu", f"model.norm={norm}"]
    run_dir = run(tmp_path, *SYNTH, *args, "model.dropout=0.25")
    hidden = []
    for n_in, n_out in ((6, 5), (5, 4)):
        hidden += [nn.Linear(n_in, n_out), *([module(n_out)] if module else [])]
        hidden += [nn.ReLU(), nn.Dropout(0.25)]
    reference = nn.Sequential(*hidden, nn.Linear(4, 1), nn.Sigmoid())
    assert (run_dir / "model.txt").read_text().startswith(str(reference))
    same_outputs(run_dir, reference)


def test_batchnorm_uses_the_loaded_running_statistics_and_dropout_is_identity(tmp_path):
    torch.manual_seed(0)
    trained = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 1))
    trained(torch.randn(64, 6) * 3 + 2)  # train mode: running mean/var move off 0/1
    assert not torch.allclose(trained[1].running_var, torch.ones(4))
    save_file(trained.state_dict(), str(tmp_path / "w.safetensors"))
    args = ["model.hidden=[4]", "model.norm=batch", "model.dropout=0.5", "task=regression"]
    run_dir = run(tmp_path, *SYNTH, *args, f"model.weights={tmp_path / 'w.safetensors'}")
    saved = load_file(run_dir / "weights.safetensors")  # running stats saved as loaded
    assert torch.equal(saved["1.running_var"], trained[1].running_var)
    assert saved["1.num_batches_tracked"].item() == 1
    trained.eval()
    with torch.no_grad():
        want = trained(features()).numpy()
    np.testing.assert_allclose(np.load(run_dir / "outputs.npy"), want, rtol=1e-6)
    with torch.no_grad():  # what training-mode BatchNorm (batch statistics) would give
        bn = trained[1]
        h = nn.functional.batch_norm(
            trained[0](features()), None, None, bn.weight, bn.bias, training=True
        )
        batch_stats = trained[3](h)
    assert not np.allclose(np.load(run_dir / "outputs.npy"), batch_stats.numpy(), atol=1e-3)


@pytest.mark.parametrize(
    ("spec", "key", "what"),
    [
        (
            "{_target_:shutil.copyfile,src:SRC,dst:DST}",
            "model.layers[1]._target_",
            "'shutil.copyfile' is a function, not a torch.nn.Module",
        ),
        (
            "{_target_:os.system,command:'cp SRC DST'}",
            "model.layers[1]._target_",
            "'os.system' is a builtin_function_or_method, not a torch.nn.Module",
        ),
        (
            "{_target_:pathlib.Path,_args_:[DST]}",
            "model.layers[1]._target_",
            "'pathlib.Path' is a class, not a torch.nn.Module",
        ),
        (
            "{_target_:torch.nn.Sequential,_args_:[{_target_:shutil.copyfile,src:SRC,dst:DST}]}",
            "model.layers[1]._args_[0]._target_",
            "'shutil.copyfile' is a function, not a torch.nn.Module",
        ),
        (
            "{_target_:no_such_fpexp_module.Block}",
            "model.layers[1]._target_",
            "'no_such_fpexp_module.Block' cannot be imported (ModuleNotFoundError: "
            "No module named 'no_such_fpexp_module')",
        ),
    ],
    ids=["function", "builtin", "class", "nested", "missing"],
)
def test_a_target_that_is_not_a_module_is_refused_before_anything_is_called(
    tmp_path, capsys, spec, key, what
):
    src, dst = tmp_path / "src.txt", tmp_path / "copied.txt"
    src.write_text("x")
    spec = spec.replace("SRC", str(src)).replace("DST", str(dst))
    arg = layers_arg("{_target_:torch.nn.Linear,in_features:6,out_features:1}", spec)
    assert main([arg, f"hydra.run.dir={tmp_path / 'r'}"]) == 2
    allowed = "a class that subclasses torch.nn.Module, e.g. torch.nn.Linear"
    assert capsys.readouterr().err == f"fpexp: error: {key}: {what} ({allowed})\n"
    assert not dst.exists()


def test_args_must_be_a_list(tmp_path, capsys):
    arg = layers_arg("{_target_:torch.nn.Linear,_args_:six}")
    assert main([arg, f"hydra.run.dir={tmp_path / 'r'}"]) == 2
    assert capsys.readouterr().err == (
        "fpexp: error: model.layers[0]._args_: is a str, not a list ([6, 16])\n"
    )


def test_positional_args_and_nested_modules_build_like_instantiate(tmp_path):
    block = "{_target_:torch.nn.Sequential,_args_:[{_target_:torch.nn.Linear,_args_:[6,4]}]}"
    arg = layers_arg(block, "{_target_:torch.nn.Tanh}", "{_target_:torch.nn.Linear,_args_:[4,1]}")
    run_dir = run(tmp_path, *SYNTH, arg)
    reference = nn.Sequential(nn.Sequential(nn.Linear(6, 4)), nn.Tanh(), nn.Linear(4, 1))
    same_outputs(run_dir, nn.Sequential(*reference, nn.Sigmoid()))


@pytest.mark.parametrize("flag", ["_partial_:true", "_recursive_:false", "_convert_:all"])
def test_instantiate_flags_are_refused(tmp_path, capsys, flag):
    arg = layers_arg(f"{{_target_:torch.nn.Linear,in_features:6,out_features:1,{flag}}}")
    assert main([arg, f"hydra.run.dir={tmp_path / 'r'}"]) == 2
    name = flag.split(":")[0]
    assert capsys.readouterr().err == (
        f"fpexp: error: model.layers[0].{name}: is not allowed (an instantiate flag could "
        "return something not a module) (special keys: _target_, _args_)\n"
    )


def test_layers_with_mlp_options_and_bad_mlp_options_are_all_reported(tmp_path, capsys):
    args = ["model=layers", "model.hidden=[8]", "model.norm=group", "model.dropout=1.0"]
    assert main([*args, f"hydra.run.dir={tmp_path / 'r'}"]) == 2
    either = (
        "either model.layers or the MLP options (hidden, width, depth, activation, norm, "
        "dropout, bias), not both"
    )
    assert capsys.readouterr().err.splitlines() == [
        "fpexp: error: model.norm: unknown norm 'group' (one of: none, batch, layer)",
        "fpexp: error: model.dropout: 1.0 is outside [0, 1) (a probability 0 <= p < 1 "
        "(0: no Dropout))",
        f"fpexp: error: model.hidden: [8] is an MLP option, but model.layers is given ({either})",
        f"fpexp: error: model.norm: group is an MLP option, but model.layers is given ({either})",
        f"fpexp: error: model.dropout: 1.0 is an MLP option, but model.layers is given ({either})",
    ]


def test_the_layers_preset_with_the_default_binary_task_is_a_width_error(tmp_path, capsys):
    assert main(["model=layers", f"hydra.run.dir={tmp_path / 'r'}"]) == 2
    assert capsys.readouterr().err == (
        "fpexp: error: model.layers: the model outputs 3 values per row but task.out_features "
        "is 1 (a last layer of width 1, or a task with out_features=3)\n"
    )


def test_layers_that_do_not_fit_each_other_name_the_layer(tmp_path, capsys):
    arg = layers_arg(
        "{_target_:torch.nn.Linear,in_features:6,out_features:8}",
        "{_target_:torch.nn.LayerNorm,normalized_shape:16}",
    )
    assert main([arg, f"hydra.run.dir={tmp_path / 'r'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "fpexp: error: model.layers[1]: LayerNorm fails on an input of shape [1, 8] ("
    )
    assert err.endswith("(each layer's input width equal to the previous layer's output width)\n")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("layers", "got"),
    [
        (["{_target_:torch.nn.Flatten,start_dim:0}"], "[0]: Flatten returns shape [6] for one row"),
        (
            ["{_target_:torch.nn.LSTM,input_size:6,hidden_size:1}"],
            "[0]: LSTM returns a tuple for one row",
        ),
        (  # [1, 6] -> [6, 1]: one row became six (outputs of the wrong length, a traceback)
            [
                "{_target_:torch.nn.Unflatten,dim:1,unflattened_size:[6,1]}",
                "{_target_:torch.nn.Flatten,start_dim:0,end_dim:1}",
            ],
            "[1]: Flatten returns shape [6, 1] for one row",
        ),
    ],
)
def test_a_layer_that_loses_the_rows_is_named(tmp_path, capsys, layers, got):
    args = [layers_arg(*layers), "task=regression", f"hydra.run.dir={tmp_path / 'r'}"]
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"fpexp: error: model.layers{got}, not a tensor of shape [1, ...] "
        "(modules that keep the rows)\n"
    )


ROWS_TO_ONE = [
    "{_target_:torch.nn.Unflatten,dim:0,unflattened_size:[1,-1]}",
    "{_target_:torch.nn.Flatten,start_dim:1}",
]


@pytest.mark.parametrize(
    ("task", "last", "what"),
    [
        ("multiclass", [], "returns shape [1, 54] for a batch of 9 rows"),
        (
            "binary",
            ["{_target_:torch.nn.Linear,in_features:6,out_features:1}"],
            "fails on a batch of shape [9, 6] (mat1 and mat2 shapes cannot be multiplied "
            "(1x54 and 6x1))",
        ),
    ],
)
def test_a_model_that_mixes_rows_only_for_more_than_one_row_stops_with_one_line(
    tmp_path, capsys, task, last, what
):
    """[n, 6] -> [1, n, 6] -> [1, 6n]: one traced row keeps its shape, a batch does not."""
    six = ["task.out_features=6", "task.classes=[a,b,c,d,e,f]"] if task == "multiclass" else []
    args = [*SYNTH, f"task={task}", *six, layers_arg(*ROWS_TO_ONE, *last)]
    assert main([*args, f"hydra.run.dir={tmp_path / 'r'}"]) == 2
    err = capsys.readouterr().err
    assert err == f"fpexp: error: model: {what} (modules that keep each row separate)\n"
    assert not (tmp_path / "r" / "outputs.npy").exists()


def test_an_empty_sequential_is_built_once(tmp_path):
    arg = layers_arg("{_target_:torch.nn.Sequential}", "{_target_:torch.nn.Linear,_args_:[6,1]}")
    run_dir = run(tmp_path, *SYNTH, arg)
    torch.manual_seed(42)
    reference = nn.Sequential(nn.Sequential(), nn.Linear(6, 1), nn.Sigmoid())
    weights = load_file(run_dir / "weights.safetensors")
    assert torch.equal(weights["1.weight"], reference[1].weight.detach())


def test_bad_arguments_name_the_layer(tmp_path, capsys):
    arg = layers_arg("{_target_:torch.nn.Linear,in_features:6,out_features:1,width:3}")
    assert main([arg, f"hydra.run.dir={tmp_path / 'r'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "fpexp: error: model.layers[0]: torch.nn.Linear could not be built (TypeError: "
    )
    assert "'width'" in err and err.count("\n") == 1


def test_rerun_check_diff_and_overrides_work_for_layer_lists(tmp_path, capsys):
    a = run(tmp_path, "task=multiclass", *SYNTH, name="a")
    b = run(tmp_path, "model=layers", "task=multiclass", *SYNTH, name="b")
    capsys.readouterr()
    assert main(["rerun", str(b), "--check", f"hydra.run.dir={tmp_path / 'c'}"]) == 0
    assert "reproduced: identical" in capsys.readouterr().out
    assert main(["diff", "--overrides", str(a), str(b)]) == 0
    assert capsys.readouterr().out.split() == ["model=layers"]
    changed = run(tmp_path, "model=layers", "task=multiclass", *SYNTH, "model.layers.3.p=0.5")
    capsys.readouterr()
    assert main(["diff", "--overrides", str(b), str(changed)]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("model.layers=[{_target_:torch.nn.Linear,in_features:6,")
    assert "{_target_:torch.nn.Dropout,p:0.5}" in out


def test_a_sweep_over_presets_and_a_layer_argument(tmp_path):
    root = tmp_path / "sweep"
    args = ["-m", "model=mlp,layers", "task=multiclass", f"hydra.sweep.dir={root}"]
    assert main(args) == 0
    with open(root / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["status"] for r in rows] == ["completed", "completed"]
    assert all(r["last_hidden_std"] for r in rows)
    root2 = tmp_path / "sweep2"
    sweep = ["-m", "model=layers", "task=multiclass", "model.layers.1.normalized_shape=8,16"]
    assert main([*sweep, f"hydra.sweep.dir={root2}"]) == 2  # the 8 does not fit: bad input
    with open(root2 / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["model.layers.1.normalized_shape"], r["status"]) for r in rows] == [
        ("8", "failed"),
        ("16", "completed"),
    ]
    assert "model.layers" not in rows[0]


def test_diff_names_the_changed_layer_argument(tmp_path, capsys):
    a = run(tmp_path, "model=layers", "task=multiclass", *SYNTH, name="a")
    b = run(tmp_path, "model=layers", "task=multiclass", *SYNTH, "model.layers.3.p=0.5", name="b")
    capsys.readouterr()
    assert main(["diff", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "config (1 changes):\n  model.layers.3.p: 0.1 → 0.5\n" in out
    assert "max abs diff 0 (identical)" in out  # Dropout is identity in eval mode


def test_last_hidden_is_the_input_of_the_last_module_with_parameters():
    types = ["Linear", "LayerNorm", "GELU", "Dropout", "Linear", "Softmax"]
    assert last_hidden_index(types, [112, 32, 0, 0, 51, 0]) == 3
    assert last_hidden_index(["Linear", "Residual", "ReLU"], [10, 20, 0]) == 0
    assert last_hidden_index(["Linear", "LayerNorm"], [10, 2]) == 0
    assert last_hidden_index(["Linear", "Sigmoid"], [7, 0]) is None
    # an older record without counts, or garbage ones: by type name, as before
    assert last_hidden_index(["Linear", "ReLU", "Linear"]) == 1
    assert last_hidden_index(["Linear", "ReLU", "Linear"], ["x", 0, 1]) == 1


def test_sizes_estimate_known_layers_and_never_crash_on_others(compose_cfg):
    layers = [
        {"_target_": "torch.nn.Linear", "in_features": 1000, "out_features": 2000},
        {"_target_": "torch.nn.LayerNorm", "normalized_shape": 2000},
        {"_target_": "mypkg.Block", "width": "wide"},
        {"_target_": "torch.nn.Linear", "_args_": [2000, 3], "bias": False},
        "garbage",
        {"_target_": ["not", "a", "name"]},
        {"_target_": "torch.nn.Linear", "_args_": "oops"},
    ]
    assert model_size.layer_list_size(layers, 1000) == (2_002_000 + 4000 + 6000, (2000, 2000))
    cfg = compose_cfg("model=layers", "data=synthetic", "batch_size=100000000")
    (problem,) = sizes.size_problems(cfg, 1000, 6, 100_000_000)
    assert problem.key == "batch_size"


def _layers_record(tmp_path: Path, target: str) -> Path:
    """A completed layer-list run whose record (run.json and .hydra/config.yaml, edited
    alike, as someone else could have) names ``target`` as its second layer."""
    run_dir = run(
        tmp_path,
        *SYNTH,
        layers_arg(
            "{_target_:torch.nn.Linear,in_features:6,out_features:1}", "{_target_:torch.nn.ReLU}"
        ),
        name="orig",
    )
    record = json.loads((run_dir / "run.json").read_text())
    record["config"]["model"]["layers"][1]["_target_"] = target
    (run_dir / "run.json").write_text(json.dumps(record))
    hydra_cfg = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    hydra_cfg["model"]["layers"][1]["_target_"] = target
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(hydra_cfg))
    return run_dir


def test_a_record_may_not_make_a_rerun_import_a_module_the_user_did_not_name(
    tmp_path, capsys, monkeypatch
):
    pkg = tmp_path / "pkgs"
    (pkg / "fpexp_marker_blocks").mkdir(parents=True)
    marker = tmp_path / "imported"
    (pkg / "fpexp_marker_blocks" / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "from torch import nn\n\nclass Act(nn.ReLU):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(pkg))
    run_dir = _layers_record(tmp_path, "fpexp_marker_blocks.Act")
    capsys.readouterr()
    assert main(["rerun", str(run_dir), f"hydra.run.dir={tmp_path / 'r1'}"]) == 2
    assert capsys.readouterr().err == (
        "fpexp: error: model.layers[1]._target_: 'fpexp_marker_blocks.Act' from a record would "
        f"import 'fpexp_marker_blocks', code the record chose ({run_dir}/run.json: torch.* "
        "targets, or name the module: --allow-module fpexp_marker_blocks)\n"
    )
    assert not marker.exists() and "fpexp_marker_blocks" not in sys.modules
    rerun = ["rerun", str(run_dir), "--allow-module", "fpexp_marker_blocks"]
    assert main([*rerun, f"hydra.run.dir={tmp_path / 'r2'}"]) == 0
    assert marker.exists()
    monkeypatch.delitem(sys.modules, "fpexp_marker_blocks")


def test_a_torch_target_from_a_record_must_still_be_a_module(tmp_path, capsys):
    run_dir = _layers_record(tmp_path, "torch.save")
    capsys.readouterr()
    assert main(["rerun", str(run_dir), f"hydra.run.dir={tmp_path / 'r'}"]) == 2
    assert capsys.readouterr().err == (
        "fpexp: error: model.layers[1]._target_: 'torch.save' is a function, not a "
        "torch.nn.Module (a class that subclasses torch.nn.Module, e.g. torch.nn.Linear)\n"
    )


@pytest.mark.parametrize(
    ("layers", "why"),
    [
        ([{"_target_": "torch.nn.ReLU", "_partial_": True}], "special key _partial_ is not"),
        ([{"_target_": "os.system; rm"}], "_target_ 'os.system; rm' is not a dotted"),
        ([{"_target_": 3}], "_target_ 3 is not a dotted Python name"),
        ([{"_target_": "torch.nn.ReLU", "_args_": "ab"}], "_args_ 'ab' is not a list"),
        ([{"_target_": "torch.nn.ReLU", "a b": 1}], "'a b' is not a plain argument name"),
        ([{"_target_": "torch.nn.ReLU", "x": "${oc.env:HOME}"}], "interpolation"),
        ([{"_target_": "torch.nn.ReLU", "x": {"y": object()}}], "a object is not a plain"),
    ],
)
def test_a_recorded_layer_list_holds_plain_values_only(layers, why):
    config = {"model": {"layers": layers}, "data": {"source": "animals"}}
    (problem,) = config_problems(config, "run.json")
    assert problem.key == "model.layers" and problem.what.startswith(why)


def test_foreign_targets_at_any_depth_and_allowed_modules():
    layers = [
        {"_target_": "torch.nn.Sequential", "_args_": [{"_target_": "evil.Block"}]},
        {"_target_": "mypkg.blocks.Residual", "inner": {"_target_": "torch_evil.X"}},
    ]
    config = {"model": {"layers": layers}}
    keys = [p.key for p in foreign_targets(config, "w")]
    assert keys == [
        "model.layers[0]._args_[0]._target_",
        "model.layers[1]._target_",
        "model.layers[1].inner._target_",
    ]
    keys = [p.key for p in foreign_targets(config, "w", ["mypkg", "evil"])]
    assert keys == ["model.layers[1].inner._target_"]


@pytest.mark.slow
def test_a_users_own_module_from_a_package_on_pythonpath(tmp_path):
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "blocks.py").write_text(RESIDUAL_MODULE)
    arg = layers_arg(
        "{_target_:torch.nn.Linear,in_features:6,out_features:8}",
        "{_target_:mypkg.blocks.Residual,width:8}",
        "{_target_:torch.nn.Linear,in_features:8,out_features:1}",
    )
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(tmp_path), ENV.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "fpexp", *SYNTH, arg, f"hydra.run.dir={tmp_path / 'r'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        from mypkg.blocks import Residual  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    reference = nn.Sequential(nn.Linear(6, 8), Residual(8), nn.Linear(8, 1), nn.Sigmoid())
    same_outputs(tmp_path / "r", reference)
    assert "  1  Residual        8 -> 8          72" in (tmp_path / "r" / "model.txt").read_text()


def test_a_model_the_config_cannot_size_is_measured_before_the_forward_pass(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(sizes, "available_memory", lambda: 300_000)
    inner = "{_target_:torch.nn.Linear,in_features:6,out_features:20000}"
    arg = layers_arg(
        f"{{_target_:torch.nn.Sequential,_args_:[{inner}]}}",
        "{_target_:torch.nn.Linear,in_features:20000,out_features:1}",
    )
    assert main([*SYNTH, arg, "batch_size=1", f"hydra.run.dir={tmp_path / 'r'}"]) == 2
    assert capsys.readouterr().err == (
        "fpexp: error: model.layers: a model of 160,001 parameters needs at least 625.0 KiB, "
        "more than the 293.0 KiB of memory available (fewer or narrower layers)\n"
    )
    assert not (tmp_path / "r" / "outputs.npy").exists()


def test_a_refused_target_is_reported_with_the_configs_other_problems(tmp_path, capsys):
    arg = layers_arg("{_target_:os.getcwd}")
    assert main([arg, "batch_size=0", f"hydra.run.dir={tmp_path / 'r'}"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "fpexp: error: batch_size: 0 is not positive (an integer >= 1)",
        "fpexp: error: model.layers[0]._target_: 'os.getcwd' is a builtin_function_or_method, "
        "not a torch.nn.Module (a class that subclasses torch.nn.Module, e.g. torch.nn.Linear)",
    ]


@pytest.mark.parametrize(
    "layer",
    [
        "{_target_:torch.nn.Sequential,_args_:[{_target_:torch.nn.Linear,_args_:[6,30000]}]}",
        "{_target_:torch.nn.Bilinear,in1_features:6,in2_features:6,out_features:1000}",
        "{_target_:torch.nn.Embedding,num_embeddings:30000,embedding_dim:6}",
    ],
    ids=["nested", "bilinear", "embedding"],
)
def test_a_layer_list_too_big_for_memory_is_refused_before_its_weights_are_allocated(
    tmp_path, capsys, monkeypatch, layer
):
    """Types the guard cannot size from their arguments are measured on the meta device."""
    monkeypatch.setattr(sizes, "available_memory", lambda: 100_000)
    allocated = []
    register = nn.Module.register_parameter

    def spy(self, name, param):
        if isinstance(param, torch.Tensor) and param.device.type != "meta":
            allocated.append(param.numel())
        return register(self, name, param)

    monkeypatch.setattr(nn.Module, "register_parameter", spy)
    assert main([*SYNTH, layers_arg(layer), "batch_size=1", f"hydra.run.dir={tmp_path / 'r'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fpexp: error: model.layers: a model of ")
    assert err.endswith(" of memory available (fewer or narrower layers)\n")
    assert max(allocated, default=0) < 1000


def test_a_lazy_layer_is_sized_once_traced(tmp_path):
    arg = layers_arg(
        "{_target_:torch.nn.LazyLinear,out_features:4}", "{_target_:torch.nn.Linear,_args_:[4,1]}"
    )
    run_dir = run(tmp_path, *SYNTH, arg)
    torch.manual_seed(42)
    reference = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 1), nn.Sigmoid())
    reference.load_state_dict(load_file(run_dir / "weights.safetensors"))
    same_outputs(run_dir, reference)


@pytest.mark.parametrize(
    "error",
    [MemoryError(), RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried ...")],
    ids=["MemoryError", "torch"],
)
def test_running_out_of_memory_inside_the_model_stays_an_out_of_memory_fault(
    tmp_path, capsys, monkeypatch, error
):
    forward = nn.Linear.forward

    def fail_on_a_batch(self, x):
        if len(x) > 1:  # the one-row trace passes
            raise error
        return forward(self, x)

    monkeypatch.setattr(nn.Linear, "forward", fail_on_a_batch)
    assert main([*SYNTH, f"hydra.run.dir={tmp_path / 'r'}"]) == 1
    assert "out of memory during the forward pass" in capsys.readouterr().err


@pytest.mark.parametrize("no_hidden", ["model.hidden=[]", "model.depth=0"])
@pytest.mark.parametrize(
    ("option", "key"),
    [
        ("model.norm=batch", "model.norm"),
        ("model.norm=layer", "model.norm"),
        ("model.dropout=0.5", "model.dropout"),
    ],
)
def test_norm_or_dropout_without_a_hidden_layer_is_refused_not_ignored(
    tmp_path, capsys, no_hidden, option, key
):
    assert main([no_hidden, option, f"hydra.run.dir={tmp_path / 'r'}"]) == 2
    value = option.split("=")[1]
    assert capsys.readouterr().err == (
        f"fpexp: error: {key}: {value}, but the MLP has no hidden layer to put it after "
        "(model.hidden with a width, or the default)\n"
    )
