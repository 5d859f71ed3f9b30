"""User-facing errors: one line per problem, ``fpexp: error: <key>: <what> (<allowed>)``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the user's input: where, what, and what would be accepted."""

    key: str
    what: str
    allowed: str = ""

    def __str__(self) -> str:
        return f"{self.key}: {self.what}" + (f" ({self.allowed})" if self.allowed else "")


class UsageError(ValueError):
    """Bad input from the user. Carries every problem found, so all are reported at once.

    A ``ValueError``, so Python callers of the API can catch it as one. Example::

        try:
            fpexp.run("seed=abc")
        except fpexp.UsageError as err:
            print(err.problems)  # the one-line messages the CLI prints
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        if not self.problems:
            raise ValueError("UsageError needs at least one problem")
        super().__init__(self.message)
        self.reported = False

    def __reduce__(self) -> tuple:
        # Parallel launchers pickle a failed job's exception back to the launching process.
        return (_rebuild_usage_error, (self.problems, self.reported))

    @property
    def message(self) -> str:
        return "; ".join(str(p) for p in self.problems)

    def lines(self) -> list[str]:
        return [f"fpexp: error: {p}" for p in self.problems]


def _rebuild_usage_error(problems: list[Problem], reported: bool) -> UsageError:
    err = UsageError(problems)
    err.reported = reported
    return err


class Interrupted(BaseException):
    """Raised from a SIGTERM handler so a run records ``interrupted`` like on Ctrl-C."""
