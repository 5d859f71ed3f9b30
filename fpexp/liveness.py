"""Which process wrote a record, and whether it is still alive.

A run killed with SIGKILL (or by the OOM killer, or a power cut) never gets to update its
``run.json``, which keeps saying ``running``. The record's ``process`` object tells such a run
from one still in progress: ``pid``, ``host``, the kernel's ``boot_id`` and the process start
time in clock ticks since boot (``/proc/<pid>/stat`` field 22), so a reused pid or a reboot is
not mistaken for the run.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def _boot_id() -> str | None:
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` from field 3 (state) on; the command name may hold spaces or ')'."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    _, paren, rest = text.rpartition(")")
    return rest.split() if paren else None


def _start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    try:
        return int(fields[19]) if fields else None  # field 22, counted from 1
    except (IndexError, ValueError):
        return None


def process_info() -> dict[str, Any]:
    """This process, as recorded in ``run.json``'s ``process``."""
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "boot_id": _boot_id(),
        "start_ticks": _start_ticks(pid),
    }


def _pid_exists(pid: int) -> bool | None:
    fields = _stat_fields(pid)
    if fields is not None:
        return fields[0] not in ("Z", "X")  # a zombie has ended: only its exit status is left
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, OverflowError):
        return None
    return True


def is_alive(process: Any) -> bool | None:
    """Whether the process a record names still runs: ``None`` when that cannot be told
    (another host, or a ``process`` that is missing or malformed)."""
    if not isinstance(process, dict):
        return None
    pid, host = process.get("pid"), process.get("host")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not isinstance(host, str):
        return None
    if host != socket.gethostname():
        return None
    boot_id, recorded_boot = _boot_id(), process.get("boot_id")
    if isinstance(recorded_boot, str) and boot_id is not None and recorded_boot != boot_id:
        return False  # the machine has rebooted since
    exists = _pid_exists(pid)
    if not exists:
        return exists
    ticks, recorded_ticks = _start_ticks(pid), process.get("start_ticks")
    # a different start time: the pid now belongs to another process
    return not (isinstance(recorded_ticks, int) and ticks is not None and ticks != recorded_ticks)
