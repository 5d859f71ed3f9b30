"""The data sources, one entry per ``data=<name>``: its schema, its loader, its config checks.

A source's module (``module``) provides ``load(cfg, cwd) -> Source`` and
``check_config(data) -> list[Problem]`` (value checks on the composed ``data`` node, reading
no data); this table imports neither, so it stays light for ``--help`` and validation. A new
source is a module, a schema dataclass, a ``conf/data/<name>.yaml`` and one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fpexp.config.schema import AnimalsDataConfig, FileDataConfig, SyntheticDataConfig
from fpexp.errors import Problem

if TYPE_CHECKING:
    from fpexp.data.base import Source


@dataclass(frozen=True)
class DataSource:
    """One data source: the dataclass under ``conf/data/<name>.yaml`` and the module that
    loads and checks it."""

    schema: type
    module: str

    def load(self, cfg: Any, cwd: Path | None = None) -> Source:
        """The source, opened (relative paths from ``cwd``)."""
        source: Source = import_module(self.module).load(cfg, cwd)
        return source

    def input_file(self, cfg: Any, cwd: Path) -> Path | None:
        """The file this source will read (hashed ahead, on the other core), if any."""
        reader = getattr(import_module(self.module), "input_path", None)
        return reader(cfg, cwd) if reader is not None else None

    def made_in_memory(self, cfg: Any) -> tuple[int, int] | None:
        """``(rows, features)`` of a table the source makes in memory from its config alone
        (sized before it is made); None for a source that reads or streams its data."""
        planned = getattr(import_module(self.module), "planned_shape", None)
        return planned(cfg) if planned is not None else None

    def check(self, data: Any) -> list[Problem]:
        """What is wrong with the ``data`` node's values (every problem, none read from data)."""
        problems: list[Problem] = import_module(self.module).check_config(data)
        return problems


SOURCES: dict[str, DataSource] = {
    "animals": DataSource(AnimalsDataConfig, "fpexp.data.animals"),
    "synthetic": DataSource(SyntheticDataConfig, "fpexp.data.synthetic"),
    "file": DataSource(FileDataConfig, "fpexp.data.file"),
}


def source_of(data: Any) -> DataSource | None:
    """The entry for ``data.source`` (None for an unknown one, reported by validation)."""
    return SOURCES.get(str(data.get("source")))


def source_problems(data: Any) -> list[Problem]:
    """An unknown ``data.source``, or what its own entry finds wrong with ``data``."""
    source = data.get("source")
    if source not in SOURCES:
        what, allowed = f"unknown data source '{source}'", "one of: " + ", ".join(SOURCES)
        return [Problem("data.source", what, allowed)]
    return SOURCES[source].check(data)
