"""``python -m fpexp`` end to end, as a user runs it: console, run directory, record."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import torch
from conftest import call_fpexp
from safetensors.torch import load_file
from support import ANIMALS, FEATURES, LESSON, MULTICLASS, REGRESSION, RUN_BOOKKEEPING, RUN_FILES
from torch import nn


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def lesson_outputs(seed: int = 42) -> torch.Tensor:
    """The classic lesson, written by hand: what fpexp's default run must reproduce."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 1), nn.Sigmoid())
    with torch.no_grad():
        return model(torch.tensor(FEATURES, dtype=torch.float32))


def test_default_run_prints_model_tensor_rows_and_run_dir(default_run):
    out = default_run.stdout
    assert LESSON in out
    assert str(lesson_outputs()) in out  # the output tensor exactly as torch prints it
    rows = [line for line in out.splitlines() if line.split() and line.split()[0] in ANIMALS]
    assert [r.split()[0] for r in rows] == ANIMALS
    p = lesson_outputs()[:, 0].tolist()
    for row, prob in zip(rows, p, strict=True):
        assert f"p(mammal)={prob:.4f}" in row
        assert ("-> mammal (1)" if prob >= 0.5 else "-> not_mammal (0)") in row
    assert out.rstrip().splitlines()[-1] == "run directory: run"
    assert default_run.stderr == ""


def test_default_run_reproduces_the_lesson_bit_for_bit(default_run):
    rows = read_csv(default_run.run_dir / "outputs.csv")
    assert [r["id"] for r in rows] == ANIMALS
    got = torch.tensor([float(r["mammal"]) for r in rows], dtype=torch.float32)
    assert torch.equal(got, lesson_outputs()[:, 0])


def test_run_directory_holds_exactly_the_documented_files(default_run):
    names = {p.name for p in default_run.run_dir.iterdir()}
    assert names == RUN_FILES | RUN_BOOKKEEPING
    hydra_files = {p.name for p in (default_run.run_dir / ".hydra").iterdir()}
    assert hydra_files == {"config.yaml", "overrides.yaml", "hydra.yaml"}
    assert not list(default_run.run_dir.glob(".*.tmp"))


def test_predictions_follow_outputs_and_threshold(default_run):
    outputs = read_csv(default_run.run_dir / "outputs.csv")
    preds = read_csv(default_run.run_dir / "predictions.csv")
    assert list(preds[0]) == ["id", "prediction", "label"]
    for o, p in zip(outputs, preds, strict=True):
        cls = int(float(o["mammal"]) >= 0.5)
        assert (p["id"], int(p["prediction"]), p["label"]) == (
            o["id"],
            cls,
            ["not_mammal", "mammal"][cls],
        )


def test_model_txt_has_the_layer_table_and_totals(default_run):
    text = (default_run.run_dir / "model.txt").read_text()
    assert text.startswith(LESSON)
    lines = text.splitlines()
    assert lines[7].split() == ["0", "Linear", "6", "->", "4", "28"]
    assert lines[8].split() == ["1", "Linear", "4", "->", "1", "5"]
    assert lines[9].split() == ["2", "Sigmoid", "1", "->", "1", "0"]
    assert lines[-1] == "total parameters: 33 (trainable: 33)"


def test_saved_weights_are_the_weights_used(default_run):
    state = load_file(default_run.run_dir / "weights.safetensors")
    torch.manual_seed(42)
    lesson = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 1), nn.Sigmoid())
    assert state.keys() == lesson.state_dict().keys()
    for key, value in lesson.state_dict().items():
        assert torch.equal(state[key], value)


def test_run_record_fields(default_run):
    rec = default_run.record
    assert rec["status"] == "completed" and rec["error"] is None
    assert rec["started_at"] <= rec["ended_at"] and rec["duration_s"] > 0
    assert set(rec["phases_s"]) == {
        "environment",
        "import",
        "validate",
        "build",
        "forward",
        "write",
    }
    assert rec["command"]["line"] == f"fpexp hydra.run.dir={default_run.run_dir}"
    assert rec["command"]["overrides"] == []
    assert rec["command"]["choices"] == {"task": "binary", "model": "mlp", "data": "animals"}
    env = rec["environment"]
    assert env["python"].startswith("3.") and env["host"]
    for pkg in ("torch", "hydra-core", "omegaconf", "fpexp"):
        assert env["packages"][pkg]
    assert env["packages"]["torch"] == torch.__version__
    assert (rec["device"], rec["dtype"], rec["seed"]) == ("cpu", "float32", 42)
    assert rec["model"]["hidden"] == [4] and rec["config"]["model"]["hidden"] is None
    assert rec["model"]["parameters"] == 33
    inp = rec["input"]
    assert (inp["source"], inp["shape"], inp["has_labels"]) == ("animals", [5, 6], True)
    packaged = Path(__file__).resolve().parent.parent / "fpexp" / "data" / "animals.csv"
    assert inp["sha256"] == hashlib.sha256(packaged.read_bytes()).hexdigest()
    assert rec["results"]["predicted_counts"]["mammal"] == int((lesson_outputs() >= 0.5).sum())
    assert list(rec)[-2:] == ["outputs", "error"]


def test_record_hashes_match_the_files(default_run):
    outputs = default_run.record["outputs"]
    assert set(outputs) == RUN_FILES
    for name, meta in outputs.items():
        data = (default_run.run_dir / name).read_bytes()
        assert meta["sha256"] == hashlib.sha256(data).hexdigest()
        assert meta["bytes"] == len(data)


def test_log_is_fpexp_log(default_run):
    log = (default_run.run_dir / "fpexp.log").read_text()
    assert "Linear(in_features=6, out_features=4, bias=True)" in log
    assert "run directory:" in log


def test_multiclass_run(fpexp_cli):
    res = fpexp_cli("task=multiclass")
    assert res.returncode == 0, res.stderr
    assert MULTICLASS in res.stdout
    outputs = read_csv(res.run_dir / "outputs.csv")
    preds = read_csv(res.run_dir / "predictions.csv")
    assert list(outputs[0]) == ["id", "mammal", "bird", "reptile"]
    probs = torch.tensor([[float(r[c]) for c in ("mammal", "bird", "reptile")] for r in outputs])
    assert probs.shape == (5, 3)
    assert torch.allclose(probs.sum(-1), torch.ones(5), atol=1e-6)
    names = ["mammal", "bird", "reptile"]
    for row, p in zip(probs, preds, strict=True):
        assert int(p["prediction"]) == int(row.argmax())
        assert p["label"] == names[int(row.argmax())]


def test_regression_run(fpexp_cli):
    res = fpexp_cli("task=regression")
    assert res.returncode == 0, res.stderr
    assert REGRESSION in res.stdout
    outputs = read_csv(res.run_dir / "outputs.csv")
    preds = read_csv(res.run_dir / "predictions.csv")
    assert list(outputs[0]) == ["id", "output"] and list(preds[0]) == ["id", "prediction"]
    assert [o["output"] for o in outputs] == [p["prediction"] for p in preds]
    torch.manual_seed(42)
    model = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 1))
    with torch.no_grad():
        expected = model(torch.tensor(FEATURES, dtype=torch.float32))[:, 0]
    assert torch.equal(torch.tensor([float(o["output"]) for o in outputs]), expected)


def test_custom_threshold_and_classes(fpexp_cli):
    p = sorted(lesson_outputs()[:, 0].tolist())
    cut = p[2]  # exactly one animal's probability: p == threshold must give class 1
    res = fpexp_cli(f"task.threshold={cut!r}", "task.classes=[other,hairy]")
    assert res.returncode == 0, res.stderr
    for o, pr in zip(
        read_csv(res.run_dir / "outputs.csv"),
        read_csv(res.run_dir / "predictions.csv"),
        strict=True,
    ):
        expected = int(np.float32(o["hairy"]) >= np.float32(cut))  # compared in the output dtype
        assert int(pr["prediction"]) == expected
        assert pr["label"] == ["other", "hairy"][expected]
    assert sum(int(r["prediction"]) for r in read_csv(res.run_dir / "predictions.csv")) == 3


def test_synthetic_data_and_options(fpexp_cli):
    res = fpexp_cli(
        "data=synthetic",
        "data.n_rows=50",
        "data.n_features=3",
        "model.hidden=[8,8]",
        "model.activation=tanh",
        "dtype=float64",
        "device=auto",
    )
    assert res.returncode == 0, res.stderr
    rec = res.record
    assert rec["input"]["shape"] == [50, 3] and rec["device"] == "cpu" and rec["dtype"] == "float64"
    rows = read_csv(res.run_dir / "outputs.csv")
    assert [r["id"] for r in rows] == [str(i) for i in range(50)]
    assert "... 30 more rows (all in the outputs and predictions files)" in res.stdout


def test_bfloat16_runs(fpexp_cli):
    res = fpexp_cli("dtype=bfloat16")
    assert res.returncode == 0, res.stderr
    assert res.record["dtype"] == "bfloat16"
    assert len(read_csv(res.run_dir / "outputs.csv")) == 5


def test_same_seed_is_bit_identical_and_another_seed_differs(fpexp_cli):
    args = ("data=synthetic", "task=multiclass", "model.hidden=[16]", "model.activation=relu")
    a, b, c = fpexp_cli(*args), fpexp_cli(*args), fpexp_cli(*args, "seed=7")
    for name in RUN_FILES:
        assert (a.run_dir / name).read_bytes() == (b.run_dir / name).read_bytes(), name
    assert a.record["outputs"] == b.record["outputs"]
    assert (a.run_dir / "outputs.csv").read_bytes() != (c.run_dir / "outputs.csv").read_bytes()
    assert a.record["input"]["sha256"] != c.record["input"]["sha256"]


def test_git_commit_and_dirty_flag_are_recorded(tmp_path, fpexp_cli):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=t@e", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "notes.txt").write_text("a\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    clean = fpexp_cli(cwd=repo).record["environment"]["git"]
    assert clean["commit"] == head and clean["dirty"] is False
    (repo / "notes.txt").write_text("b\n")
    assert fpexp_cli(cwd=repo).record["environment"]["git"]["dirty"] is True


def test_help_and_cfg_job_work_as_in_any_hydra_app(tmp_path):
    def run(*args):
        return call_fpexp(args, tmp_path)

    helped = run("--help")
    assert helped.returncode == 0
    assert "task: binary, multiclass, multilabel, regression" in helped.stdout
    assert "data: animals, file, synthetic" in helped.stdout and "hidden:" in helped.stdout
    assert "fpexp rerun RUN [OVERRIDES...]" in helped.stdout
    shown = run("--cfg", "job", "task=multiclass")
    assert shown.returncode == 0
    assert "kind: multiclass" in shown.stdout and "classes: null" in shown.stdout
    assert not (tmp_path / "outputs").exists()


def test_console_script_is_installed():
    import shutil
    import sys

    exe = Path(sys.executable).parent / "fpexp"
    assert exe.exists() or shutil.which("fpexp")
    done = subprocess.run([str(exe), "--cfg", "job"], capture_output=True, text=True)
    assert done.returncode == 0 and "seed: 42" in done.stdout


def test_run_json_is_valid_json_with_running_status_replaced(default_run):
    text = (default_run.run_dir / "run.json").read_text()
    assert json.loads(text)["status"] == "completed" and '"running"' not in text
