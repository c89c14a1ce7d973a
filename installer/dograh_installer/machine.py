"""Facts about the machine the command runs on."""

from __future__ import annotations

import os


def cpu_count() -> int:
    """Return the vCPUs this process may use (the affinity mask, as containers limit it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 0


def memory_bytes() -> int:
    """Return MemTotal from /proc/meminfo, or 0 when it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
