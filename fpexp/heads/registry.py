"""The task heads by name: every ``Head`` subclass in this package that names a ``kind``.

Adding a head is one module here (its class sets ``kind``) and one ``conf/task/<kind>.yaml``;
nothing else lists the heads. Importing the modules imports no torch.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Any

from fpexp.errors import Problem, UsageError
from fpexp.heads.base import Head


@functools.cache
def heads() -> dict[str, type[Head]]:
    """``task.kind`` -> head class, sorted by kind."""
    import fpexp.heads as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")
    found: dict[str, type[Head]] = {}
    ours = [c for c in _subclasses(Head) if c.__module__.startswith(f"{package.__name__}.")]
    for cls in ours:  # not a subclass some other module of the process defines (a user's)
        if cls.kind and found.setdefault(cls.kind, cls) is not cls:
            raise RuntimeError(f"two heads for task '{cls.kind}': {found[cls.kind]} and {cls}")
    return dict(sorted(found.items()))


def _subclasses(cls: type[Head]) -> list[type[Head]]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


def kinds() -> tuple[str, ...]:
    """The registered task kinds (``binary``, ``multiclass``, ...)."""
    return tuple(heads())


def head_class(kind: str) -> type[Head]:
    """The head for ``task.kind``; ``UsageError`` naming the registered ones if none."""
    cls = heads().get(kind)
    if cls is None:
        raise UsageError([unknown_kind(kind)])
    return cls


def head_of_record(record: Any) -> type[Head] | None:
    """The head class a run record names in ``config.task.kind`` (None: none, or unknown).
    Records are untrusted: anything malformed gives None."""
    config = record.get("config") if isinstance(record, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    kind = task.get("kind") if isinstance(task, dict) else None
    return heads().get(kind) if isinstance(kind, str) else None


def unknown_kind(kind: object) -> Problem:
    return Problem("task.kind", f"unknown task '{kind}'", "one of: " + ", ".join(heads()))


def task_problems(task: Any, label: Any = None) -> list[Problem]:
    """Every problem with ``task.*`` (and the shape of ``data.label``), from its head."""
    cls = heads().get(str(task.kind))
    return [unknown_kind(task.kind)] if cls is None else cls.config_problems(task, label)


def label_problems(task: Any, source: Any) -> list[Problem]:
    """Whether the labels a source has fit the task's head (none: no problem)."""
    cls = heads().get(str(task.kind))
    if cls is None or not source.describe().get("has_labels"):
        return []
    names = getattr(source, "label_names", None)
    return cls.label_problems(task, len(names) if names else 1)
