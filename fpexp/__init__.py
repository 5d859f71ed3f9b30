"""fpexp: configuration-driven experiments for PyTorch forward passes.

Data flow: config schema -> builder -> data -> runner -> record -> commands.
Importing this package is cheap: torch, pyarrow and Hydra load only where used.

From Python::

    import fpexp
    run = fpexp.run("task=multiclass", root="outputs")
    run.outputs(), run.metrics, fpexp.load("@latest").dir
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Run", "RunFailed", "UsageError", "load", "run", "runs"]

if TYPE_CHECKING:
    from fpexp.api import RunFailed, load, run, runs
    from fpexp.api_run import Run
    from fpexp.errors import UsageError

_WHERE = {
    "Run": "fpexp.api_run",
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
