"""``fpexp.export_mlflow``: ``fpexp export mlflow`` from Python (``fpexp.mlflow_export``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from fpexp.api import root_of
from fpexp.api_run import Run
from fpexp.api_state import caller_state
from fpexp.api_sweep import Sweep, reference_texts


def export_mlflow(
    *refs: Run | Sweep | str | os.PathLike[str],
    tracking_uri: str | None = None,
    experiment: str = "fpexp",
    where: str | Sequence[str] = (),
    root: str | os.PathLike[str] = "outputs",
    max_artifact_mb: float | None = None,
) -> list[str]:
    """Export runs and sweeps to MLflow, as ``fpexp export mlflow`` does; returns the lines it
    prints (``exported: ...``, ``unchanged: ...``, ``skipped: ...``).

    Each ref is a ``Run``, a ``Sweep`` (a parent run, a child per job) or what the CLI takes;
    none: every run under ``root``. ``where``: expressions as ``fpexp runs --where``.
    ``tracking_uri`` defaults to ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlruns.db``.
    Exporting again changes nothing. ``UsageError``: a bad reference or URI, or the ``mlflow``
    extra missing; ``fpexp.mlflow_store.ServerFailure``: the server failed.

    Example::

        fpexp.export_mlflow(sweep, tracking_uri="http://127.0.0.1:5000", experiment="mlp")
    """
    from pathlib import Path

    from fpexp.mlflow_export import export

    texts = reference_texts(refs)
    lines: list[str] = []
    picked = [where] if isinstance(where, str) else list(where)
    with caller_state():
        export(
            texts,
            Path(root_of(root)),
            picked,
            tracking_uri,
            experiment,
            max_artifact_mb,
            lines.append,
        )
    return lines
