"""Turning the fan-out check's handshakes into findings and a table per worker.

Workers are matched by port: nginx.conf names them ``api:800X`` while
``$upstream_addr`` reports the resolved address (a container IP), and every
worker runs on the one ``api`` host.

Pre-fork detection: when one upstream address is ``uvicorn --workers N``,
nginx has one server for it and cannot balance inside it, so the kernel
decides which process accepts each connection. The check reports this when the 101
responses of one upstream carry more than one distinct worker PID (in
``X-Dograh-Worker-Pid``, which the test stand-in API sends); the compose
``top`` check reports it from the process list on a real stack.

Fixes: a listed worker that FASTAPI_WORKERS runs but that refused or went
quiet is a process problem (read the api logs, recreate the container).
Only an upstream that lists ports beyond FASTAPI_WORKERS, or misses some,
is a configuration problem, fixed by ``dograh workers N``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Set

from dograh_installer.findings import ERROR, INFO, OK, WARNING, Finding
from dograh_installer.live import commands
from dograh_installer.live.connect_errors import NOT_TLS_FIX, is_not_tls
from dograh_installer.live.fanout_probe import Handshake
from dograh_installer.nginx_conf import UpstreamServer, split_address

GROUP = "live"
EXISTING_CALLS_NOTE = (
    "The check counts only its own connections. Calls in progress stay on the workers they started on: "
    "least_conn places new connections and never moves existing ones, so right after a scale-up the old "
    "workers still carry the old calls."
)
PLACED_ONLY_NOTE = (
    "The API rejected the handshakes, so no connection stayed open: the counts show where nginx placed each "
    "handshake, not how held connections spread."
)
PROXY_STATUSES = (502, 503, 504)


@dataclass
class FanoutPlan:
    path: str
    connections: int
    concurrency: int
    hold: float
    servers: List[UpstreamServer]  # the upstream's server lines in nginx.conf
    env_ports: List[int]  # 8000.. for FASTAPI_WORKERS
    upgrade_missing: List[str]  # what the /api/v1/ location lacks for WebSockets
    directory: Path  # the install directory, for the commands the fixes name

    @property
    def mode(self) -> str:
        if self.concurrency <= 1:
            return "sequential"
        return "burst" if self.concurrency >= self.connections else f"{self.concurrency} at a time"


def _port(address: str) -> Optional[int]:
    return split_address(address)[1]


def _ranges(ports: List[int]) -> str:
    return ", ".join(str(port) for port in sorted(ports))


def _table(plan: FanoutPlan, counts: Counter, pids: Dict[int, Counter], unattributed: int,
           failed: int, column: str) -> List[str]:
    """Return the per-worker rows.

    The ``pids`` column lists the process IDs that a worker's 101 responses
    named in X-Dograh-Worker-Pid, with a count when one address had several
    (pre-fork). The Dograh API sends no such header, so the column appears
    only when at least one response carried it.
    """
    show_pids = any(pids.values())
    rows = [f"{'worker (upstream)':<24}{column:>12}" + ("  pids" if show_pids else "")]
    for server in plan.servers:
        pid_text = _pid_counts(pids.get(server.port or -1, Counter())) if show_pids else ""
        rows.append(f"{server.address:<24}{counts.get(server.port, 0):>12}  {pid_text}".rstrip())
    listed = {server.port for server in plan.servers}
    for port in sorted(set(counts) - listed):
        rows.append(f"{'port ' + str(port) + ' (not listed)':<24}{counts[port]:>12}")
    if unattributed:
        rows.append(f"{'no X-Dograh-Upstream':<24}{unattributed:>12}")
    if failed:
        rows.append(f"{'not accepted':<24}{failed:>12}")
    return rows


def _plural(ports: List[int], one: str, many: str) -> str:
    return one if len(ports) == 1 else many


def process_fix(directory: Path, ports: List[int]) -> str:
    """Return the fix for listed workers that FASTAPI_WORKERS runs but that do not respond."""
    if ports:
        who = f"the API worker{_plural(ports, '', 's')} on port {_ranges(ports)} " \
              f"{_plural(ports, 'is', 'are')} not running"
    else:
        who = "the API workers are not running"
    return (f"{who}: read '{commands.api_logs(directory)}' for the cause, then recreate "
            f"{_plural(ports, 'it', 'them')} with '{commands.recreate(directory)}'")


def upstream_fix(plan: FanoutPlan) -> str:
    """Return the fix for an upstream whose ports differ from the FASTAPI_WORKERS ones."""
    count = len(plan.env_ports)
    return (f"make the upstream list the {count} worker(s) that FASTAPI_WORKERS={count} runs: "
            f"{commands.set_workers(plan.directory, count)}")


def ports_fix(plan: FanoutPlan, ports: List[int], unlisted: bool = False) -> str:
    """Return the fix for listed workers on ``ports`` that failed or got nothing.

    Ports that FASTAPI_WORKERS runs get a process fix, and ports beyond it
    (or ``unlisted``: FASTAPI_WORKERS ports missing from the upstream) get
    ``dograh workers`` with the FASTAPI_WORKERS count.
    """
    beyond = [port for port in ports if plan.env_ports and port not in plan.env_ports]
    expected = [port for port in ports if port not in beyond]
    fixes = []
    if expected or not (beyond or unlisted):
        fixes.append(process_fix(plan.directory, expected))
    if beyond or unlisted:
        fixes.append(upstream_fix(plan))
    return "; ".join(fixes)


def merge_later_pass(first: Finding, later: Finding, plan: FanoutPlan) -> None:
    """Add a later pass's finding to the same problem that an earlier pass found.

    The later message goes into the details, and the fix then covers the
    ports of both passes, because a worker can die between them.
    """
    first.details.append(later.message)
    if first.id == "live.fanout.proxy_failure":
        ports = set(first.data["failed_ports"]) | set(later.data["failed_ports"])
        first.fix = ports_fix(plan, sorted(ports))
    elif first.id == "live.fanout.idle_worker":
        ports = set(first.data["idle_upstream_ports"]) | set(later.data["idle_upstream_ports"])
        unlisted = bool(first.data["unlisted_ports"] or later.data["unlisted_ports"])
        first.fix = ports_fix(plan, sorted(ports), unlisted)


def build_findings(plan: FanoutPlan, results: List[Handshake], notes_said: Optional[Set[str]] = None) -> List[Finding]:
    """Return the pass's summary (with its table) and its problems.

    ``notes_said`` collects the explanatory notes already printed in this
    run, so that a note shows once per run and not once per pass.
    """
    notes_said = set() if notes_said is None else notes_said
    accepted = [result for result in results if result.accepted]
    # Handshakes the API itself rejected (its WebSocket routes need a login,
    # say) still show where nginx placed them, though none stays open.
    rejected_by_api = [result for result in results if result.served_by and result.status is not None
                       and result.status not in (101,) + PROXY_STATUSES]
    placed_only = not accepted and bool(rejected_by_api) and not plan.upgrade_missing
    counted = rejected_by_api if placed_only else accepted
    counts: Counter = Counter()
    pids: Dict[int, Counter] = {}
    unattributed = 0
    for result in counted:
        port = _port(result.served_by) if result.served_by else None
        if port is None:
            unattributed += 1
            continue
        counts[port] += 1
        if result.worker_pid:
            pids.setdefault(port, Counter())[result.worker_pid] += 1
    failed = len(results) - len(accepted)
    findings: List[Finding] = []

    certificate = next((result.certificate_error for result in results if result.certificate_error), "")
    if certificate:
        findings.append(Finding(
            id="live.fanout.certificate", status=ERROR, group=GROUP, message=certificate,
            fix="make nginx serve certs/local.crt and certs/local.key from the install directory",
        ))
    findings += _handshake_failures(plan, results, accepted)
    if counted and unattributed == len(counted):
        findings.append(Finding(
            id="live.fanout.no_attribution", status=WARNING, group=GROUP,
            message="nginx sent no X-Dograh-Upstream header, so no connection can be attributed to a worker",
            fix=f"{commands.doctor_fix(plan.directory)} (adds the probe-only X-Dograh-Upstream header to the "
                "/api/v1/ location)",
        ))
    elif counted:
        findings += _worker_findings(plan, counts, pids, held=not placed_only)
    dropped = Counter(_port(result.served_by or "") for result in accepted if result.dropped)
    if dropped:
        where = ", ".join(f"port {port}: {n}" if port else f"unknown worker: {n}" for port, n in sorted(
            dropped.items(), key=lambda item: item[0] or 0))
        findings.append(Finding(
            id="live.fanout.dropped", status=ERROR, group=GROUP, data={"dropped": sum(dropped.values())},
            message=f"{sum(dropped.values())} held WebSocket(s) were closed by the stack during the hold ({where}); "
                    "a worker exited or restarted, and its calls were cut",
            fix=f"read '{commands.api_logs(plan.directory)}' for the worker's exit, then "
                f"'{commands.recreate(plan.directory)}'",
        ))

    problems = any(finding.status == ERROR for finding in findings)
    closed = sum(dropped.values())
    if placed_only:
        outcome = "accepted"
    elif closed:
        outcome = (f"accepted; {closed} of them were closed by the stack during the {plan.hold:g} s hold, "
                   f"so {len(accepted) - closed} were held to the end")
    else:
        outcome = f"accepted and held {plan.hold:g} s"
    note = PLACED_ONLY_NOTE if placed_only else EXISTING_CALLS_NOTE
    message = f"WebSocket fan-out ({plan.mode}): {len(accepted)} of {len(results)} connections to {plan.path} " \
              f"{outcome}."
    if note not in notes_said:
        notes_said.add(note)
        message += " " + note
    summary = Finding(
        id="live.fanout", status=INFO if problems or findings else OK, group=GROUP,
        message=message,
        details=_table(plan, counts, pids, unattributed, failed, "handshakes" if placed_only else "connections"),
        data={
            "mode": plan.mode, "connections": len(results), "accepted": len(accepted),
            "concurrency": plan.concurrency, "hold_seconds": plan.hold, "path": plan.path,
            "per_worker": {server.address: counts.get(server.port, 0) for server in plan.servers},
            "unattributed": unattributed, "failed": failed, "held": not placed_only,
            "held_to_end": 0 if placed_only else len(accepted) - closed,
        },
    )
    return [summary] + findings


def _handshake_failures(plan: FanoutPlan, results: List[Handshake], accepted: List[Handshake]) -> List[Finding]:
    findings: List[Finding] = []
    tried_and_failed: Counter = Counter()
    for result in results:
        # After a 502 or 504 every address nginx tried failed, the last one too.
        failed = result.upstreams if result.status in (502, 504) else result.upstreams[:-1]
        for address in failed:
            tried_and_failed[address] += 1
    proxy_statuses = Counter(result.status for result in results if result.status in PROXY_STATUSES)
    if tried_and_failed or proxy_statuses:
        failed_ports = sorted({port for port in map(_port, tried_and_failed) if port is not None})
        parts = []
        for address, n in sorted(tried_and_failed.items()):
            if _port(address) is None:
                # $upstream_addr is the upstream's name when nginx found no
                # server left to try: max_fails had marked every one failed.
                parts.append(f"{n} request(s) found no live server in upstream {address}")
            else:
                parts.append(f"{address} failed {n} time(s)")
        parts += [f"{n} handshake(s) got HTTP {status}" for status, n in sorted(proxy_statuses.items())]
        findings.append(Finding(
            id="live.fanout.proxy_failure", status=ERROR, group=GROUP,
            data={"failed_upstreams": dict(tried_and_failed), "failed_ports": failed_ports,
                  "statuses": {str(k): v for k, v in proxy_statuses.items()}},
            message="nginx could not reach every upstream worker: " + "; ".join(parts)
                    + ". X-Dograh-Upstream lists every server nginx tried, so a failure shows even when "
                    "a retry on another worker succeeded",
            fix=ports_fix(plan, failed_ports),
        ))
    rejected = Counter(result.status for result in results
                       if result.status is not None and result.status != 101 and result.status not in proxy_statuses)
    if rejected and not accepted:
        statuses = ", ".join(f"HTTP {status} x{n}" for status, n in sorted(rejected.items()))
        if plan.upgrade_missing:
            findings.append(Finding(
                id="live.fanout.no_upgrade", status=ERROR, group=GROUP,
                message=f"the WebSocket upgrade does not reach the workers ({statuses}): the /api/v1/ location "
                        f"in nginx.conf lacks {', '.join(plan.upgrade_missing)}",
                fix=f"{commands.doctor_fix(plan.directory)}, or add 'proxy_http_version 1.1;', 'proxy_set_header Upgrade "
                    "$http_upgrade;' and 'proxy_set_header Connection $connection_upgrade;' to the location",
            ))
        else:
            findings.append(Finding(
                id="live.fanout.rejected", status=WARNING, group=GROUP,
                message=f"the API rejected every WebSocket handshake to {plan.path} ({statuses}), so no "
                        "connection was held and the spread of held connections was not measured",
                fix="pass --ws-path with a WebSocket path under /api/v1/ that accepts the probe, such as a "
                    "signaling endpoint with a valid session token",
            ))
    errors = [result for result in results if result.error and not result.certificate_error]
    if errors:
        findings.append(Finding(
            id="live.fanout.handshake_error", status=ERROR, group=GROUP, data={"errors": len(errors)},
            message=f"{len(errors)} of {len(results)} WebSocket handshakes failed: {errors[0].error}",
            fix=NOT_TLS_FIX if is_not_tls(errors[0].error) else
            "check that nginx is running and accepts this many connections (worker_connections)",
        ))
    return findings


def _pid_counts(found: Counter) -> str:
    """Return "PID" for one process, or "PID xN, ..." when several share the address."""
    if len(found) <= 1:
        return ", ".join(found)
    return ", ".join(f"{pid} x{n}" for pid, n in found.most_common())


def _process_count(prefork: Dict[int, Dict[str, int]]) -> int:
    """Return how many processes serve the pre-fork addresses: the worker count one port per process needs."""
    return sum(len(found) for found in prefork.values())


def _worker_findings(plan: FanoutPlan, counts: Counter, pids: Dict[int, Counter], held: bool) -> List[Finding]:
    findings: List[Finding] = []
    listed = [server.port for server in plan.servers if server.port is not None]
    idle_listed = [port for port in listed if counts.get(port, 0) == 0]
    unlisted = [port for port in plan.env_ports if port not in listed]
    if idle_listed or unlisted:
        beyond = [port for port in idle_listed if plan.env_ports and port not in plan.env_ports]
        stopped = [port for port in idle_listed if port not in beyond]
        parts = []
        if stopped:
            parts.append(f"upstream worker(s) on port {_ranges(stopped)} received no connection "
                         "(not running, or failing)")
        if beyond:
            parts.append(f"upstream worker(s) on port {_ranges(beyond)} received no connection: "
                         f"FASTAPI_WORKERS={len(plan.env_ports)} runs no worker there")
        if unlisted:
            parts.append(f"FASTAPI_WORKERS={len(plan.env_ports)} runs worker(s) on port {_ranges(unlisted)} "
                         "that nginx's upstream does not list, so they sit idle")
        findings.append(Finding(
            id="live.fanout.idle_worker", status=ERROR, group=GROUP,
            data={"idle_upstream_ports": idle_listed, "unlisted_ports": unlisted, "not_running_ports": stopped},
            message="; ".join(parts), fix=ports_fix(plan, idle_listed, bool(unlisted)),
        ))
    busy = [counts[port] for port in listed if counts.get(port, 0) > 0]
    if held and len(busy) > 1 and max(busy) - min(busy) > 1:
        findings.append(Finding(
            id="live.fanout.spread", status=WARNING, group=GROUP,
            data={"max": max(busy), "min": min(busy)},
            message=f"connections per serving worker range from {min(busy)} to {max(busy)}; least_conn keeps "
                    "connections held at once within 1 of each other",
            fix=f"keep 'least_conn;' and a shared 'zone' in the upstream ({commands.doctor_fix(plan.directory)})",
        ))
    prefork = {port: dict(found) for port, found in pids.items() if len(found) > 1}
    if prefork:
        where = "; ".join(f"port {port}: PIDs {_pid_counts(pids[port])}" for port in sorted(prefork))
        findings.append(Finding(
            id="live.fanout.prefork", status=ERROR, group=GROUP, data={"pids": prefork},
            message=f"one upstream address is served by several processes ({where}): this is uvicorn "
                    "--workers (pre-fork), where the kernel, not least_conn, places WebSockets and they pile up "
                    "on a few processes",
            fix="run one single-process uvicorn per port and list each port in the upstream: "
                + commands.set_workers(plan.directory, max(len(plan.env_ports), _process_count(prefork))),
        ))
    return findings
