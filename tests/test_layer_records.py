"""Records of layer-list runs whose config refers into the layer list
(``model.layers.1.normalized_shape=${model.layers.0.out_features}``, the natural way to sweep
one width and keep its neighbours in step): rerun --check and diff accept them; a reference
that names nothing, or itself, is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpexp.cli import main

IN_STEP = [
    "model=layers",
    "task=multiclass",
    "model.layers.1.normalized_shape=${model.layers.0.out_features}",
    "model.layers.4.in_features=${model.layers.0.out_features}",
]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    args = ["-m", *IN_STEP, "model.layers.0.out_features=8,16", f"hydra.sweep.dir={root}"]
    assert main(args) == 0
    return root


def test_a_job_whose_layers_refer_to_each_other_reruns_identically(sweep, tmp_path, capsys):
    capsys.readouterr()
    assert main(["rerun", str(sweep / "0"), "--check", f"hydra.run.dir={tmp_path / 'r'}"]) == 0
    assert "reproduced: identical" in capsys.readouterr().out


def test_diff_of_two_such_jobs_names_the_swept_widths_and_no_edit(sweep, capsys):
    capsys.readouterr()
    assert main(["diff", str(sweep / "0"), str(sweep / "1")]) == 0
    out = capsys.readouterr().out
    assert "changed since its run" not in out
    assert "model.layers.1.normalized_shape: 8 → 16" in out


@pytest.mark.parametrize(
    ("ref", "what"),
    [
        ("${model.layers.9.out_features}", "names no value of the layer list"),
        ("${model.layers.0.nothing}", "names no value of the layer list"),
        ("${model.layers}", "names the layer list it is in"),
        ("${model.layers.1.normalized_shape}", "refers back to itself"),
    ],
)
def test_a_reference_into_the_layers_that_names_nothing_is_one_line(
    sweep, tmp_path, capsys, ref, what
):
    import shutil

    job = tmp_path / "job"
    shutil.copytree(sweep / "0", job)
    config = job / ".hydra" / "config.yaml"
    text = config.read_text()
    assert "${model.layers.0.out_features}" in text
    config.write_text(text.replace("${model.layers.0.out_features}", ref, 1))
    capsys.readouterr()
    assert main(["rerun", str(job), f"hydra.run.dir={tmp_path / 'r'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fpexp: error: model.layers") and what in err
    assert err.count("\n") == 1
