"""A built wheel ships the configs and runs from any working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_ships_conf_and_runs_outside_the_checkout(tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    # What `pip wheel --no-build-isolation .` does: the PEP 517 hook of the project's backend
    # (in this process: pip's own start and resolution are not what this tests).
    from hatchling.build import build_wheel

    monkeypatch.chdir(REPO)
    build_wheel(str(wheels))
    monkeypatch.undo()
    (wheel,) = wheels.glob("fpexp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for yaml in REPO.joinpath("conf").rglob("*.yaml"):
        assert f"fpexp/conf/{yaml.relative_to(REPO / 'conf').as_posix()}" in names
    assert "fpexp/data/animals.csv" in names

    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("HYDRA_FULL_ERROR", None)
    where = subprocess.run(
        [sys.executable, "-c", "from fpexp.config.store import config_dir; print(config_dir())"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()) == site / "fpexp" / "conf"
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "fpexp", "task=multiclass", f"hydra.run.dir={run_dir}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["status"] == "completed" and rec["config"]["task"]["kind"] == "multiclass"
