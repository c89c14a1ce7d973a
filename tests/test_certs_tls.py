"""The install's certificate: its contents, and a real TLS handshake with nginx serving it on loopback."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from pathlib import Path
from typing import Iterator, Tuple

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dograh_installer.nginx_runtime import NginxServer, loopback_config
from tests.conftest import EXAMPLE_IP, base_env, run_pyz
from tests.support.install_checks import assert_certificate_matches_key, assert_complete_install

LOOPBACK_IP = "127.0.0.1"
TLS_HOST = "dograh.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK_IP, 0))
        return sock.getsockname()[1]


def install(pyz, shiv_root, target: Path, **variables: str):
    result = run_pyz(pyz, ["install"], base_env(shiv_root, DOGRAH_DIR=str(target), **variables), cwd=target.parent)
    assert result.returncode == 0, result.stderr
    return result


def load_certificate(directory: Path) -> x509.Certificate:
    return assert_certificate_matches_key(directory / "certs" / "local.crt", directory / "certs" / "local.key")


def subject_alt_names(certificate: x509.Certificate) -> x509.SubjectAlternativeName:
    return certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


@pytest.fixture(scope="module")
def served_install(pyz, shiv_root, tmp_path_factory) -> Iterator[Tuple[Path, int]]:
    """An install for SERVER_IP 127.0.0.1 and PUBLIC_HOST dograh.test, served by a real nginx on loopback."""
    target = tmp_path_factory.mktemp("tls") / "dograh"
    result = install(pyz, shiv_root, target, SERVER_IP=LOOPBACK_IP, PUBLIC_HOST=TLS_HOST)
    assert "warning: SERVER_IP 127.0.0.1 is in the non-public range 127.0.0.0/8" in result.stderr
    assert "self-signed" in result.stderr
    assert_complete_install(target)

    https_port = free_port()
    conf = loopback_config(
        (target / "nginx.conf").read_text(encoding="utf-8"), target / "certs",
        http_listen=f"{LOOPBACK_IP}:{free_port()}", https_listen=f"{LOOPBACK_IP}:{https_port}",
    )
    prefix = tmp_path_factory.mktemp("nginx-prefix")
    server = NginxServer(prefix, conf, worker_processes=1)
    server.start(wait_port=https_port)
    try:
        yield target, https_port
    finally:
        server.stop()


def test_certificate_for_ip(pyz, shiv_root, tmp_path):
    target = tmp_path / "dograh"
    install(pyz, shiv_root, target, SERVER_IP=EXAMPLE_IP)

    certificate = load_certificate(target)
    san = subject_alt_names(certificate)
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.IPv4Address(EXAMPLE_IP)]
    assert san.get_values_for_type(x509.DNSName) == []
    assert certificate.issuer == certificate.subject

    now = datetime.datetime.now(datetime.timezone.utc)
    assert certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert abs(lifetime - datetime.timedelta(days=365)) < datetime.timedelta(hours=1)
    assert abs(certificate.not_valid_after_utc - now - datetime.timedelta(days=365)) < datetime.timedelta(hours=1)


def test_certificate_for_dns_name(served_install):
    target, _ = served_install

    san = subject_alt_names(load_certificate(target))
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.IPv4Address(LOOPBACK_IP)]
    assert san.get_values_for_type(x509.DNSName) == [TLS_HOST]


def trusting_only(target: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(target / "certs" / "local.crt"))


def test_handshake_trusting_only_install_cert(served_install):
    target, port = served_install
    expected_der = x509.load_pem_x509_certificate((target / "certs" / "local.crt").read_bytes()).public_bytes(
        serialization.Encoding.DER
    )

    with httpx.Client(verify=trusting_only(target), timeout=10) as client:
        response = client.get(f"https://{LOOPBACK_IP}:{port}/api/v1/health")
        peer_der = response.extensions["network_stream"].get_extra_info("ssl_object").getpeercert(True)

    # nginx sends every response here itself (it drops an upstream's Server
    # header), so a response with its Server header proves the handshake completed.
    assert response.headers["server"].startswith("nginx")
    assert peer_der == expected_der


def test_handshake_verifies_dns_name(served_install):
    target, port = served_install

    with httpx.Client(verify=trusting_only(target), timeout=10) as client:
        response = client.get(f"https://{LOOPBACK_IP}:{port}/", headers={"Host": TLS_HOST},
                              extensions={"sni_hostname": TLS_HOST})

    assert response.headers["server"].startswith("nginx")


def test_name_outside_certificate_fails(served_install):
    target, port = served_install

    with httpx.Client(verify=trusting_only(target), timeout=10) as client:
        with pytest.raises(httpx.ConnectError) as failure:
            client.get(f"https://{LOOPBACK_IP}:{port}/", extensions={"sni_hostname": "other.test"})

    assert "CERTIFICATE_VERIFY_FAILED" in str(failure.value)
    assert "other.test" in str(failure.value)


def test_default_trust_store_rejects_cert(served_install):
    _, port = served_install

    with httpx.Client(timeout=10) as client:
        with pytest.raises(httpx.ConnectError) as failure:
            client.get(f"https://{LOOPBACK_IP}:{port}/api/v1/health")

    assert "CERTIFICATE_VERIFY_FAILED" in str(failure.value)
    # OpenSSL 3 writes "self-signed certificate", OpenSSL 1.1 "self signed certificate".
    assert "self-signed certificate" in str(failure.value) or "self signed certificate" in str(failure.value)
