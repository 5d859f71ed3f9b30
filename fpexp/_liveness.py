"""Is the process that wrote a ``running`` record still alive? (private stand-in)

Same contract as ``fpexp.liveness.is_alive`` (which replaces this module at merge): ``process``
is run.json's ``{"pid", "host", "boot_id", "start_ticks"}``; the answer is True (alive), False
(dead: same host, and the pid is gone, or the machine rebooted, or the pid now belongs to a
process started at another time) or None (cannot tell: another host, or no such facts).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """State and start time (field 22, clock ticks since boot) from ``/proc/PID/stat``."""
    stat = _read(Path(f"/proc/{pid}/stat"))
    if stat is None:
        return None
    try:
        fields = stat.rsplit(")", 1)[1].split()
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def is_alive(process: Any) -> bool | None:
    """Whether the recorded process is still running (None: cannot tell)."""
    if not isinstance(process, dict):
        return None
    pid, host = process.get("pid"), process.get("host")
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0 or host != platform.node():
        return None
    boot_id = process.get("boot_id")
    if boot_id is not None and _read(_BOOT_ID) not in (None, boot_id):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OverflowError:
        return False
    stat, ticks = _proc_stat(pid), process.get("start_ticks")
    if stat is not None and stat[0] in ("Z", "X"):
        return False  # a zombie: it has exited
    return not (isinstance(ticks, int) and stat is not None and stat[1] != ticks)
