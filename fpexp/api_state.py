"""What a call of the Python API must leave as it found it in the caller's process.

``caller_state()`` wraps every ``fpexp.run``/``sweep``/``rerun`` call: the caller's working
directory, ``sys.argv`` and ``sys.stderr`` are put back however the call ends, and stderr is
copied on the way (the CLI's one-line errors become ``UsageError.problems``).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator


class Tee(io.TextIOBase):
    """Stderr as it was, and a copy of what was written (the CLI's one-line errors)."""

    def __init__(self, target: io.TextIOBase) -> None:
        self.target, self.seen = target, io.StringIO()

    def write(self, s: str) -> int:
        self.seen.write(s)
        return self.target.write(s)

    def flush(self) -> None:
        self.target.flush()


@contextlib.contextmanager
def caller_state() -> Iterator[Tee]:
    """The working directory, argv and stderr as they were, whatever the run did."""
    cwd, argv, stderr = os.getcwd(), list(sys.argv), sys.stderr
    tee = Tee(stderr)  # type: ignore[arg-type]
    sys.stderr = tee
    try:
        yield tee
    finally:
        sys.stderr = stderr
        os.chdir(cwd)
        sys.argv[:] = argv
