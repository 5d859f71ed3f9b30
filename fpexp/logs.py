"""Logging helpers referenced from ``conf/hydra/job_logging/fpexp.yaml``."""

from __future__ import annotations

import logging


class BelowLevel(logging.Filter):
    """Pass records below ``level``: keeps warnings and errors off stdout (they go to stderr)."""

    def __init__(self, level: str | int = logging.WARNING) -> None:
        super().__init__()
        self.level = logging.getLevelName(level) if isinstance(level, str) else level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level
