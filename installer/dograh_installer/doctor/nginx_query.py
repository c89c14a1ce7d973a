"""Lookups on a parsed nginx.conf: the locations that serve the API, and inherited directives."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional

from dograh_installer.nginx_conf import Directive, NginxConfig

API_PREFIX = "/api/v1/"
# Paths a location must match to count as serving the API; the second is a WebSocket path.
API_SAMPLE_PATHS = ("/api/v1/health", "/api/v1/ws/call")

# Directives whose values a location inherits from its server and from the
# http level only when it sets none of its own (nginx's array directives).
ARRAY_DIRECTIVES = frozenset({"proxy_set_header", "add_header"})

_TIME_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}
_TIME_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|M|y)?")


@dataclass
class ApiLocation:
    location: Directive
    server: Directive  # the enclosing server block
    path: str  # the location's arguments as written, e.g. "/api/v1/" or "~ ^/api/v1/ws"

    def lookup(self, name: str, top_level: List[Directive]) -> List[Directive]:
        """Return the directives ``name`` in effect in this location, following nginx's inheritance."""
        for scope in (self.location.block or [], self.server.block or [], top_level):
            found = [directive for directive in scope if directive.name == name]
            if found:
                return found
        return []


def parse_nginx_time(value: str) -> Optional[float]:
    """Return an nginx time value ("3600", "60s", "1h30m", "500ms") in seconds, or None if invalid."""
    position = 0
    total = 0.0
    if not value:
        return None
    while position < len(value):
        match = _TIME_PART.match(value, position)
        if match is None:
            return None
        total += int(match.group(1)) * _TIME_UNITS[match.group(2) or "s"]
        position = match.end()
    return total


def _serves_api(args: List[str]) -> bool:
    if not args:
        return False
    if args[0] in ("~", "~*"):
        flags = re.IGNORECASE if args[0] == "~*" else 0
        try:
            pattern = re.compile(args[1] if len(args) > 1 else "", flags)
        except re.error:
            return False
        return any(pattern.search(path) for path in API_SAMPLE_PATHS)
    # A prefix location ("/api/v1/", "^~ /api/v1/ws/", "= /api/v1/health") inside the API's tree.
    return args[-1].startswith(API_PREFIX.rstrip("/"))


def fallback_location(server: Directive) -> Optional[Directive]:
    """Return the prefix location that gets /api/v1/ requests when none serves them explicitly."""
    best = None
    for location in server.find("location"):
        if len(location.args) == 1 and API_PREFIX.startswith(location.args[0]):
            if best is None or len(location.args[0]) > len(best.args[0]):
                best = location
    return best


def server_blocks(config: NginxConfig) -> List[Directive]:
    return [directive for directive in config.directives if directive.name == "server"]


def api_locations(config: NginxConfig) -> List[ApiLocation]:
    """Return every location, nested ones included, that serves a path under /api/v1/."""
    found: List[ApiLocation] = []
    for server in server_blocks(config):
        stack = list(server.find("location"))
        while stack:
            location = stack.pop(0)
            if _serves_api(location.args):
                found.append(ApiLocation(location, server, " ".join(location.args)))
            stack.extend(location.find("location"))
    return found


def tls_servers(config: NginxConfig) -> List[Directive]:
    """Return server blocks that listen with ssl."""
    return [server for server in server_blocks(config)
            if any("ssl" in listen.args[1:] for listen in server.find("listen"))]


def maps(config: NginxConfig) -> List[Directive]:
    return [directive for directive in config.directives if directive.name == "map"]


def map_for(config: NginxConfig, variable: str) -> Optional[Directive]:
    """Return the http-level ``map`` that defines ``variable``, if any."""
    for directive in maps(config):
        if len(directive.args) >= 2 and directive.args[1] == variable:
            return directive
    return None


def map_default(directive: Directive) -> Optional[str]:
    for entry in directive.block or []:
        if entry.name == "default" and entry.args:
            return entry.args[0]
    return None
