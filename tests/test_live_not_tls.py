"""A TLS client pointed at a plain-HTTP port: the live findings name the port, not nginx's limits."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import httpx
import pytest

from dograh_installer.live.connect_errors import NOT_TLS_FIX, is_not_tls
from dograh_installer.live.fanout_probe import Handshake
from dograh_installer.live.fanout_report import FanoutPlan, build_findings
from dograh_installer.nginx_conf import parse_nginx_text, render_nginx_conf


@pytest.fixture()
def plain_http_port():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def tls_error_from(port: int) -> str:
    with pytest.raises(httpx.ConnectError) as caught:
        httpx.get(f"https://127.0.0.1:{port}/api/v1/health", verify=False, timeout=10)
    return str(caught.value)


def test_plain_http_port_is_not_tls(plain_http_port):
    assert is_not_tls(tls_error_from(plain_http_port))


def test_certificate_error_is_tls():
    assert not is_not_tls("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")


def test_handshake_finding_names_non_tls_port(plain_http_port):
    error = f"SSLError: {tls_error_from(plain_http_port)}"
    upstream = parse_nginx_text(render_nginx_conf(2, "203.0.113.10")).upstream()
    plan = FanoutPlan(path="/api/v1/ws/probe", connections=2, concurrency=2, hold=1.0,
                      servers=upstream.servers, env_ports=[8000, 8001], upgrade_missing=[],
                      directory=Path("/srv/dograh"))

    findings = build_findings(plan, [Handshake(error=error), Handshake(error=error)])
    failed = [finding for finding in findings if finding.id == "live.fanout.handshake_error"]

    assert failed[0].fix == NOT_TLS_FIX
    assert "worker_connections" not in failed[0].fix
