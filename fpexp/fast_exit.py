"""Leaving the command-line process without tearing the interpreter down.

Finalizing an interpreter that has imported torch, Hydra and pyarrow frees hundreds of thousands
of objects and runs C++ static destructors: 0.2-0.35 s on a 2-core machine, as long as the whole
forward pass of 10M rows. By the time ``main()`` returns every output is closed, fsynced and
renamed and ``run.json`` is final, so nothing is lost by skipping that teardown. What a normal
exit still does is done first: atexit handlers (logging flushes and closes its files there,
multiprocessing reaps its children) and flushing stdout/stderr.

The normal exit is kept whenever something may still need it: a profiler or debugger is
attached (``python -m cProfile -m fpexp`` writes its stats after the module returns), a
non-daemon thread or a child process is alive, or ``FPEXP_SLOW_EXIT=1`` is set.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from typing import NoReturn


def _teardown_needed() -> bool:
    if os.environ.get("FPEXP_SLOW_EXIT") or sys.getprofile() or sys.gettrace():
        return True
    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return True
    mp = sys.modules.get("multiprocessing")
    return bool(mp is not None and mp.active_children())


def exit_process(code: int) -> NoReturn:
    """Exit with ``code``: quickly where that is safe, else through ``SystemExit``."""
    if _teardown_needed():
        raise SystemExit(code)
    with contextlib.suppress(ValueError):  # not the main thread
        for signum in (signal.SIGINT, signal.SIGTERM):  # the record is final: a Ctrl-C now
            signal.signal(signum, signal.SIG_IGN)  # would only turn the exit into a traceback
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (fpexp ... | head)
            stream.flush()
    os._exit(code)
