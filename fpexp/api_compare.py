"""``fpexp.compare``: ``fpexp compare --json`` from Python, through the same functions
(``fpexp.run_compare``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from fpexp.api import root_of
from fpexp.api_run import Run
from fpexp.api_state import caller_state
from fpexp.api_sweep import Sweep, reference_texts


def compare(
    *refs: Run | Sweep | str | os.PathLike[str],
    root: str | os.PathLike[str] = "outputs",
    columns: str | Sequence[str] | None = None,
    all_keys: bool = False,
) -> dict[str, Any]:
    """One table of runs and sweeps' jobs, as ``fpexp compare --json REF...`` prints it.

    Each ref is a ``Run``, a ``Sweep`` (all its jobs, in job order, failed and never-started
    ones included) or what the CLI takes: a path, ``@latest``, ``@-N``, ``SWEEP_DIR:JOB``, a
    sweep directory. A run named twice is listed once. The result: ``runs``, one dict per
    run (run, status, the config keys whose values differ among these runs, ``metrics.*``,
    ``outputs.mean[NAME]``/``outputs.std[NAME]``/``predicted.n[NAME]``, ``note``; or
    ``columns``, a list or ``"K,..."``; ``all_keys=True``: every key); ``diff``, with two
    runs what ``fpexp.diff`` says of their outputs (``{"a", "b", "outputs"}``), else None;
    ``notes``, what was decided (a run named twice). ``UsageError`` lists every reference
    that cannot be used, and fewer than two runs.

    Example::

        table = fpexp.compare(sweep, "outputs/2026-01-31/12-00-00.000-abcdef", root="outputs")
        [(row["run"], row["metrics.accuracy"]) for row in table["runs"]]
        fpexp.compare(sweep.runs[0], sweep.runs[1])["diff"]["outputs"]["columns"]
    """
    from fpexp.run_compare import as_object, gather, keys_of, rows_of

    texts = reference_texts(refs)
    picked_columns = columns if columns is None or isinstance(columns, str) else ",".join(columns)
    with caller_state():
        picked = gather(texts, root_of(root))
        rows = rows_of(picked.members)
        return as_object(picked, keys_of(rows, picked_columns, all_keys), rows)
