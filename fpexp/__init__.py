"""fpexp: configuration-driven experiments for PyTorch forward passes.

Data flow: config schema -> builder -> data -> runner -> record -> commands.
Importing this package is cheap: torch, pyarrow and Hydra load only where used.

From Python::

    import fpexp
    run = fpexp.run("task=multiclass", root="outputs")
    run.outputs(), run.metrics, fpexp.load("@latest").dir
    sweep = fpexp.sweep("model.hidden=[2],[4]", "seed=1,2", root="outputs")
    sweep.runs, sweep.summary, fpexp.diff(sweep.runs[0], sweep.runs[1])
    fpexp.compare(sweep, run)["runs"]  # only the config keys that differ among them
    fpexp.rerun(run, check=True)  # NotReproduced unless identical
    fpexp.resume(sweep.dir)  # the jobs that did not complete, run again
    fpexp.export_mlflow(sweep, tracking_uri="sqlite:///mlruns.db")  # needs fpexp[mlflow]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "NotReproduced",
    "Run",
    "RunFailed",
    "Sweep",
    "UsageError",
    "compare",
    "diff",
    "export_mlflow",
    "load",
    "rerun",
    "resume",
    "run",
    "runs",
    "sweep",
]

if TYPE_CHECKING:
    from fpexp.api import RunFailed, load, run, runs
    from fpexp.api_compare import compare
    from fpexp.api_export import export_mlflow
    from fpexp.api_records import NotReproduced, diff, rerun
    from fpexp.api_resume import resume
    from fpexp.api_run import Run
    from fpexp.api_sweep import Sweep, sweep
    from fpexp.errors import UsageError

_WHERE = {
    "NotReproduced": "fpexp.api_records",
    "Run": "fpexp.api_run",
    "Sweep": "fpexp.api_sweep",
    "compare": "fpexp.api_compare",
    "diff": "fpexp.api_records",
    "export_mlflow": "fpexp.api_export",
    "rerun": "fpexp.api_records",
    "resume": "fpexp.api_resume",
    "sweep": "fpexp.api_sweep",
    "RunFailed": "fpexp.api",
    "UsageError": "fpexp.errors",
    "load": "fpexp.api",
    "run": "fpexp.api",
    "runs": "fpexp.api",
}


def __getattr__(name: str) -> Any:
    """The API's names, imported on first use (``import fpexp`` stays cheap)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'fpexp' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_WHERE[name]), name)


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])
