"""The package type-checks: mypy (settings in pyproject.toml) on fpexp/ and hydra_plugins/."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Wrong calls of the torch and MLflow APIs fpexp uses (each line marked WRONG): each must stay an
# error under pyproject's settings, which leave torch's compiler and distributed internals and
# MLflow's internals (all but its client and exceptions) unfollowed.
PROBE = """\
import torch
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from torch import nn
layer = nn.Linear(6, "4")  # WRONG
count: int = torch.zeros(3)  # WRONG
out = nn.Sequential(nn.Linear(1, 2)).forward(3, 4)  # WRONG
mode: str = torch.inference_mode()  # WRONG
state = torch.load("w.pt", weights_only="yes")  # WRONG
name: int = nn.Module().state_dict()  # WRONG
client = MlflowClient(tracking_uri=3)  # WRONG
client.log_batch(5)  # WRONG
message: int = MlflowException("x").message  # WRONG
"""


def _mypy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mypy", *args], cwd=REPO, capture_output=True, text=True
    )


@pytest.mark.slow
def test_mypy_reports_no_errors_and_still_checks_torch_calls(tmp_path):
    """One mypy run (a cold one on a clean clone: ~11 s) over the package and the probe: the
    probe's wrong calls are all its errors, each once; no file of the package has any."""
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    done = _mypy("fpexp", "hydra_plugins", str(probe))
    errors = [line for line in done.stdout.splitlines() if ": error: " in line]
    # mypy's cache replays an unchanged file's errors under the path it was first checked at (an
    # earlier run's tmp_path), so the probe is known by its name.
    found = [re.match(r"(?:.*/)?probe\.py:(\d+): error: ", line) for line in errors]
    assert all(found), done.stdout
    lines = [match.group(1) for match in found if match]
    wrong = [str(n) for n, line in enumerate(PROBE.splitlines(), 1) if line.endswith("# WRONG")]
    assert lines == wrong and len(wrong) == 9, done.stdout  # every wrong call, each once
    assert done.returncode == 1 and done.stdout.splitlines()[-1].startswith(
        f"Found {len(wrong)} errors in 1 file (checked "
    ), done.stdout
