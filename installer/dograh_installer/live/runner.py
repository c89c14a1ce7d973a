"""``doctor --live``: run the live checks, each within its own time limit.

The docker compose checks run beside the checks through nginx. Those run one
after another, because each one's connections count in least_conn.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Awaitable, Dict, List, Optional, Set

from dograh_installer.envfile import read_env
from dograh_installer.errors import InputError, UsageError
from dograh_installer.findings import ERROR, Finding
from dograh_installer.live import commands
from dograh_installer.live.compose_checks import check_compose_workers
from dograh_installer.live.fanout_probe import open_and_hold
from dograh_installer.live.fanout_report import FanoutPlan, build_findings, merge_later_pass
from dograh_installer.live.health import check_health
from dograh_installer.live.idle import check_idle
from dograh_installer.live.nginx_location import missing_upgrade_directives
from dograh_installer.live.options import LiveOptions
from dograh_installer.live.target import Target, resolve_target
from dograh_installer.nginx_conf import NginxParseError, parse_nginx, worker_ports

GROUP = "live"
# NOTE: the Dograh API has no WebSocket route that accepts a connection
# without a login or session token, so on a real stack this path gets HTTP
# 403. The check then reports only where nginx placed each handshake; the
# spread of held connections needs --ws-path with an accepting endpoint.
DEFAULT_WS_PATH = "/api/v1/ws/probe"
DEFAULT_HOLD = 3.0
MIN_CONNECTIONS = 8
CONNECTIONS_PER_WORKER = 4
# Default bound of the whole run, on top of the idle check's own hold.
DEFAULT_RUN_TIMEOUT = 120.0
HANDSHAKE_TIMEOUT = 10.0
HEALTH_TIMEOUT = 15.0
COMPOSE_TIMEOUT = 30.0
REACH_TIMEOUT = 5.0
RUN_GRACE = 5.0
# Time allowed per fan-out pass for its handshakes, when checking that
# --timeout leaves room for --hold. A loopback or LAN handshake takes
# milliseconds, so this leaves room for a distant server.
HANDSHAKE_ALLOWANCE = 2.0


def _check_connections(connections: Optional[int], upstream_workers: int) -> None:
    """Reject --connections below the upstream's worker count: K connections cannot reach more than K workers."""
    if connections is not None and connections < upstream_workers:
        raise InputError("--connections", f"{connections} is fewer than the {upstream_workers} workers nginx's "
                                          f"upstream lists, so some workers could not get a connection; pass "
                                          f"--connections {upstream_workers} or more, or leave it out for "
                                          f"the default")


def minimum_timeout(passes: int, hold: float, idle_check: Optional[float]) -> float:
    """Return the shortest --timeout in which every fan-out pass can hold its connections, then the idle check."""
    return passes * (hold + HANDSHAKE_ALLOWANCE) + (idle_check or 0)


def _check_timeout(options: LiveOptions, passes: int, hold: float) -> None:
    if options.timeout is None:
        return
    needed = minimum_timeout(passes, hold, options.idle_check)
    if options.timeout < needed:
        idle = f" plus --idle-check {options.idle_check:g} s" if options.idle_check else ""
        each = "each of the 2 fan-out passes holds" if passes > 1 else "the fan-out pass holds"
        raise InputError("--timeout", f"{options.timeout:g} s is shorter than the checks it bounds: {each} its "
                                      f"connections for --hold {hold:g} s after about {HANDSHAKE_ALLOWANCE:g} s "
                                      f"of handshakes{idle}; pass --timeout {needed:g} or more, or a shorter "
                                      "--hold")


def _env_workers(values: dict) -> Optional[int]:
    raw = values.get("FASTAPI_WORKERS", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


def _check_ws_path(path: str) -> str:
    if not path.startswith("/api/v1/") or any(char.isspace() for char in path) or "#" in path:
        raise InputError("--ws-path", f"invalid path {path!r}: expected a path under /api/v1/, "
                                      f"such as {DEFAULT_WS_PATH}, which nginx proxies to the workers")
    return path


async def _bounded(name: str, finding_id: str, check: Awaitable, timeout: float) -> List[Finding]:
    try:
        result = await asyncio.wait_for(check, timeout)
    except asyncio.TimeoutError:
        return [Finding(id=finding_id, status=ERROR, group=GROUP,
                        message=f"the {name} did not finish within {timeout:g} s",
                        fix="pass a larger --timeout, or check the stack's load")]
    return result if isinstance(result, list) else [result]


async def _reachable(target: Target) -> Optional[str]:
    """Return why no TCP connection to nginx can be made, or None when one can."""
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(target.connect_host, target.port), REACH_TIMEOUT)
    except asyncio.TimeoutError:
        return f"no answer within {REACH_TIMEOUT:g} s"
    except OSError as exc:
        return exc.strerror or str(exc)
    writer.close()
    return None


def fanout_passes(plan: FanoutPlan, concurrency_given: bool) -> List[FanoutPlan]:
    """Return the fan-out passes: the one --concurrency requests, else a burst and then a sequential pass.

    The two expose different imbalances. A burst has every handshake in
    flight at once, as when many calls start together. A sequential pass
    places each connection while all earlier ones are held, where least_conn
    must keep the spread within 1.
    """
    if concurrency_given or plan.concurrency <= 1:
        return [plan]
    return [plan, replace(plan, concurrency=1)]


def _fanout_bound(plan: FanoutPlan) -> float:
    rounds = -(-plan.connections // plan.concurrency)
    return HANDSHAKE_TIMEOUT * rounds + plan.hold + 10


async def _fanout(target: Target, passes: List[FanoutPlan]) -> List[Finding]:
    findings: List[Finding] = []
    problems: Dict[str, Finding] = {}
    notes_said: Set[str] = set()
    for number, plan in enumerate(passes):
        # One pass after the other: connections held by one pass would skew the other's counts.
        results = await open_and_hold(target, plan.path, plan.connections, plan.concurrency, plan.hold,
                                      HANDSHAKE_TIMEOUT)
        for finding in build_findings(plan, results, notes_said):
            if finding.id == "live.fanout":
                if number > 0:
                    finding.id = f"live.fanout.{plan.mode}"
                findings.append(finding)
                continue
            if len(passes) > 1:
                finding.message = f"{plan.mode} pass: {finding.message}"
            if finding.id in problems:
                merge_later_pass(problems[finding.id], finding, plan)
            else:
                problems[finding.id] = finding
                findings.append(finding)
    return findings


async def _connection_checks(target: Target, path: str, passes: List[FanoutPlan], fanout_bound: float,
                             idle: Optional[float], bound: float, health: Awaitable) -> List[Finding]:
    """Run the health check, the fan-out passes, then the idle check.

    They do not overlap, because least_conn counts every request in flight
    on a worker: the health request or the idle check's open WebSocket
    would skew a fan-out pass's spread.
    """
    findings = await health
    findings += await _bounded("fan-out check", "live.fanout", _fanout(target, passes), fanout_bound)
    if idle:
        findings += await _bounded("idle check", "live.idle", check_idle(target, path, idle, HANDSHAKE_TIMEOUT),
                                   min(bound, idle + HANDSHAKE_TIMEOUT + 15))
    return findings


async def _run_all(directory: Path, options: LiveOptions, target: Target, plan: FanoutPlan,
                   expected_ports: List[int], bound: float) -> List[Finding]:
    compose = _bounded("docker compose worker check", "live.workers",
                       check_compose_workers(directory, expected_ports, COMPOSE_TIMEOUT), min(bound, COMPOSE_TIMEOUT * 2))
    reason = await _reachable(target)
    if reason is not None:
        unreachable = Finding(
            id="live.unreachable", status=ERROR, group=GROUP,
            message=f"nginx at {target.connect_host}:{target.port} cannot be reached ({reason}), so the health, "
                    "fan-out and idle checks did not run",
            fix=f"start the stack with '{commands.compose(directory, 'up', '-d')}', or pass --url with nginx's "
                "address",
        )
        return [unreachable] + await compose
    passes = fanout_passes(plan, options.concurrency is not None)
    fanout_bound = min(bound, sum(_fanout_bound(one) for one in passes))
    health = _bounded("health check", "live.health", check_health(target, HEALTH_TIMEOUT),
                      min(bound, HEALTH_TIMEOUT + 5))
    checks = [
        _connection_checks(target, plan.path, passes, fanout_bound, options.idle_check, bound, health),
        compose,
    ]
    findings: List[Finding] = []
    for result in await asyncio.gather(*checks):
        findings += result
    return findings


def run_live_checks(directory: Path, options: LiveOptions) -> List[Finding]:
    """Check the running stack: workers, health through nginx, WebSocket fan-out, idle timeout.

    Raises UsageError when .env is missing and InputError for an invalid
    option; every failure of the stack itself becomes a finding.
    """
    env_path = directory / ".env"
    try:
        values = read_env(env_path).values()
    except FileNotFoundError:
        raise UsageError(f"{env_path} not found; pass --dir with the install directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {env_path}: {exc}") from exc
    path = _check_ws_path(options.ws_path or DEFAULT_WS_PATH)
    target = resolve_target(directory, options.url, values.get("PUBLIC_HOST"))

    servers, upgrade_missing = [], []
    try:
        config = parse_nginx(directory / "nginx.conf")
        upstream = config.upstream()
        servers = upstream.servers if upstream else []
        upgrade_missing = missing_upgrade_directives(config)
    except (OSError, NginxParseError):
        pass  # the static doctor checks report an unreadable nginx.conf
    env_workers = _env_workers(values)
    expected_ports = worker_ports(env_workers) if env_workers else []
    workers = max(env_workers or 0, len(servers))
    _check_connections(options.connections, len(servers))
    connections = options.connections or max(MIN_CONNECTIONS, CONNECTIONS_PER_WORKER * workers)
    plan = FanoutPlan(
        path=path, connections=connections, concurrency=min(options.concurrency or connections, connections),
        hold=DEFAULT_HOLD if options.hold is None else options.hold,
        servers=servers, env_ports=expected_ports, upgrade_missing=upgrade_missing, directory=directory,
    )
    _check_timeout(options, len(fanout_passes(plan, options.concurrency is not None)), plan.hold)
    bound = options.timeout or DEFAULT_RUN_TIMEOUT + (options.idle_check or 0)
    return asyncio.run(_bounded_run(directory, options, target, plan, expected_ports, bound))


async def _bounded_run(directory: Path, options: LiveOptions, target: Target, plan: FanoutPlan,
                       expected_ports: List[int], bound: float) -> List[Finding]:
    # Each check stops within ``bound`` on its own and reports that it ran out
    # of time. The grace lets those findings through before this outer limit,
    # which only catches a check that overruns its own.
    return await _bounded("live run", "live.timeout",
                          _run_all(directory, options, target, plan, expected_ports, bound), bound + RUN_GRACE)
