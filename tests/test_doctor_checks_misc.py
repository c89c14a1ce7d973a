"""Check details the corpus does not reach: nginx missing, time units, wildcards, compose variants."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dograh_installer.doctor import checks_syntax
from dograh_installer.doctor.checks import run_checks
from dograh_installer.doctor.checks_certs import _dns_matches
from dograh_installer.doctor.checks_compose import check_compose
from dograh_installer.doctor.install_files import load_install
from dograh_installer.doctor.nginx_query import parse_nginx_time
from dograh_installer.install import InstallSettings, run_install
from tests.conftest import EXAMPLE_IP


@pytest.fixture
def install_dir(tmp_path) -> Path:
    settings = InstallSettings(directory=tmp_path / "dograh", server_ip=EXAMPLE_IP, public_host=EXAMPLE_IP,
                               turn_secret=None, workers=2, enable_telemetry=False, force_turn_relay=False)
    run_install(settings, {}, notify=lambda _message: None)
    return settings.directory


def _by_id(directory: Path, nginx_syntax: bool = True) -> dict:
    return {finding.id: finding for finding in run_checks(directory, nginx_syntax=nginx_syntax)}


def test_syntax_skipped_without_nginx(install_dir, monkeypatch):
    monkeypatch.setattr(checks_syntax, "find_nginx", lambda: None)

    finding = _by_id(install_dir)["nginx.syntax"]

    assert finding.status == "skipped"
    assert "not installed" in finding.message


def test_syntax_skipped_when_turned_off(install_dir):
    assert _by_id(install_dir, nginx_syntax=False)["nginx.syntax"].status == "skipped"


def test_syntax_error_names_install_file(install_dir):
    conf = install_dir / "nginx.conf"
    conf.write_text(conf.read_text().replace("proxy_buffering off;", "proxy_buffering sometimes;", 1))

    finding = _by_id(install_dir)["nginx.syntax"]

    assert finding.status == "error"
    assert "nginx.conf:" in finding.message
    assert "dograh-nginx-t-" not in finding.message


@pytest.mark.parametrize("value, seconds", [
    ("3600", 3600), ("3600s", 3600), ("1h", 3600), ("60m", 3600), ("1h30m", 5400), ("500ms", 0.5),
    ("1d", 86400), ("", None), ("1x", None), ("h", None),
])
def test_parse_nginx_time(value, seconds):
    assert parse_nginx_time(value) == seconds


@pytest.mark.parametrize("pattern, host, matches", [
    ("dograh.example.com", "dograh.example.com", True),
    ("DOGRAH.example.com.", "dograh.example.com", True),
    ("*.example.com", "dograh.example.com", True),
    ("*.example.com", "a.b.example.com", False),
    ("*.example.com", "example.com", False),
    ("other.example.com", "dograh.example.com", False),
])
def test_certificate_name_matching(pattern, host, matches):
    assert _dns_matches(pattern, host) is matches


def _compose_findings(install_dir: Path, edit) -> dict:
    path = install_dir / "docker-compose.yaml"
    document = yaml.safe_load(path.read_text())
    edit(document)
    path.write_text(yaml.safe_dump(document))
    return {finding.id: finding.status for finding in check_compose(load_install(install_dir))}


def test_compose_long_form_mount_accepted(install_dir):
    def long_form(document):
        document["services"]["nginx"]["volumes"] = [
            {"type": "bind", "source": "./nginx.conf", "target": "/etc/nginx/conf.d/default.conf", "read_only": True},
        ]

    assert _compose_findings(install_dir, long_form)["compose.nginx_mount"] == "ok"


def test_compose_writable_mount_warns(install_dir):
    def writable(document):
        document["services"]["nginx"]["volumes"] = ["./nginx.conf:/etc/nginx/conf.d/default.conf"]

    assert _compose_findings(install_dir, writable)["compose.nginx_mount"] == "warning"


@pytest.mark.parametrize("environment, status", [
    (["FASTAPI_WORKERS=${FASTAPI_WORKERS}"], "ok"),
    (["FASTAPI_WORKERS"], "ok"),
    ({"FASTAPI_WORKERS": "$FASTAPI_WORKERS"}, "ok"),
    ({"FASTAPI_WORKERS": "${FASTAPI_WORKERS:?set it}"}, "ok"),
    ({"FASTAPI_WORKERS": 4}, "error"),
    ({"OTHER": "x"}, "error"),
])
def test_compose_api_workers_forms(install_dir, environment, status):
    def set_environment(document):
        document["services"]["api"]["environment"] = environment

    assert _compose_findings(install_dir, set_environment)["compose.api_workers"] == status


def test_compose_env_file_accepted(install_dir):
    def env_file(document):
        document["services"]["api"]["environment"] = {"OTHER": "x"}
        document["services"]["api"]["env_file"] = [".env"]

    assert _compose_findings(install_dir, env_file)["compose.api_workers"] == "ok"


def test_compose_invalid_yaml_is_error(install_dir):
    (install_dir / "docker-compose.yaml").write_text("services:\n  api: [unclosed\n")

    statuses = {finding.id: finding.status for finding in check_compose(load_install(install_dir))}

    assert statuses == {"compose.parse": "error"}


def test_shorter_api_prefix_counts(install_dir):
    conf = install_dir / "nginx.conf"
    conf.write_text(conf.read_text().replace("location /api/v1/ {", "location /api/ {"))

    findings = _by_id(install_dir, nginx_syntax=False)

    assert findings["location.api"].status == "ok"
    assert findings["location.proxy_pass"].status == "ok"
    assert findings["location.timeouts"].status == "ok"


def test_api_falling_to_ui_is_error(install_dir):
    conf = install_dir / "nginx.conf"
    conf.write_text(conf.read_text().replace("location /api/v1/ {", "location /api-old/ {"))

    finding = _by_id(install_dir, nginx_syntax=False)["location.api"]

    assert finding.status == "error"
    assert "location /, which proxies to http://ui:3010" in finding.message
