"""Logging helpers referenced from ``conf/hydra/job_logging/fpexp.yaml``."""

from __future__ import annotations

import logging


class BelowLevel(logging.Filter):
    """Pass records below ``level`` (warnings and errors go to stderr instead), except those
    logged with ``extra={"console": False}``, which only go to the log file."""

    def __init__(self, level: str | int = logging.WARNING) -> None:
        super().__init__()
        self.level = logging.getLevelName(level) if isinstance(level, str) else level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level and getattr(record, "console", True)
