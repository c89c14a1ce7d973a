"""The locations that serve /api/v1/: where they proxy, WebSocket headers, timeouts, the probe header."""

from __future__ import annotations

from typing import Dict, List, Optional

from dograh_installer.doctor.dograh_command import dograh_command
from dograh_installer.doctor.install_files import InstallFiles
from dograh_installer.doctor.nginx_query import (
    API_PREFIX, ApiLocation, api_locations, fallback_location, map_default, map_for, parse_nginx_time, tls_servers,
)
from dograh_installer.findings import ERROR, OK, WARNING, Finding
from dograh_installer.nginx_conf import UPSTREAM_NAME, NginxConfig

GROUP = "nginx /api/v1/"
# Voice calls hold one WebSocket for the whole call.
MIN_PROXY_TIMEOUT = 3600
PROBE_HEADER = "X-Dograh-Upstream"
PROBE_REQUEST_VARIABLE = "$http_x_dograh_probe"

# The message of each check when no location fails it.
OK_SUMMARIES = {
    "location.proxy_pass": f"every {API_PREFIX} location proxies to {UPSTREAM_NAME}",
    "location.http_version": "proxy_http_version 1.1, which WebSockets need",
    "location.upgrade": "Upgrade is passed from $http_upgrade",
    "location.connection": "Connection is set to upgrade for WebSockets",
    "location.timeouts": f"proxy_read_timeout and proxy_send_timeout are at least {MIN_PROXY_TIMEOUT} s",
    "location.next_upstream": "proxy_next_upstream retries on another worker when one cannot be reached",
    "location.probe_header": f"{PROBE_HEADER} is sent only to requests with X-Dograh-Probe",
}


def _where(api: ApiLocation) -> str:
    return f"location {api.path} (line {api.location.line})"


def _header(api: ApiLocation, config: NginxConfig, directive: str, name: str) -> List[str]:
    """Return the values ``directive`` (proxy_set_header or add_header) gives header ``name``."""
    return [
        item.args[1] for item in api.lookup(directive, config.directives)
        if len(item.args) >= 2 and item.args[0].lower() == name.lower()
    ]


def check_locations(files: InstallFiles) -> List[Finding]:
    config = files.nginx
    if config is None:
        return []
    locations = api_locations(config)
    if not locations:
        fallback = _fallback_to_upstream(config)
        if fallback is None:
            return [_missing(config)]
        locations = [fallback]
    problems: Dict[str, List[Finding]] = {}
    fix = dograh_command(files.directory, "doctor", "--fix")
    for api in locations:
        for finding in _check_one(api, config, fix):
            problems.setdefault(finding.id, []).append(finding)
    findings = [Finding("location.api", OK, f"{len(locations)} location(s) serve {API_PREFIX}", group=GROUP)]
    for check_id, summary in OK_SUMMARIES.items():
        findings.extend(problems.get(check_id) or [Finding(check_id, OK, summary, group=GROUP)])
    return findings



def _fallback_to_upstream(config: NginxConfig) -> Optional[ApiLocation]:
    """Return a shorter prefix location, such as ``/api/``, that serves /api/v1/ by proxying to the upstream."""
    for server in tls_servers(config):
        fallback = fallback_location(server)
        if fallback is None:
            continue
        targets = [d.args[0] for d in fallback.find("proxy_pass") if d.args]
        if targets and targets[0].startswith(f"http://{UPSTREAM_NAME}"):
            return ApiLocation(fallback, server, " ".join(fallback.args))
    return None


def _missing(config: NginxConfig) -> Finding:
    servers = tls_servers(config)
    fallback = fallback_location(servers[0]) if servers else None
    where = ""
    if fallback is not None:
        targets = [d.args[0] for d in fallback.find("proxy_pass") if d.args]
        where = f": requests fall to location {fallback.args[0]}" + (f", which proxies to {targets[0]}" if targets else "")
    return Finding(
        "location.api", ERROR,
        f"no location serves {API_PREFIX}{where}, so API and WebSocket requests never reach the workers",
        f"add 'location {API_PREFIX} {{ proxy_pass http://{UPSTREAM_NAME}; ... }}' to the 443 server block "
        "as in a fresh install's nginx.conf", GROUP)


def _check_one(api: ApiLocation, config: NginxConfig, fix: str) -> List[Finding]:
    findings: List[Finding] = []
    where = _where(api)

    targets = [d.args[0] for d in api.location.find("proxy_pass") if d.args]
    upstream_url = f"http://{UPSTREAM_NAME}"
    if not targets or not (targets[0] == upstream_url or targets[0].startswith(upstream_url + "/")):
        target = targets[0] if targets else "nowhere (no proxy_pass)"
        findings.append(Finding(
            "location.proxy_pass", ERROR,
            f"{where} proxies to {target}, not to {upstream_url}: API requests miss the balanced workers",
            f"set 'proxy_pass {upstream_url};' in {where}", GROUP))

    versions = api.lookup("proxy_http_version", config.directives)
    if not versions or versions[-1].args[:1] != ["1.1"]:
        findings.append(Finding(
            "location.http_version", ERROR,
            f"{where} does not set proxy_http_version 1.1: nginx speaks HTTP/1.0 upstream, which cannot "
            "upgrade to a WebSocket",
            f"add 'proxy_http_version 1.1;' to {where}", GROUP))

    upgrade = _header(api, config, "proxy_set_header", "Upgrade")
    if not upgrade:
        findings.append(Finding(
            "location.upgrade", ERROR,
            f"{where} does not pass the Upgrade header: WebSocket handshakes to the API fail",
            f"add 'proxy_set_header Upgrade $http_upgrade;' to {where}", GROUP))
    elif upgrade[-1] != "$http_upgrade":
        findings.append(Finding(
            "location.upgrade", ERROR,
            f"{where} sets Upgrade to {upgrade[-1]}, not $http_upgrade: the workers get a wrong Upgrade header",
            f"set 'proxy_set_header Upgrade $http_upgrade;' in {where}", GROUP))

    connection = _header(api, config, "proxy_set_header", "Connection")
    if not connection or not _connection_upgrades(connection[-1], config):
        connection_value = connection[-1] if connection else "nothing"
        findings.append(Finding(
            "location.connection", ERROR,
            f"{where} sets Connection to {connection_value}: WebSocket handshakes need 'Connection: upgrade'",
            f"set 'proxy_set_header Connection $connection_upgrade;' (a map of $http_upgrade) in {where}", GROUP))

    findings.extend(_check_timeouts(api, config))
    findings.extend(_check_next_upstream(api, config))
    findings.extend(_check_probe_header(api, config, fix))
    return findings


def _connection_upgrades(value: str, config: NginxConfig) -> bool:
    if value.lower() == "upgrade":
        return True
    mapping = map_for(config, value)
    return mapping is not None and mapping.args[0] == "$http_upgrade"


def _check_timeouts(api: ApiLocation, config: NginxConfig) -> List[Finding]:
    short = []
    for name in ("proxy_read_timeout", "proxy_send_timeout"):
        found = api.lookup(name, config.directives)
        seconds = parse_nginx_time(found[-1].args[0]) if found and found[-1].args else 60.0
        if seconds is None or seconds < MIN_PROXY_TIMEOUT:
            short.append(f"{name} {found[-1].args[0] if found else '60s (the default)'}")
    if not short:
        return []
    return [Finding(
        "location.timeouts", WARNING,
        f"{_where(api)} has {' and '.join(short)}: nginx closes a call's WebSocket after that long without data",
        f"set 'proxy_read_timeout 3600s;' and 'proxy_send_timeout 3600s;' in {_where(api)}", GROUP)]


def _check_next_upstream(api: ApiLocation, config: NginxConfig) -> List[Finding]:
    found = api.lookup("proxy_next_upstream", config.directives)
    fix = f"set 'proxy_next_upstream error timeout;' in {_where(api)}"
    if not found:
        return [Finding(
            "location.next_upstream", WARNING,
            f"{_where(api)} does not set proxy_next_upstream: it relies on nginx's default instead of the "
            "retry policy dograh installs",
            fix, GROUP)]
    if found[-1].args[:1] == ["off"]:
        return [Finding(
            "location.next_upstream", ERROR,
            f"{_where(api)} has 'proxy_next_upstream off': a request to a worker that is down fails "
            "instead of moving to another worker",
            fix, GROUP)]
    return []


def _check_probe_header(api: ApiLocation, config: NginxConfig, fix: str) -> List[Finding]:
    where = _where(api)
    directives = [
        item for item in api.lookup("add_header", config.directives)
        if len(item.args) >= 2 and item.args[0].lower() == PROBE_HEADER.lower()
    ]
    if not directives:
        return [Finding(
            "location.probe_header", WARNING,
            f"{where} does not add {PROBE_HEADER}: 'dograh doctor --live' cannot tell which worker served "
            "each connection",
            f"{fix} (adds the probe-only header and its map)", GROUP)]
    directive = directives[-1]
    value = directive.args[1]
    mapping = map_for(config, value)
    probe_only = (
        mapping is not None and mapping.args[0] == PROBE_REQUEST_VARIABLE and map_default(mapping) == ""
    )
    if not probe_only:
        return [Finding(
            "location.probe_header", ERROR,
            f"{where} sends {PROBE_HEADER} {value} to every client: it shows internal addresses",
            f"{fix} (sends the header to probe requests only)", GROUP)]
    if "always" not in directive.args[2:]:
        # Without "always", nginx adds a header only to 200, 201, 204, 206, 301,
        # 302, 303, 304, 307 and 308 responses (nginx's add_header documentation).
        return [Finding(
            "location.probe_header", WARNING,
            f"{where} adds {PROBE_HEADER} without 'always': WebSocket 101 responses lack it, so "
            "'dograh doctor --live' cannot attribute WebSocket connections to workers",
            f"{fix}, or add 'always' to the add_header {PROBE_HEADER} line (line {directive.line})",
            GROUP)]
    return []
