"""The rendered nginx.conf: real ``nginx -t``, and the upstream read back with crossplane."""

from __future__ import annotations

from pathlib import Path

import pytest

from dograh_installer.certs import generate_self_signed, install_pair
from dograh_installer.nginx_conf import parse_nginx_text, render_nginx_conf
from dograh_installer.nginx_runtime import check_config_text
from tests.conftest import EXAMPLE_IP


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory) -> Path:
    certs = tmp_path_factory.mktemp("render") / "certs"
    install_pair(certs, generate_self_signed(EXAMPLE_IP, EXAMPLE_IP), "20260101T000000Z")
    return certs


def directives_named(text: str, name: str):
    return [directive for directive in parse_nginx_text(text).walk() if directive.name == name]


@pytest.mark.parametrize("workers", [1, 4, 64])
def test_upstream_lists_every_worker(workers, cert_dir):
    text = render_nginx_conf(workers, EXAMPLE_IP)

    upstream = parse_nginx_text(text).upstream("dograh_api")
    assert upstream is not None
    assert len(upstream.servers) == workers
    assert upstream.ports() == list(range(8000, 8000 + workers))
    for server in upstream.servers:
        assert server.host == "api"
        assert server.parameters == {"max_fails": "3", "fail_timeout": "10s"}
        assert server.flags == []
    assert upstream.has("least_conn")
    assert [d.args for d in upstream.directives if d.name == "keepalive"] == [["32"]]
    assert [d.args[0] for d in upstream.directives if d.name == "zone"] == ["dograh_api"]

    result = check_config_text(text, cert_dir)
    assert result.returncode == 0, result.stderr


def test_api_location_retries_and_probe_header():
    text = render_nginx_conf(4, EXAMPLE_IP)

    locations = {tuple(d.args): d for d in directives_named(text, "location")}
    api = locations[("/api/v1/",)]
    assert [d.args for d in api.find("proxy_pass")] == [["http://dograh_api"]]
    assert [d.args for d in api.find("proxy_next_upstream")] == [["error", "timeout"]]
    assert [d.args for d in api.find("proxy_http_version")] == [["1.1"]]
    assert [d.args for d in api.find("proxy_read_timeout")] == [["3600s"]]
    assert [d.args for d in api.find("add_header")] == [["X-Dograh-Upstream", "$dograh_probe_upstream", "always"]]
    probe_map = [d for d in directives_named(text, "map") if d.args == ["$http_x_dograh_probe", "$dograh_probe_upstream"]]
    assert len(probe_map) == 1
    entries = {(entry.name, *entry.args) for entry in probe_map[0].block}
    assert entries == {("default", ""), ("~.", "$upstream_addr")}
    assert [d.args for d in directives_named(text, "server_name")] == [[EXAMPLE_IP], [EXAMPLE_IP]]


def test_render_defaults_name_compose_services():
    text = render_nginx_conf(2, "dograh.example.com")

    certificates = [d.args for d in directives_named(text, "ssl_certificate")]
    keys = [d.args for d in directives_named(text, "ssl_certificate_key")]
    assert certificates == [["/etc/nginx/certs/local.crt"]]
    assert keys == [["/etc/nginx/certs/local.key"]]
    proxy_targets = {d.args[0] for d in directives_named(text, "proxy_pass")}
    assert proxy_targets == {"http://dograh_api", "http://minio:9000", "http://ui:3010"}
    assert [d.args for d in directives_named(text, "server_name")] == [["dograh.example.com"]] * 2


def test_render_takes_upstream_host_and_cert_dir(cert_dir):
    text = render_nginx_conf(3, EXAMPLE_IP, upstream_host="127.0.0.1", cert_dir=str(cert_dir),
                             http_listen="127.0.0.1:18080", https_listen="127.0.0.1:18443")

    upstream = parse_nginx_text(text).upstream()
    assert [server.address for server in upstream.servers] == ["127.0.0.1:8000", "127.0.0.1:8001", "127.0.0.1:8002"]
    assert [d.args for d in directives_named(text, "ssl_certificate")] == [[f"{cert_dir}/local.crt"]]
    assert [d.args for d in directives_named(text, "ssl_certificate_key")] == [[f"{cert_dir}/local.key"]]
    proxy_targets = {d.args[0] for d in directives_named(text, "proxy_pass")}
    assert proxy_targets == {"http://dograh_api", "http://127.0.0.1:9000", "http://127.0.0.1:3010"}
    assert sorted(d.args[0] for d in directives_named(text, "listen")) == ["127.0.0.1:18080", "127.0.0.1:18443"]

    result = check_config_text(text, cert_dir)
    assert result.returncode == 0, result.stderr


def test_nginx_check_rejects_broken_conf(cert_dir):
    text = render_nginx_conf(2, EXAMPLE_IP).replace("least_conn;", "least_conn", 1)

    result = check_config_text(text, cert_dir)
    assert result.returncode != 0
    assert 'invalid number of arguments in "least_conn" directive' in result.stderr


def test_nginx_check_needs_the_certificate(tmp_path):
    result = check_config_text(render_nginx_conf(2, EXAMPLE_IP), tmp_path / "no-certs")
    assert result.returncode != 0
    assert "cannot load certificate" in result.stderr
    assert "local.crt" in result.stderr
