"""Multiruns as a user starts them: job directories, the summary, failures, launchers."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import call_fpexp

REPO = Path(__file__).resolve().parent.parent
JOB_FILES = {"model.txt", "weights.safetensors", "outputs.csv", "predictions.csv", "layers.csv"}


@dataclass
class Sweep:
    returncode: int
    stdout: str
    stderr: str
    root: Path

    def jobs(self) -> list[Path]:
        return sorted(
            (p for p in self.root.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
        )

    def record(self, job: int) -> dict:
        return json.loads((self.root / str(job) / "run.json").read_text())

    def summary(self) -> list[dict[str, str]]:
        with open(self.root / "summary.csv", newline="") as fh:
            return list(csv.DictReader(fh))


def sweep(tmp_path: Path, *args: str, name: str = "sweep") -> Sweep:
    root = tmp_path / name
    done = call_fpexp(["-m", *args, f"hydra.sweep.dir={root}"], tmp_path, timeout=300)
    return Sweep(done.returncode, done.stdout, done.stderr, root)


@pytest.mark.png
def test_width_sweep_makes_one_full_run_per_width_and_a_summary(tmp_path):
    res = sweep(tmp_path, "model.hidden=[2],[4],[8],[16]")
    assert res.returncode == 0, res.stderr
    jobs = res.jobs()
    assert [j.name for j in jobs] == ["0", "1", "2", "3"]
    for job, width in zip(jobs, [2, 4, 8, 16], strict=True):
        assert {p.name for p in job.iterdir()} >= JOB_FILES
        cfg = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
        assert cfg["model"]["hidden"] == [width]
        rec = json.loads((job / "run.json").read_text())
        assert rec["status"] == "completed" and rec["command"]["job_num"] == int(job.name)
        assert rec["model"]["parameters"] == 6 * width + width + width + 1
    rows = res.summary()
    assert [r["job"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["model.hidden"] for r in rows] == ["[2]", "[4]", "[8]", "[16]"]
    assert [r["params"] for r in rows] == ["17", "33", "65", "129"]
    cols = list(rows[0])
    assert cols[:2] == ["job", "model.hidden"]  # only the keys that vary
    assert "seed" not in cols and "task.kind" not in cols
    for col in (
        "status",
        "error",
        "mean[mammal]",
        "std[mammal]",
        "n[mammal]",
        "n[not_mammal]",
        "output_std",
        "last_hidden_std",
        "duration_s",
        "run_dir",
    ):
        assert col in cols
    for r in rows:
        assert int(r["n[mammal]"]) + int(r["n[not_mammal]"]) == 5
        rec = res.record(int(r["job"]))
        assert float(r["std[mammal]"]) == pytest.approx(
            rec["results"]["output_std"]["mammal"], rel=1e-5
        )
    md = (res.root / "summary.md").read_text().splitlines()
    assert len(md) == 2 + 4 and all(line.startswith("| ") or line.startswith("|-") for line in md)
    assert md[0].split("|")[1].strip() == "job"
    assert (res.root / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| job | model.hidden |" in res.stdout
    assert "4 jobs, 0 not completed" in res.stdout
    assert "Sequential(" not in res.stdout  # per-job details go to each job's fpexp.log
    assert "Sequential(" in (jobs[0] / "fpexp.log").read_text()


def test_width_by_depth_grid_sweeps_nine_models(tmp_path):
    res = sweep(tmp_path, "model.width=2,4,8", "model.depth=1,2,3", "model.activation=relu")
    assert res.returncode == 0, res.stderr
    rows = res.summary()
    assert len(rows) == 9
    seen = set()
    for r in rows:
        w, d = int(r["model.width"]), int(r["model.depth"])
        seen.add((w, d))
        rec = res.record(int(r["job"]))
        assert rec["model"]["hidden"] == [w] * d
        assert int(r["params"]) == (6 * w + w) + (d - 1) * (w * w + w) + (w + 1)
        types = [layer["type"] for layer in rec["layers"]]
        assert types == ["Linear", "ReLU"] * d + ["Linear", "Sigmoid"]
    assert seen == {(w, d) for w in (2, 4, 8) for d in (1, 2, 3)}
    assert "width" not in rows[0]  # model.width is already a column


@pytest.mark.png
def test_failed_job_keeps_the_others_and_exits_non_zero(tmp_path):
    res = sweep(tmp_path, "model.hidden=[4],[0],[8]")
    assert res.returncode == 2
    rows = res.summary()
    assert [r["status"] for r in rows] == ["completed", "failed", "completed"]
    assert rows[1]["error"] == "model.hidden[0]: width 0 is not positive (integers >= 1)"
    assert "job 1 failed: model.hidden[0]: width 0 is not positive" in res.stderr
    for job in (0, 2):
        assert {p.name for p in (res.root / str(job)).iterdir()} >= JOB_FILES
        assert res.record(job)["status"] == "completed"
    failed = res.root / "1"
    assert not (JOB_FILES & {p.name for p in failed.iterdir()})
    assert "3 jobs, 1 not completed" in res.stdout
    assert (res.root / "summary.png").exists()


def test_quoted_list_is_rejected_before_any_job(tmp_path):
    res = sweep(tmp_path, "model.hidden='[4,8]'")
    assert res.returncode == 2
    assert res.stderr.splitlines() == [
        "fpexp: error: model.hidden: got the string '[4,8]' instead of a list; drop the quotes "
        "around it (expected a list of integers (e.g. [4, 8]) or null)"
    ]
    assert not res.root.exists()


def test_hidden_and_width_depth_must_agree(tmp_path):
    res = sweep(tmp_path, "model.hidden=[8,8]", "model.depth=3,2")
    assert res.returncode == 2
    rows = res.summary()
    assert rows[0]["status"] == "failed" and rows[1]["status"] == "completed"
    assert rows[0]["error"] == (
        "model.depth: 3 disagrees with model.hidden=[8, 8] (2 layers) "
        "(give either model.hidden or model.width/model.depth)"
    )


def _fingerprint(res: Sweep) -> list[dict]:
    prints = []
    for job in res.jobs():
        rec = json.loads((job / "run.json").read_text())
        prints.append({name: meta["sha256"] for name, meta in rec["outputs"].items()})
    return prints


def _table(res: Sweep) -> list[dict]:
    return [
        {k: v for k, v in r.items() if k not in ("duration_s", "run_dir")} for r in res.summary()
    ]


LAUNCHED = ("model.width=2,8", "model.depth=1,2", "task=multiclass", "model.activation=gelu")
# submitit's jobs are processes of their own, each importing torch (~3 s of CPU): two of them show
# that it runs every job and hands the results back in the sweep's order.
SUBMITTED = ("model.width=2,8", "model.depth=2", "task=multiclass", "model.activation=gelu")


@pytest.fixture(scope="module")
def basic_sweeps(tmp_path_factory: pytest.TempPathFactory) -> Callable[[tuple[str, ...]], Sweep]:
    """The basic launcher's sweep of some overrides (made once): what other launchers match."""
    made: dict[tuple[str, ...], Sweep] = {}

    def basic(overrides: tuple[str, ...]) -> Sweep:
        if overrides not in made:
            made[overrides] = sweep(tmp_path_factory.mktemp("launchers"), *overrides, name="basic")
        return made[overrides]

    return basic


# Not marked slow (which would make each sweep a process of its own): in this process the
# joblib sweeps reuse loky's worker pool, torch already imported in its workers.
@pytest.mark.parametrize(
    ("launcher", "overrides", "jobs"),
    [("joblib", LAUNCHED, 4), ("submitit_local", SUBMITTED, 2)],
    ids=["joblib", "submitit_local"],
)
def test_launchers_give_bit_identical_jobs_and_the_same_summary(
    tmp_path, basic_sweeps, launcher, overrides, jobs
):
    basic = basic_sweeps(overrides)
    other = sweep(tmp_path, *overrides, f"hydra/launcher={launcher}", name=launcher)
    assert basic.returncode == other.returncode == 0, other.stderr
    assert len(basic.jobs()) == len(other.jobs()) == jobs
    assert _fingerprint(other) == _fingerprint(basic)
    assert _table(other) == _table(basic)


def test_parallel_launcher_reports_failed_jobs_too(tmp_path):
    res = sweep(tmp_path, "model.hidden=[4],[0]", "hydra/launcher=joblib")
    assert res.returncode == 2
    assert [r["status"] for r in res.summary()] == ["completed", "failed"]


def test_slurm_launcher_config_composes(tmp_path):
    done = call_fpexp(
        ["--cfg", "hydra", "hydra/launcher=slurm", "hydra.launcher.partition=gpu"], tmp_path
    )
    assert done.returncode == 0, done.stderr
    launcher = yaml.safe_load(done.stdout)["hydra"]["launcher"]
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert (launcher["partition"], launcher["cpus_per_task"], launcher["timeout_min"]) == (
        "gpu",
        2,
        30,
    )
    assert launcher["array_parallelism"] == 64


@pytest.mark.slow
def test_ray_launcher_matches_basic(tmp_path, monkeypatch):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="needs pip install 'fpexp[ray]'")
    # Ray's files stay in this test's tmp dir, reached through a short link: its socket paths
    # must fit in 107 bytes, which pytest's tmp paths do not.
    ray_files = tmp_path / "ray_tmp"
    ray_files.mkdir()
    link = Path(tempfile.mkdtemp(prefix="r", dir="/tmp")) / "t"
    link.symlink_to(ray_files)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("RAY_TMPDIR", str(link))
    ray_tmp = link
    args = ("model.hidden=[2],[4]",)
    basic = sweep(tmp_path, *args, name="basic")
    ray = sweep(
        tmp_path,
        *args,
        "hydra/launcher=ray",
        "+hydra.launcher.ray.init.num_cpus=2",
        f"+hydra.launcher.ray.init._temp_dir={ray_tmp}",
        "+hydra.launcher.ray.init.include_dashboard=false",
        name="ray",
    )
    try:
        assert ray.returncode == 0, ray.stderr
        assert _fingerprint(ray) == _fingerprint(basic)
        assert _table(ray) == _table(basic)
        left = subprocess.run(["pgrep", "-f", str(link)], capture_output=True, text=True).stdout
        assert left == "", f"Ray processes left behind: {left}"
    finally:
        shutil.rmtree(link.parent)
