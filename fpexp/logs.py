"""Logging helpers referenced from ``conf/hydra/job_logging/fpexp.yaml``."""

from __future__ import annotations

import logging
import os


class BelowLevel(logging.Filter):
    """Pass records below ``level`` (warnings and errors go to stderr instead), except those
    logged with ``extra={"console": False}``, which only go to the log file."""

    def __init__(self, level: str | int = logging.WARNING) -> None:
        super().__init__()
        self.level = logging.getLevelName(level) if isinstance(level, str) else level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level and getattr(record, "console", True)


class ConsoleHandler(logging.StreamHandler):
    """A console handler that goes quiet when its reader goes away (``fpexp | head``): the
    run carries on and finishes its files instead of failing or printing logging errors."""

    def handleError(self, record: logging.LogRecord) -> None:
        import sys

        if isinstance(sys.exc_info()[1], BrokenPipeError):
            self._to_devnull()
            return
        super().handleError(record)

    def _to_devnull(self) -> None:
        """From now on write nowhere, without flushing what the closed pipe refused (that
        raises again: the default, block-buffered stdout). The stream's file descriptor itself
        points at /dev/null, so the stream's buffer and anything else writing to that
        descriptor (``print``, the interpreter's last flush) land there too."""
        try:
            fd = self.stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a file: just replace it
            self.stream = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the handler)
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
