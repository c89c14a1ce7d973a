"""The health check: ``GET /api/v1/health`` through nginx over verified TLS."""

from __future__ import annotations

import time

import httpx

from dograh_installer.findings import ERROR, OK, Finding
from dograh_installer.live import commands
from dograh_installer.live.connect_errors import NOT_TLS_FIX, certificate_error, describe_certificate_error, is_not_tls
from dograh_installer.live.target import Target

HEALTH_PATH = "/api/v1/health"
GROUP = "live"


async def check_health(target: Target, timeout: float) -> Finding:
    url = target.https_url(HEALTH_PATH)
    shown_url = url
    if target.connect_host != target.tls_name:
        shown_url += f" (Host and TLS name {target.tls_name})"
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(verify=target.ssl_context(), timeout=timeout) as client:
            response = await client.get(
                url,
                headers={"Host": target.host_header, "X-Dograh-Probe": "1"},
                extensions=target.request_extensions(),
            )
    except httpx.HTTPError as exc:
        cert_error = certificate_error(exc)
        if cert_error is not None:
            return Finding(
                id="live.health.certificate", status=ERROR, group=GROUP,
                message=describe_certificate_error(cert_error, target.tls_name, str(target.cert_file)),
                fix="make nginx serve certs/local.crt and certs/local.key from the install directory, then "
                    f"'{commands.compose(target.directory, 'restart', 'nginx')}'",
            )
        return Finding(
            id="live.health", status=ERROR, group=GROUP,
            message=f"GET {shown_url} failed: {type(exc).__name__}: {exc or 'no detail'}",
            fix=NOT_TLS_FIX if is_not_tls(str(exc)) else
            f"check '{commands.compose(target.directory, 'ps')}' and the nginx and api logs",
        )
    latency_ms = round((time.monotonic() - started) * 1000, 1)
    upstream = response.headers.get("x-dograh-upstream", "")
    data = {"status_code": response.status_code, "latency_ms": latency_ms, "upstream": upstream}
    if response.status_code != 200:
        return Finding(
            id="live.health", status=ERROR, group=GROUP, data=data,
            message=f"GET {shown_url} returned HTTP {response.status_code} in {latency_ms} ms"
                    + (f" from upstream {upstream}" if upstream else ""),
            fix=f"read '{commands.compose(target.directory, 'logs', 'api', 'nginx')}' for the cause",
        )
    return Finding(
        id="live.health", status=OK, group=GROUP, data=data,
        message=f"GET {shown_url} returned HTTP 200 in {latency_ms} ms over TLS verified against "
                f"{target.cert_file.name}",
    )
