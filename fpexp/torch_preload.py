"""torch's native libraries loaded on a thread while Hydra starts, for a run from the command line.

``import torch`` spends ~0.27 s in ``dlopen`` of libtorch (its static initialisers register
thousands of operators), holding the GIL, so nothing else can run meanwhile. libc's ``dlopen``
called through ctypes releases the GIL: started on a thread once ``fpexp.cli`` is imported, it
loads the libraries on the other core while Hydra composes the config, and torch's own import
then finds them loaded (measured: torch's import inside a default run 1.80-1.90 -> 1.43-1.51 s).

The same files, flags and order as torch's own import: ``lib/libtorch_global_deps.so`` with
``RTLD_NOW | RTLD_GLOBAL`` (what ``torch._load_global_deps`` asks ctypes for), then
``lib/libtorch.so`` with ``RTLD_NOW | RTLD_LOCAL``, as ``torch._C`` (imported with
``sys.getdlopenflags() == RTLD_NOW``) pulls it in. Only where that is torch's own path: Linux,
a CPU build (a CUDA build first preloads its CUDA libraries in a careful order: left to it),
``TORCH_USE_RTLD_GLOBAL`` unset, torch not imported yet. Where a file is missing or a load
fails, nothing more is loaded and torch loads as it always does.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from importlib.util import find_spec
from pathlib import Path

_FIRST = "libtorch_global_deps.so"  # what torch loads first, globally
_MAIN = "libtorch.so"  # with libtorch_cpu and c10, what torch._C needs
_CUDA = "libtorch_cuda.so"
JOIN_TIMEOUT_S = 60.0  # an exit waits this long at most for a load still running


def wanted(args: list[str], commands: tuple[str, ...]) -> bool:
    """Whether this command line runs models in this process: a plain run or a sweep on
    Hydra's basic launcher (no subcommand, no flag such as ``--help`` or ``--cfg``)."""
    if args and args[0] in commands:
        return False
    if any(a.startswith("-") and a not in ("-m", "--multirun") for a in args):
        return False
    launchers = [a.split("=", 1)[1] for a in args if a.startswith("hydra/launcher=")]
    return all(name == "basic" for name in launchers)


def library_dir() -> Path | None:
    """torch's ``lib`` directory where this module may preload from it; None otherwise."""
    if sys.platform != "linux" or "torch" in sys.modules or os.environ.get("TORCH_USE_RTLD_GLOBAL"):
        return None
    try:
        spec = find_spec("torch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    lib = Path(next(iter(spec.submodule_search_locations)), "lib")
    files = [lib / _FIRST, lib / _MAIN]
    return lib if all(f.is_file() for f in files) and not (lib / _CUDA).exists() else None


def start(args: list[str], commands: tuple[str, ...]) -> threading.Thread | None:
    """Begin loading torch's libraries on a daemon thread, where ``args`` will need them."""
    lib = library_dir() if wanted(args, commands) else None
    if lib is None:
        return None
    thread = threading.Thread(target=_load, args=(lib,), name="fpexp torch preload", daemon=True)
    thread.start()
    # A normal exit (a profiler attached, FPEXP_SLOW_EXIT, a traceback) runs libtorch's C++
    # destructors: while the thread is still inside dlopen that aborts or segfaults. It waits
    # for the load first (~0.3 s at most; the usual fast exit leaves with os._exit after it).
    atexit.register(thread.join, JOIN_TIMEOUT_S)
    return thread


def _load(lib: Path) -> None:
    import ctypes

    libc = ctypes.CDLL(None)
    dlopen = libc.dlopen  # a foreign call: ctypes releases the GIL around it
    dlopen.restype, dlopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_int]
    steps = ((_FIRST, os.RTLD_NOW | os.RTLD_GLOBAL), (_MAIN, os.RTLD_NOW | os.RTLD_LOCAL))
    for name, flags in steps:
        if not dlopen(os.fsencode(lib / name), flags):
            return  # torch's own import loads what is missing, or says why it cannot
