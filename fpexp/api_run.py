"""``fpexp.Run``: one run directory as Python objects (record, config, arrays, tables, model).

Everything is read from the run's files, which are untrusted: the model is rebuilt only from
a record whose layers pass ``fpexp.replay``'s checks (torch modules only, plain values), and
its weights are read with ``fpexp.weights.load_state`` (tensors only, nothing unpickled).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fpexp.errors import Problem, UsageError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    from torch import nn

    from fpexp.catalog import Run as CatalogRun

_ROLES = ("outputs", "predictions")


class Run:
    """A recorded run, as ``fpexp.run``, ``fpexp.load`` and ``fpexp.runs`` return it.

    Example::

        run = fpexp.load("@latest")
        run.dir, run.status, run.metrics
        run.outputs()  # numpy [rows, outputs]
    """

    def __init__(self, entry: CatalogRun, status: str | None = None) -> None:
        self._entry, self._status = entry, status  # a sweep job's without a record

    def __repr__(self) -> str:
        return f"fpexp.Run({str(self.dir)!r}, status={self.status!r})"

    @property
    def dir(self) -> Path:
        """The run directory (absolute). Example: ``fpexp.load("@latest").dir``."""
        return self._entry.path

    @property
    def status(self) -> str:
        """``completed``, ``failed``, ``interrupted``, ``running``, ``stale`` or ``unreadable``
        (a sweep's job that never started: ``not run``).

        Example: ``fpexp.load("@latest").status == "completed"``."""
        return self._status or self._entry.status

    @property
    def record(self) -> dict[str, Any]:
        """run.json as a dict (``UsageError`` if unreadable), a copy of its own: changing it
        changes nothing of the run. Example: ``run.record["seed"]``."""
        import copy

        return copy.deepcopy(self._entry.usable(damaged=True).record)

    @property
    def config(self) -> dict[str, Any]:
        """The resolved config the run used, a plain dict (from run.json).

        Example: ``run.config["task"]["kind"]``."""
        return dict(self.record.get("config") or {})

    @property
    def metrics(self) -> dict[str, Any]:
        """The metrics of a run with labels, else ``{}``. Example: ``run.metrics["accuracy"]``."""
        return dict(self.record.get("metrics") or {})

    def table(self, role: str = "outputs") -> pa.Table:
        """``"outputs"`` or ``"predictions"`` as a ``pyarrow.Table`` with its ``id`` column,
        whatever ``output.format`` the run wrote. Example: ``run.table("predictions")``."""
        import pyarrow as pa

        return pa.table(self._columns(role))

    def outputs(self) -> np.ndarray:
        """The head's outputs, ``[rows, outputs]``, in the run's dtype; a ``bfloat16`` run's
        as ``float32`` (numpy has no bfloat16; float32 holds every value exactly).

        Example: ``run.outputs().shape == (5, 1)``."""
        from fpexp.api_files import run_dtype

        table = self._columns("outputs")  # a failed run: "wrote no outputs file" first
        dtype = run_dtype(self.record)
        return _stacked(table, ("id",), "float32" if dtype == "bfloat16" else dtype)

    def predictions(self) -> np.ndarray:
        """The predictions: class indices, regression values, or a multilabel run's 0/1
        columns (``[rows]`` for one column). Example: ``run.predictions()[:3]``."""
        return _stacked(self._columns("predictions"), ("id", "label"), None)

    def _columns(self, role: str) -> dict[str, np.ndarray]:
        from fpexp.api_files import recorded_file
        from fpexp.tables import TableError, read_table

        if role not in _ROLES:
            raise UsageError([Problem("role", f"unknown table {role!r}", " or ".join(_ROLES))])
        path, meta = recorded_file(self.dir, self._result(), role)
        columns = meta.get("columns")
        try:
            table = read_table(path, columns)
        except TableError as err:
            raise UsageError([Problem(str(self.dir), str(err))]) from None
        if columns is not None and _values(table) != _values(columns):  # .npy: ids implied
            why = f"{path.name} has the columns {list(table)}, the record {columns}"
            raise UsageError([Problem(str(self.dir), why)])
        return table

    def model(self, allow_modules: Sequence[str] = ()) -> nn.Module:
        """The model rebuilt from the record with the run's saved ``weights.safetensors``
        loaded, in eval mode. Only torch modules are built unless ``allow_modules`` names
        the others the record's layers come from (like ``fpexp rerun --allow-module``:
        importing a module runs its code, and a run directory may be someone else's); a
        record naming another module is refused with ``UsageError``, unimported.

        Example: ``run.model()(torch.zeros(1, 6))``; ``run.model(allow_modules=["mypkg"])``."""
        from fpexp.api_model import rebuild

        return rebuild(self.dir, self._result(), module_names(allow_modules))

    def _result(self) -> dict[str, Any]:
        """The record of a run that completed (``UsageError`` otherwise: a failed, stopped,
        running or stale run has no result, whatever files its record lists)."""
        entry = self._entry.usable()
        if entry.status != "completed":
            why = f"the run is {entry.status}, not completed: it has no result"
            raise UsageError([Problem(str(self.dir), why)])
        return entry.record


def _values(columns: Any) -> list[Any]:
    return [c for c in columns if c != "id"]


def _stacked(table: dict[str, np.ndarray], skip: tuple[str, ...], dtype: str | None) -> np.ndarray:
    """The table's value columns as one array (one column: ``[rows]`` unless ``dtype`` is
    given); ``UsageError`` for columns that are not numbers."""
    import numpy as np

    values = [v for k, v in table.items() if k not in skip]
    if not values or any(v.dtype.kind not in "biuf" for v in values):
        kinds = ", ".join(f"{k}: {v.dtype}" for k, v in table.items() if k not in skip)
        raise UsageError([Problem("table", f"not numeric columns ({kinds or 'none'})")])
    if dtype is not None:
        return np.stack(values, axis=1).astype(dtype)
    return values[0] if len(values) == 1 else np.stack(values, axis=1)


def module_names(modules: object) -> list[str]:
    """``allow_modules`` as a list of module names (``UsageError`` for a single ``str``,
    which would allow each of its letters, or anything else that is not a list of them)."""
    if not isinstance(modules, (list, tuple)) or not all(isinstance(m, str) for m in modules):
        what = f"{modules!r} is not a list of module names"
        raise UsageError([Problem("allow_modules", what, 'e.g. ["torchvision"]')])
    return list(modules)
