"""The process-wide state a run may change, each part saved by a function that returns its
restorer: working directory, ``sys.argv``/streams/path, the environment, signal handlers,
warnings filters, and the ``random``, numpy and torch global state.

A part restores only what differs from what it saved (a caller's other threads that use the
same state are not rewound), and looks at numpy or torch only if the caller imported them.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

Restore = Callable[[], None]


def save_sys() -> Restore:
    """The working directory, ``sys.argv`` (the same list, same items), the standard streams
    and ``sys.path``."""
    cwd, argv, items, path = os.getcwd(), sys.argv, list(sys.argv), list(sys.path)
    streams = (sys.stdin, sys.stdout, sys.stderr)

    def restore() -> None:
        sys.stdin, sys.stdout, sys.stderr = streams
        sys.argv = argv
        argv[:] = items
        if sys.path != path:
            sys.path[:] = path
        if os.getcwd() != cwd:
            os.chdir(cwd)

    return restore


def save_environ() -> Restore:
    """``os.environ`` (the run sets ``HYDRA_FULL_ERROR``; Hydra and plugins may set more)."""
    saved = dict(os.environ)

    def restore() -> None:
        for key in [k for k in os.environ if k not in saved]:
            del os.environ[key]
        for key, value in saved.items():
            if os.environ.get(key) != value:
                os.environ[key] = value

    return restore


def _catchable() -> list[signal.Signals]:
    return [s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)]


def save_signals() -> Restore:
    """Every signal's Python handler (a run installs its own for SIGINT and SIGTERM). Only the
    main thread can install handlers, so elsewhere there is nothing a run could change."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    saved = {s: signal.getsignal(s) for s in _catchable()}

    def restore() -> None:
        for signum, handler in saved.items():
            if handler is not None and signal.getsignal(signum) is not handler:
                signal.signal(signum, handler)

    return restore


def save_warnings() -> Restore:
    """The warnings filters (the same list object, same entries) and ``showwarning``."""
    filters: Any = warnings.filters
    items, show = list(filters), warnings.showwarning

    def restore() -> None:
        warnings.showwarning = show
        if warnings.filters is not filters or warnings.filters != items:
            warnings.filters = filters
            filters[:] = items
            mutated: Any = getattr(warnings, "_filters_mutated", None)
            if callable(mutated):
                mutated()

    return restore


def save_random() -> Restore:
    """Python's ``random`` module state."""
    state = random.getstate()

    def restore() -> None:
        if random.getstate() != state:
            random.setstate(state)

    return restore


def save_numpy() -> Restore:
    """numpy's global RNG, if the caller imported numpy (fpexp never draws from it)."""
    np: Any = sys.modules.get("numpy")
    if np is None:
        return lambda: None
    state = np.random.get_state()

    def restore() -> None:
        now = np.random.get_state()
        if any(not np.array_equal(a, b) for a, b in zip(now, state, strict=True)):
            np.random.set_state(state)

    return restore


def save_torch() -> Restore:
    """torch's default dtype and device, deterministic-algorithms mode, intra-op threads and
    RNG (CPU, and CUDA where initialised), if the caller imported torch. The run gets a new
    process's defaults (float32 on the CPU, deterministic mode off: a caller's float64 or
    ``set_default_device("cuda")`` would change what a layer draws and where it computes);
    the caller's thread count stays (run.json records it). Interop threads can be set once a
    process: fpexp never sets them."""
    torch: Any = sys.modules.get("torch")
    if torch is None:
        return lambda: None
    dtype, threads, rng = torch.get_default_dtype(), torch.get_num_threads(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    device, deterministic = _device(torch), _deterministic(torch)
    torch.set_default_dtype(torch.float32)
    if device is not None and device.type != "cpu":
        torch.set_default_device(None)
    if deterministic != (False, False):  # setting it costs ~0.1 s: only when it changes
        torch.use_deterministic_algorithms(False)

    def restore() -> None:
        if torch.get_default_dtype() != dtype:
            torch.set_default_dtype(dtype)
        if _device(torch) != device:
            torch.set_default_device(None if device.type == "cpu" else device)
        if _deterministic(torch) != deterministic:
            torch.use_deterministic_algorithms(deterministic[0], warn_only=deterministic[1])
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if not torch.equal(torch.get_rng_state(), rng):
            torch.set_rng_state(rng)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)

    return restore


def _device(torch: Any) -> Any:
    """torch's default device (None for a torch without ``get_default_device``)."""
    get = getattr(torch, "get_default_device", None)
    return get() if callable(get) else None


def _deterministic(torch: Any) -> tuple[bool, bool]:
    return (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
