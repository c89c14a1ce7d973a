"""Directives the ``/api/v1/`` location in nginx.conf needs so that WebSocket upgrades reach the workers."""

from __future__ import annotations

from typing import List, Optional

from dograh_installer.nginx_conf import Directive, NginxConfig

API_LOCATION = "/api/v1/"


def api_location(config: NginxConfig) -> Optional[Directive]:
    for directive in config.walk():
        if directive.name == "location" and directive.args[-1:] == [API_LOCATION]:
            return directive
    return None


def missing_upgrade_directives(config: NginxConfig) -> List[str]:
    """List the directives the /api/v1/ location lacks to pass a WebSocket upgrade on."""
    location = api_location(config)
    if location is None:
        return [f"a 'location {API_LOCATION}' block"]
    missing = []
    versions = [d.args for d in location.find("proxy_http_version")]
    if ["1.1"] not in versions:
        missing.append("'proxy_http_version 1.1'")
    headers = {d.args[0].lower() for d in location.find("proxy_set_header") if d.args}
    for header in ("Upgrade", "Connection"):
        if header.lower() not in headers:
            missing.append(f"'proxy_set_header {header}'")
    return missing
