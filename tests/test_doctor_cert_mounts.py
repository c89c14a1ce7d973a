"""compose.cert_mount: certificate paths in nginx.conf against the nginx service's volumes."""

from __future__ import annotations

import pytest
import yaml

from dograh_installer.doctor.checks import run_checks
from tests.support.fresh_install import make_install

LETSENCRYPT_CERT = "/etc/letsencrypt/live/voice.example.com/fullchain.pem"


@pytest.fixture()
def install(tmp_path):
    return make_install(tmp_path / "dograh")


def cert_mount(directory):
    return [finding for finding in run_checks(directory, nginx_syntax=False) if finding.id == "compose.cert_mount"]


def point_certificate(directory, path):
    nginx = directory / "nginx.conf"
    nginx.write_text(nginx.read_text().replace("/etc/nginx/certs/local.crt", path))


def set_nginx_volumes(directory, volumes):
    compose_path = directory / "docker-compose.yaml"
    document = yaml.safe_load(compose_path.read_text())
    document["services"]["nginx"]["volumes"] = volumes
    compose_path.write_text(yaml.safe_dump(document))


def test_fresh_install_passes(install):
    [finding] = cert_mount(install)

    assert finding.status == "ok"


def test_letsencrypt_path_unmounted(install):
    point_certificate(install, LETSENCRYPT_CERT)

    [finding] = cert_mount(install)

    assert finding.status == "error"
    assert LETSENCRYPT_CERT in finding.message
    assert "'/etc/letsencrypt:/etc/letsencrypt:ro'" in finding.fix
    assert finding.data["mounts"] == ["/etc/letsencrypt:/etc/letsencrypt:ro"]


def test_long_syntax_volume_counts(install):
    point_certificate(install, LETSENCRYPT_CERT)
    set_nginx_volumes(install, [
        "./nginx.conf:/etc/nginx/conf.d/default.conf:ro",
        "./certs:/etc/nginx/certs:ro",
        {"type": "bind", "source": "/etc/letsencrypt", "target": "/etc/letsencrypt", "read_only": True},
    ])

    [finding] = cert_mount(install)

    assert finding.status == "ok", finding.message


def test_relative_path_resolves_under_prefix(install):
    # nginx resolves a relative path against /etc/nginx, so certs/local.crt is the mounted file.
    point_certificate(install, "certs/local.crt")

    [finding] = cert_mount(install)

    assert finding.status == "ok", finding.message


def test_certs_mount_removed(install):
    set_nginx_volumes(install, ["./nginx.conf:/etc/nginx/conf.d/default.conf:ro"])

    [finding] = cert_mount(install)

    assert finding.status == "error"
    assert finding.data["paths"] == ["/etc/nginx/certs/local.crt", "/etc/nginx/certs/local.key"]
    assert finding.data["mounts"] == ["./certs:/etc/nginx/certs:ro"]
