"""What a call of the Python API must leave as it found it in the caller's process.

``caller_state()`` wraps every ``fpexp.run``/``sweep``/``rerun`` call. However the call ends
(a result, ``UsageError``, ``RunFailed``, ``KeyboardInterrupt``), afterwards these are as they
were: the working directory, ``sys.argv``, ``sys.path``, the standard streams, ``os.environ``,
every signal handler, the warnings filters, ``logging`` (every existing logger's handlers,
level, ``disabled``, ``propagate`` and filters; the caller's handlers are never closed), the
``random``/numpy/torch global RNGs, torch's default dtype and threads (numpy and torch only if
the caller had imported them), and Hydra's ``GlobalHydra``, ``HydraConfig``, ``ConfigStore``
and OmegaConf resolvers (so it also works from inside a running ``@hydra.main`` app).
stderr is copied on the way (the CLI's one-line errors become ``UsageError.problems``).

Hydra's state is one per process, so calls are serialised: a call from a second thread waits
for the first to finish. Only the main thread can handle signals: a call from another thread
says so once on stderr and runs without fpexp's Ctrl-C/SIGTERM handling (Ctrl-C goes to the
main thread, not to the run; SIGTERM ends the process as the caller's handler says, and the
run's record then stays ``running`` with a process that is gone).
"""

from __future__ import annotations

import contextlib
import io
import signal
import sys
import threading
from collections.abc import Callable, Iterator

from fpexp.hydra_state import save_hydra
from fpexp.interrupts import deliver_now
from fpexp.logging_state import save_logging
from fpexp.process_state import (
    save_environ,
    save_numpy,
    save_random,
    save_signals,
    save_sys,
    save_torch,
    save_warnings,
)

# Saved in this order, restored in the reverse one. Hydra's last: it clears GlobalHydra.
# Signals first: SIGINT/SIGTERM are held while the others are put back (``_restore``).
SAVERS: tuple[Callable[[], Callable[[], None]], ...] = (
    save_signals,
    save_sys,
    save_environ,
    save_warnings,
    save_random,
    save_numpy,
    save_torch,
    save_logging,
    save_hydra,
)
NOT_MAIN_THREAD = (
    "fpexp: note: running outside the main thread: Ctrl-C and SIGTERM are not handled "
    "during this run"
)
ONE_AT_A_TIME = threading.RLock()  # Hydra's global state is per process


class Tee(io.TextIOBase):
    """Stderr as it was, and a copy of what was written (the CLI's one-line errors)."""

    def __init__(self, target: io.TextIOBase) -> None:
        self.target, self.seen = target, io.StringIO()

    def write(self, s: str) -> int:
        self.seen.write(s)
        return self.target.write(s)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        """The caller's answer: a script in a terminal gets the CLI's progress bar."""
        return bool(getattr(self.target, "isatty", lambda: False)())


@contextlib.contextmanager
def caller_state() -> Iterator[Tee]:
    """Everything listed above as it was, whatever the call did; one call at a time."""
    with ONE_AT_A_TIME:
        if threading.current_thread() is not threading.main_thread():
            print(NOT_MAIN_THREAD, file=sys.stderr)
        restorers: list[Callable[[], None]] = []
        try:
            for save in SAVERS:
                restorers.append(save())
            tee = Tee(sys.stderr)  # type: ignore[arg-type]
            sys.stderr = tee
            yield tee
        finally:
            _restore(restorers)


def _restore(restorers: list[Callable[[], None]]) -> None:
    """Run every restorer, newest first, even when one fails or Ctrl-C is pressed meanwhile
    (SIGINT/SIGTERM are held until the last has run); then raise the first failure, or
    deliver the held signal to the caller's handler (its ``KeyboardInterrupt``)."""
    failures: list[BaseException] = []
    with _signals_held():
        for restore in reversed(restorers):
            try:
                restore()
            except BaseException as err:  # KeyboardInterrupt too: the others must still run
                failures.append(err)
    if failures:
        raise failures[0]


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM recorded instead of handled for the block, then raised again."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    holder = lambda signum, frame: held.append(signum)  # noqa: E731
    previous = {s: signal.signal(s, holder) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is holder:  # not put back by a restorer
                signal.signal(sig, handler)
        for signum in dict.fromkeys(held):
            deliver_now(signum)
