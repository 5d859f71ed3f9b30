"""The notebook-style example under ``examples/`` runs, in-process, cell after cell."""

from __future__ import annotations

import io
import json
import os
import runpy
import sys
from contextlib import redirect_stdout
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "notebook.py"


def test_the_notebook_example_runs_and_leaves_its_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = list(sys.argv)
    with redirect_stdout(io.StringIO()) as out:
        cells = runpy.run_path(str(EXAMPLE), run_name="__main__")
    assert os.getcwd() == str(tmp_path) and sys.argv == argv
    run, again, sweep = cells["run"], cells["again"], cells["sweep"]
    assert run.dir.parent.parent == tmp_path / "outputs" and run.status == "completed"
    assert json.loads((again.dir / "run.json").read_text())["command"]["rerun_of"] == str(run.dir)
    assert [r.status for r in sweep.runs] == ["completed"] * 4
    line = "model.hidden[0]: width 0 is not positive (integers >= 1)"
    assert [str(p) for p in cells["problems"]] == [line]
    assert str(run.dir) in out.getvalue()
