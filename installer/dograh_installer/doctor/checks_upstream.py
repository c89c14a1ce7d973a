"""The ``dograh_api`` upstream against FASTAPI_WORKERS in .env, and its balancing settings."""

from __future__ import annotations

from collections import Counter
from typing import List, Optional

from dograh_installer.doctor.checks_env import parse_workers
from dograh_installer.doctor.dograh_command import dograh_command
from dograh_installer.doctor.install_files import InstallFiles
from dograh_installer.doctor.nginx_query import api_locations
from dograh_installer.findings import ERROR, INFO, OK, WARNING, Finding
from dograh_installer.nginx_conf import DEFAULT_UPSTREAM_HOST, FIRST_WORKER_PORT, UPSTREAM_NAME, Upstream

GROUP = "nginx upstream"
# nginx's max_fails when a server line does not set it.
DEFAULT_MAX_FAILS = 1
RETRY_5XX = frozenset({"http_500", "http_502", "http_503", "http_504"})


def port_ranges(ports: List[int]) -> str:
    """Return sorted ports as ranges: [8000, 8001, 8002, 8005] -> "8000–8002, 8005"."""
    parts: List[str] = []
    ordered = sorted(set(ports))
    start = previous = None
    for port in ordered + [None]:
        if start is not None and port == previous + 1:
            previous = port
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}–{previous}")
        start = previous = port
    return ", ".join(parts)


def _host_ranges(host: str, ports: List[int]) -> str:
    return ", ".join(f"{host}:{part}" for part in port_ranges(ports).split(", "))


REFUSED = "nginx will hit refused connections and fall back to other workers"


def mismatch_message(workers: int, server_count: int, listed: List[int]) -> Optional[str]:
    """Say what breaks when the listed ports differ from the workers' ports; None when they match."""
    expected = set(range(FIRST_WORKER_PORT, FIRST_WORKER_PORT + workers))
    idle = sorted(expected - set(listed))
    extra = sorted(set(listed) - expected)
    listed_text = _host_ranges(DEFAULT_UPSTREAM_HOST, listed) if listed else "none"
    if extra and not idle:
        run = "only 1 worker runs" if workers == 1 else f"only {workers} workers run"
        return f"nginx.conf lists {_host_ranges(DEFAULT_UPSTREAM_HOST, extra)} but {run}: {REFUSED}"
    if not idle:
        return None
    idle_text = (f"the worker on {port_ranges(idle)} gets no traffic" if len(idle) == 1
                 else f"workers on {port_ranges(idle)} get no traffic")
    if server_count == workers:
        expected_text = _host_ranges(DEFAULT_UPSTREAM_HOST, sorted(expected))
        message = f"nginx.conf lists {listed_text} instead of {expected_text}: {idle_text}"
    else:
        message = f"FASTAPI_WORKERS={workers} but nginx.conf lists {server_count} servers ({listed_text}): {idle_text}"
    if extra:
        message += f", and no worker listens on {_host_ranges(DEFAULT_UPSTREAM_HOST, extra)}, so {REFUSED}"
    return message


def check_upstream(files: InstallFiles) -> List[Finding]:
    if files.nginx is None:
        return []
    fix = dograh_command(files.directory, "doctor", "--fix")
    upstream = files.nginx.upstream(UPSTREAM_NAME)
    if upstream is None:
        return [Finding(
            "upstream.missing", ERROR,
            f"nginx.conf has no 'upstream {UPSTREAM_NAME}' block: proxy_pass http://{UPSTREAM_NAME} cannot "
            "reach the API workers",
            fix, GROUP)]
    findings = [Finding("upstream.missing", OK, f"upstream {UPSTREAM_NAME} is defined on line {upstream.line}",
                        group=GROUP)]
    workers = parse_workers(files.values.get("FASTAPI_WORKERS"))
    if workers is not None:
        findings.extend(_check_ports(files, upstream, workers))
    findings.extend(_check_hosts(upstream, fix))
    findings.extend(_check_server_parameters(upstream, fix))
    findings.extend(_check_settings(upstream, fix))
    findings.extend(_check_retry(files, upstream))
    for line, comment in upstream.commented_servers:
        findings.append(Finding(
            "upstream.commented_server", INFO,
            f"line {line} is a commented-out server line ('#{comment}'); nginx ignores it", group=GROUP,
            data={"line": line}))
    return findings


def _check_ports(files: InstallFiles, upstream: Upstream, workers: int) -> List[Finding]:
    fix = dograh_command(files.directory, "doctor", "--fix")
    findings: List[Finding] = []
    servers = upstream.servers
    no_port = [server for server in servers if server.port is None]
    for server in no_port:
        findings.append(Finding(
            "upstream.ports", ERROR,
            f"server {server.address} (line {server.line}) names no port: nginx connects to port 80, "
            "where no API worker listens",
            fix, GROUP))
    listed = [server.port for server in servers if server.port is not None]
    message = mismatch_message(workers, len(servers), listed)

    if len(servers) != workers:
        findings.append(Finding(
            "upstream.count", ERROR,
            message or f"FASTAPI_WORKERS={workers} but nginx.conf lists {len(servers)} servers",
            f"{dograh_command(files.directory, 'workers', str(workers))} (or "
            f"{dograh_command(files.directory, 'doctor', '--fix', '--from-nginx')} to keep {len(servers)})", GROUP,
            data={"workers": workers, "servers": len(servers), "ports": listed}))
        return findings + _duplicates(listed, fix)
    findings.append(Finding("upstream.count", OK, f"{workers} servers for FASTAPI_WORKERS={workers}", group=GROUP))
    if no_port:
        return findings + _duplicates(listed, fix)
    if message:
        findings.append(Finding("upstream.ports", ERROR, message, fix, GROUP, data={"ports": listed}))
    else:
        findings.append(Finding("upstream.ports", OK, f"ports {port_ranges(listed)}, one per worker", group=GROUP))
    return findings + _duplicates(listed, fix)


def _duplicates(listed: List[int], fix: str) -> List[Finding]:
    duplicated = sorted(port for port, count in Counter(listed).items() if count > 1)
    if duplicated:
        return [Finding(
            "upstream.duplicate_ports", ERROR,
            f"nginx.conf lists {_host_ranges(DEFAULT_UPSTREAM_HOST, duplicated)} more than once: least_conn "
            "sends that worker a double share",
            fix, GROUP, data={"ports": duplicated})]
    return [Finding("upstream.duplicate_ports", OK, "no port is listed twice", group=GROUP)]


def _check_hosts(upstream: Upstream, fix: str) -> List[Finding]:
    wrong = [server for server in upstream.servers if server.host != DEFAULT_UPSTREAM_HOST]
    if not wrong:
        return [Finding("upstream.host", OK, f"every server names the compose service '{DEFAULT_UPSTREAM_HOST}'",
                        group=GROUP)]
    first = wrong[0]
    return [Finding(
        "upstream.host", ERROR,
        f"server {first.address} (line {first.line}) does not name the compose service "
        f"'{DEFAULT_UPSTREAM_HOST}': from the nginx container the workers are reachable only as "
        f"{DEFAULT_UPSTREAM_HOST}:PORT",
        fix, GROUP, data={"hosts": sorted({server.host for server in wrong})})]


def _check_server_parameters(upstream: Upstream, fix: str) -> List[Finding]:
    """Report server lines that keep a worker out of least_conn's even spread.

    ``down`` and ``backup`` are errors: while the other servers are up, nginx
    sends such a worker nothing (least_conn picks backup servers only when
    every primary has failed), which is the idle worker that upstream.count
    reports as an error too. A ``weight`` other than 1 is a warning: every
    worker still gets traffic, but least_conn divides connection counts by
    the weight, so the spread is skewed rather than broken.
    """
    findings: List[Finding] = []
    for flag, effect in (("down", "nginx never sends it a request, so that worker gets no traffic"),
                         ("backup", "least_conn sends it nothing while the other servers are up, so that "
                                    "worker sits idle")):
        marked = [server for server in upstream.servers if flag in server.flags]
        if not marked:
            findings.append(Finding(f"upstream.{flag}", OK, f"no server is marked {flag}", group=GROUP))
            continue
        lines = ", ".join(f"{server.address} (line {server.line})" for server in marked)
        findings.append(Finding(
            f"upstream.{flag}", ERROR, f"server {lines} is marked '{flag}': {effect}",
            f"{fix} (removes '{flag}'), or delete '{flag}' from the line", GROUP,
            data={"lines": [server.line for server in marked]}))

    weighted = [server for server in upstream.servers if server.parameters.get("weight", "1") != "1"]
    if weighted:
        lines = ", ".join(f"{server.address} weight={server.parameters['weight']} (line {server.line})"
                          for server in weighted)
        findings.append(Finding(
            "upstream.weight", WARNING,
            f"server {lines} has a weight other than 1: least_conn divides its connection count by the "
            "weight, so WebSockets no longer spread evenly over identical workers",
            f"{fix} (removes 'weight='), or delete 'weight=' from the line", GROUP,
            data={"lines": [server.line for server in weighted]}))
    else:
        findings.append(Finding("upstream.weight", OK, "every server has the default weight 1", group=GROUP))
    return findings


def _check_settings(upstream: Upstream, fix: str) -> List[Finding]:
    findings: List[Finding] = []
    if upstream.has("least_conn"):
        findings.append(Finding("upstream.least_conn", OK, "least_conn is set", group=GROUP))
    else:
        findings.append(Finding(
            "upstream.least_conn", ERROR,
            "the upstream has no least_conn: round robin ignores how many WebSockets each worker holds, "
            "so long calls pile up on some workers",
            f"{fix}, or add 'least_conn;' inside upstream {UPSTREAM_NAME}", GROUP))
    if upstream.has("keepalive"):
        findings.append(Finding("upstream.keepalive", OK, "keepalive is set", group=GROUP))
    else:
        findings.append(Finding(
            "upstream.keepalive", ERROR,
            "the upstream has no keepalive: nginx opens a new connection to a worker for every request",
            f"{fix}, or add 'keepalive 32;' inside upstream {UPSTREAM_NAME}", GROUP))
    if upstream.has("zone"):
        findings.append(Finding("upstream.zone", OK, "the upstream has a shared zone", group=GROUP))
    else:
        findings.append(Finding(
            "upstream.zone", WARNING,
            "the upstream has no zone: each nginx worker process balances on its own connection counts, "
            "so least_conn spreads WebSockets less evenly",
            f"{fix}, or add 'zone {UPSTREAM_NAME} 64k;' inside upstream {UPSTREAM_NAME}", GROUP))
    return findings


def _max_fails(value: Optional[str]) -> int:
    return int(value) if value is not None and value.isdigit() else DEFAULT_MAX_FAILS


def _check_retry(files: InstallFiles, upstream: Upstream) -> List[Finding]:
    assert files.nginx is not None
    failing = [server for server in upstream.servers if _max_fails(server.parameters.get("max_fails")) > 0]
    if not failing:
        return [Finding("upstream.retry_5xx", OK, "max_fails is 0, so retries cannot mark workers failed",
                        group=GROUP)]
    for api in api_locations(files.nginx):
        for directive in api.lookup("proxy_next_upstream", files.nginx.directives):
            codes = sorted(RETRY_5XX.intersection(directive.args))
            if codes:
                return [Finding(
                    "upstream.retry_5xx", WARNING,
                    f"proxy_next_upstream (line {directive.line}) retries on {' '.join(codes)} while max_fails "
                    f"is {_max_fails(failing[0].parameters.get('max_fails'))}: the API's own 5xx responses then "
                    "mark healthy workers as failed",
                    f"change line {directive.line} to 'proxy_next_upstream error timeout;'", GROUP)]
    return [Finding("upstream.retry_5xx", OK, "proxy_next_upstream does not retry on 5xx responses", group=GROUP)]
