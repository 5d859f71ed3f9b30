"""Shared fixtures: in-process config composition and a subprocess runner for the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from fpexp.config.store import CONFIG_NAME, config_dir, register

REPO = Path(__file__).resolve().parent.parent
# The CLI as a user runs it: without HYDRA_FULL_ERROR, whatever the test environment has.
ENV = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}


@pytest.fixture
def compose_cfg() -> Callable[..., DictConfig]:
    """Compose the shipped config with overrides, in-process (no run directory)."""
    register()

    def _compose(*overrides: str) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            return compose(CONFIG_NAME, overrides=list(overrides))

    yield _compose
    GlobalHydra.instance().clear()


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    run_dir: Path

    @property
    def record(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "run.json").read_text())


def start_fpexp(
    cwd: Path, *args: str, stdout: Any = subprocess.PIPE, stderr: Any = subprocess.PIPE
) -> subprocess.Popen:
    """``python -m fpexp ARGS`` from ``cwd``, started in the background (to signal or read it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "fpexp", *args], cwd=cwd, stdout=stdout, stderr=stderr, env=ENV
    )


def run_fpexp(
    args: Sequence[str], run_dir: Path | None, cwd: Path | None = None, timeout: float = 120
) -> CliResult:
    """``python -m fpexp ARGS hydra.run.dir=RUN_DIR`` as a user would type it."""
    cmd = [sys.executable, "-m", "fpexp", *args]
    if run_dir is not None:
        cmd.append(f"hydra.run.dir={run_dir}")
    done = subprocess.run(
        cmd, cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout, env=ENV
    )
    return CliResult(done.returncode, done.stdout, done.stderr, Path(run_dir or "."))


def run_into(
    tmp_path: Path, *args: str, name: str = "run"
) -> tuple[subprocess.CompletedProcess, Path]:
    """``python -m fpexp ARGS`` from ``tmp_path`` into ``tmp_path/name`` (``name2``, ``name3``,
    ... once taken: fpexp refuses a used run directory): (process, run dir)."""
    out, n = tmp_path / name, 1
    while out.exists():
        n += 1
        out = tmp_path / f"{name}{n}"
    done = subprocess.run(
        [sys.executable, "-m", "fpexp", *args, f"hydra.run.dir={out}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=ENV,
    )
    return done, out


@pytest.fixture
def fpexp_cli(tmp_path: Path) -> Callable[..., CliResult]:
    """Run the CLI into a fresh directory under ``tmp_path``."""
    counter = iter(range(1000))

    def _run(*args: str, cwd: Path | None = None) -> CliResult:
        return run_fpexp(args, tmp_path / f"run{next(counter)}", cwd=cwd or tmp_path)

    return _run


@pytest.fixture(scope="session")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> CliResult:
    """One default run (``python -m fpexp``), shared by the tests that only read it."""
    base = tmp_path_factory.mktemp("default")
    result = run_fpexp([], base / "run", cwd=base)
    assert result.returncode == 0, result.stderr
    return result
