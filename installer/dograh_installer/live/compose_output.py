"""Parsers for what ``docker compose top`` and ``docker compose logs`` print.

``top`` has two layouts. Compose v2 releases before docker/compose pull
request 12628 (merged March 2025) print each container's name on a line of
its own, then a ``UID PID PPID C STIME TTY TIME CMD`` table, then a blank
line. Later releases print one table whose leading columns are ``SERVICE``
and ``#`` (the replica number). Both come from Go's tabwriter, so columns are
separated by runs of spaces, and CMD is the last column and may contain
spaces itself.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Dict, List, Optional, Set

_UVICORN_RUNNING = re.compile(r"Uvicorn running on https?://\S+?:(\d+)\b")
_SHELLS = {"sh", "bash", "dash", "ash"}


@dataclass
class TopProcess:
    container: str  # container name (old layout) or "service-replica" (new layout)
    pid: int
    ppid: int
    command: str

    def argv(self) -> List[str]:
        try:
            return shlex.split(self.command)
        except ValueError:
            return self.command.split()

    def is_uvicorn(self) -> bool:
        """Tell whether this process is a uvicorn server, not a shell that starts one."""
        argv = self.argv()
        if not argv or argv[0].rsplit("/", 1)[-1] in _SHELLS:
            return False
        if argv[0].rsplit("/", 1)[-1] == "uvicorn":
            return True
        # "python -m uvicorn ..." and "python /usr/local/bin/uvicorn ..."
        return any(
            (arg == "uvicorn" and argv[index - 1] == "-m") or arg.endswith("/uvicorn")
            for index, arg in enumerate(argv[1:], start=1)
        )

    def option(self, name: str) -> Optional[str]:
        """Return the value of ``--name VALUE`` or ``--name=VALUE`` in the command line."""
        argv = self.argv()
        for index, arg in enumerate(argv):
            if arg == name and index + 1 < len(argv):
                return argv[index + 1]
            if arg.startswith(name + "="):
                return arg[len(name) + 1:]
        return None

    def port(self) -> Optional[int]:
        value = self.option("--port")
        return int(value) if value and value.isdigit() else None


def _split_row(line: str, columns: int) -> List[str]:
    return line.split(None, columns - 1)


def parse_top(text: str) -> List[TopProcess]:
    """Return every process listed by ``docker compose top``, in either layout."""
    processes: List[TopProcess] = []
    header: Optional[List[str]] = None
    container = ""
    for line in text.splitlines():
        if not line.strip():
            header = None
            continue
        fields = line.split()
        if "PID" in fields and "PPID" in fields and fields[-1] == "CMD":
            header = fields
            continue
        if header is None:
            # Old layout: the container's name precedes its table.
            container = line.strip()
            continue
        values = _split_row(line, len(header))
        if len(values) < len(header):
            continue
        row: Dict[str, str] = dict(zip(header, values))
        if "SERVICE" in row:
            container = f"{row['SERVICE']}-{row.get('#', '1')}"
        if not (row["PID"].isdigit() and row["PPID"].isdigit()):
            continue
        processes.append(TopProcess(container, int(row["PID"]), int(row["PPID"]), row["CMD"].strip()))
    return processes


@dataclass
class UvicornLayout:
    """The uvicorn servers found in ``top``: one process per port, or pre-fork."""

    servers: List[TopProcess]
    # PID of a server started with --workers, to its child worker processes.
    prefork_children: Dict[int, List[TopProcess]]

    def ports(self) -> List[Optional[int]]:
        return [server.port() for server in self.servers]


def uvicorn_layout(processes: List[TopProcess]) -> UvicornLayout:
    """Find the uvicorn servers and, for ``uvicorn --workers N``, their worker processes.

    uvicorn's ``--workers`` starts its workers through multiprocessing's
    spawn method, so they show up as children of the uvicorn process whose
    command line is ``python -c "from multiprocessing.spawn import
    spawn_main; ..."``, not as uvicorn command lines of their own. The
    multiprocessing resource tracker is a child too, and is not a worker.
    """
    servers = [process for process in processes if process.is_uvicorn()]
    server_pids = {server.pid for server in servers}
    children: Dict[int, List[TopProcess]] = {}
    for process in processes:
        if process.ppid in server_pids and process.pid not in server_pids and "spawn_main" in process.command:
            children.setdefault(process.ppid, []).append(process)
    prefork: Dict[int, List[TopProcess]] = {}
    for server in servers:
        workers = server.option("--workers")
        if server.pid in children or (workers is not None and workers.isdigit() and int(workers) > 1):
            prefork[server.pid] = children.get(server.pid, [])
    # A uvicorn process whose parent is also uvicorn is a reloader's or
    # supervisor's child serving the same port, not a server of its own.
    servers = [server for server in servers if server.ppid not in server_pids]
    return UvicornLayout(servers=servers, prefork_children=prefork)


def running_ports(logs: str) -> Set[int]:
    """Return the ports of every ``Uvicorn running on http://0.0.0.0:PORT`` line."""
    return {int(match.group(1)) for match in _UVICORN_RUNNING.finditer(logs)}
