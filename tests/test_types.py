"""The package type-checks: mypy (settings in pyproject.toml) on fpexp/ and hydra_plugins/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_mypy_reports_no_errors():
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "fpexp", "hydra_plugins"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "Success: no issues found" in done.stdout, done.stdout
