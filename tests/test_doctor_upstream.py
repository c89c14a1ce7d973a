"""Parsing hand-edited upstream blocks, and the upstream checks' findings on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from dograh_installer.doctor.checks import run_checks
from dograh_installer.doctor.checks_upstream import mismatch_message, port_ranges
from dograh_installer.install import InstallSettings, run_install
from dograh_installer.nginx_conf import NginxParseError, parse_nginx_text
from tests.conftest import EXAMPLE_IP

HAND_EDITED = """
upstream dograh_api {
\tzone dograh_api 64k;
    least_conn;
    server api:8000 max_fails=3 fail_timeout=10s;   # first
  server   api:8001\tfail_timeout=10s    max_fails=3 ;
    server api:8002
        fail_timeout=10s
        max_fails=3;
    server api:8003 weight=2 max_fails=3 fail_timeout=10s;# trailing, no space
    # server api:8004 max_fails=3 fail_timeout=10s;
    #server api:8005;
    keepalive 32;
}
"""


def test_hand_edited_upstream_parses():
    upstream = parse_nginx_text(HAND_EDITED).upstream()

    assert upstream.ports() == [8000, 8001, 8002, 8003]
    assert [server.host for server in upstream.servers] == ["api"] * 4
    for server in upstream.servers:
        assert server.parameters["max_fails"] == "3", server
        assert server.parameters["fail_timeout"] == "10s", server
    assert upstream.servers[3].parameters["weight"] == "2"
    assert upstream.has("least_conn")
    assert upstream.has("keepalive")
    assert upstream.has("zone")


def test_multiline_server_spans_lines():
    upstream = parse_nginx_text(HAND_EDITED).upstream()
    split = upstream.servers[2]

    assert split.line == 7
    assert split.end_line == 9


def test_commented_servers_reported_separately():
    upstream = parse_nginx_text(HAND_EDITED).upstream()

    assert [line for line, _ in upstream.commented_servers] == [11, 12]
    assert len(upstream.servers) == 4


@pytest.mark.parametrize("text, line", [
    ("upstream dograh_api {\n    server api:8000\n}\n", 3),
    ("upstream dograh_api {\n    server api:8000;\n", 2),
    ("upstream dograh_api {\n    server api:8000;\n}\n}\n", 4),
])
def test_broken_structure_rejected(text, line):
    with pytest.raises(NginxParseError) as raised:
        parse_nginx_text(text)

    assert raised.value.line == line


def test_port_ranges_compacts_runs():
    assert port_ranges([8000, 8001, 8002, 8005]) == "8000–8002, 8005"
    assert port_ranges([8003]) == "8003"
    assert port_ranges([8001, 8000, 8001]) == "8000–8001"


def test_more_workers_than_servers_message():
    message = mismatch_message(8, 4, [8000, 8001, 8002, 8003])

    assert message == ("FASTAPI_WORKERS=8 but nginx.conf lists 4 servers (api:8000–8003): "
                       "workers on 8004–8007 get no traffic")


def test_more_servers_than_workers_message():
    message = mismatch_message(4, 8, list(range(8000, 8008)))

    assert message == ("nginx.conf lists api:8004–8007 but only 4 workers run: nginx will hit refused "
                       "connections and fall back to other workers")


def test_matching_ports_have_no_message():
    assert mismatch_message(4, 4, [8003, 8001, 8000, 8002]) is None


@pytest.fixture
def install_dir(tmp_path) -> Path:
    settings = InstallSettings(directory=tmp_path / "dograh", server_ip=EXAMPLE_IP, public_host=EXAMPLE_IP,
                               turn_secret=None, workers=4, enable_telemetry=False, force_turn_relay=False)
    run_install(settings, {}, notify=lambda _message: None)
    return settings.directory


def _statuses(directory: Path) -> dict:
    return {finding.id: finding.status for finding in run_checks(directory, nginx_syntax=False)}


def test_hand_edited_install_is_healthy(install_dir):
    conf = install_dir / "nginx.conf"
    text = conf.read_text()
    start, end = text.index("upstream dograh_api {"), text.index("}", text.index("upstream dograh_api {")) + 2
    conf.write_text(text[:start] + HAND_EDITED.strip() + "\n" + text[end:])

    statuses = _statuses(install_dir)

    assert statuses["upstream.count"] == "ok"
    assert statuses["upstream.ports"] == "ok"
    assert statuses["upstream.commented_server"] == "info"
    assert "error" not in statuses.values()


def test_server_without_port_is_error(install_dir):
    conf = install_dir / "nginx.conf"
    conf.write_text(conf.read_text().replace("server api:8003 ", "server api "))

    statuses = _statuses(install_dir)

    assert statuses["upstream.ports"] == "error"
    assert statuses["upstream.host"] == "ok"


def test_retry_5xx_with_default_max_fails(install_dir):
    conf = install_dir / "nginx.conf"
    text = conf.read_text().replace(" max_fails=3 fail_timeout=10s;", ";")
    conf.write_text(text.replace("proxy_next_upstream error timeout;", "proxy_next_upstream error http_503;"))

    assert _statuses(install_dir)["upstream.retry_5xx"] == "warning"


def test_retry_5xx_with_max_fails_zero(install_dir):
    conf = install_dir / "nginx.conf"
    text = conf.read_text().replace("max_fails=3", "max_fails=0")
    conf.write_text(text.replace("proxy_next_upstream error timeout;", "proxy_next_upstream error http_503;"))

    assert _statuses(install_dir)["upstream.retry_5xx"] == "ok"
