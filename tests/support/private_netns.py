"""A private network namespace with only a loopback interface, for fixed ports that must not collide.

``unshare -n`` starts a process that keeps the namespace open; commands
join it with ``nsenter -t PID -n``. Nothing inside can reach any other
network, because the namespace has no interface but ``lo``.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

HOLD_SECONDS = 600


def unavailable_reason() -> Optional[str]:
    """Return why a private network namespace cannot be made here, or None."""
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None and shutil.which(tool, path="/usr/sbin:/sbin") is None:
            return f"'{tool}' is not installed"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"'unshare -n' failed: {probe.stderr.strip() or probe.returncode} (it needs CAP_SYS_ADMIN)"
    return None


class Namespace:
    def __init__(self, holder: subprocess.Popen) -> None:
        self.holder = holder

    def argv(self, command: Sequence[str]) -> List[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-n", *command]

    def write_wrapper(self, path: Path, program: str) -> Path:
        """Write an executable that runs ``program`` inside the namespace with the same arguments.

        nsenter execs the program, so the wrapper's PID is the program's and
        signals sent to it (nginx's reload on SIGHUP) reach the program.
        """
        path.write_text(f'#!/bin/sh\nexec nsenter -t {self.holder.pid} -n {program} "$@"\n')
        path.chmod(0o755)
        return path


@contextlib.contextmanager
def private_network_namespace() -> Iterator[Namespace]:
    ip = shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin")
    holder = subprocess.Popen(
        ["unshare", "-n", "sh", "-c", f'"{ip}" link set lo up && echo up && exec sleep {HOLD_SECONDS}'],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        if holder.stdout.readline().strip() != "up":
            raise RuntimeError("the namespace's loopback interface did not come up")
        yield Namespace(holder)
    finally:
        holder.terminate()
        holder.wait(timeout=10)
