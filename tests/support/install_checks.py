"""Checks that an install directory is complete and consistent, shared by the install tests."""

from __future__ import annotations

import hashlib
import ipaddress
import stat
from pathlib import Path
from typing import Dict

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dograh_installer import __version__
from dograh_installer.envfile import ENV_KEYS, read_env
from dograh_installer.nginx_conf import parse_nginx_text
from dograh_installer.nginx_runtime import check_config_text
from dograh_installer.templates import render_template
from dograh_installer.turn_conf import last_value, read_turnserver

INSTALL_FILES = ["docker-compose.yaml", ".env", "nginx.conf", "turnserver.conf", "certs/local.crt", "certs/local.key"]
TEXT_FILES = ["docker-compose.yaml", ".env", "nginx.conf", "turnserver.conf", "certs/local.crt"]
SECRET_FILES = [".env", "certs/local.key"]


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_text_file_clean(path: Path) -> None:
    """UTF-8 without a byte-order mark, LF line endings, ending in a newline."""
    data = path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf"), f"{path} starts with a UTF-8 byte-order mark"
    assert b"\r" not in data, f"{path} contains a carriage return"
    data.decode("utf-8")
    assert data.endswith(b"\n"), f"{path} does not end with a newline"


def assert_certificate_matches_key(cert_path: Path, key_path: Path) -> x509.Certificate:
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    public_format = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert certificate.public_key().public_bytes(*public_format) == key.public_key().public_bytes(*public_format), \
        f"{key_path} does not belong to {cert_path}"
    return certificate


def assert_complete_install(directory: Path, run_nginx_check: bool = True) -> Dict[str, str]:
    """Assert that ``directory`` contains a complete, self-consistent install; return its .env values.

    The same checks apply to a fresh install, a forced overwrite and an
    install that survived a kill, so every test that ends with an install
    directory calls this.
    """
    for name in INSTALL_FILES:
        assert (directory / name).is_file(), f"{name} is missing from {directory}"
    for name in TEXT_FILES:
        assert_text_file_clean(directory / name)
    for name in SECRET_FILES:
        assert file_mode(directory / name) == 0o600, f"{name} has mode {oct(file_mode(directory / name))}"
    leftovers = sorted(entry.name for entry in directory.glob(".*.tmp"))
    assert leftovers == [], f"temporary files left in {directory}: {leftovers}"

    env = read_env(directory / ".env")
    assert env.error_lines == [], f".env has lines python-dotenv cannot parse: {env.error_lines}"
    values = env.values()
    for key in ENV_KEYS:
        assert values.get(key), f".env has no value for {key}"
    assert values["ENVIRONMENT"] == "production"
    assert values["ENABLE_COTURN"] == "true"
    assert values["PUBLIC_BASE_URL"] == f"https://{values['PUBLIC_HOST']}"
    workers = int(values["FASTAPI_WORKERS"])

    compose_text = (directory / "docker-compose.yaml").read_text(encoding="utf-8")
    assert compose_text == render_template("compose/docker-compose.yaml.template", {"version": __version__})

    nginx_text = (directory / "nginx.conf").read_text(encoding="utf-8")
    upstream = parse_nginx_text(nginx_text).upstream()
    assert upstream is not None, "nginx.conf has no upstream dograh_api"
    assert upstream.ports() == list(range(8000, 8000 + workers))
    assert {server.host for server in upstream.servers} == {"api"}
    server_names = {
        tuple(child.args)
        for directive in parse_nginx_text(nginx_text).walk() if directive.name == "server" and directive.block
        for child in directive.block if child.name == "server_name"
    }
    assert server_names == {(values["PUBLIC_HOST"],)}
    if run_nginx_check:
        result = check_config_text(nginx_text, directory / "certs")
        assert result.returncode == 0, f"nginx -t failed on {directory / 'nginx.conf'}:\n{result.stderr}"

    turn = read_turnserver(directory / "turnserver.conf")
    assert last_value(turn, "static-auth-secret").value == values["TURN_SECRET"]
    assert last_value(turn, "external-ip").value == values["SERVER_IP"]
    assert last_value(turn, "realm").value == values["PUBLIC_HOST"]
    assert last_value(turn, "listening-port").value == "3478"
    assert last_value(turn, "tls-listening-port").value == "5349"
    assert last_value(turn, "min-port").value == "49152"
    assert last_value(turn, "max-port").value == "49200"
    assert last_value(turn, "use-auth-secret") is not None

    certificate = assert_certificate_matches_key(directory / "certs/local.crt", directory / "certs/local.key")
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.IPv4Address(values["SERVER_IP"]) in san.get_values_for_type(x509.IPAddress)
    return values


def tree_snapshot(directory: Path) -> Dict[str, tuple]:
    """Map each path under ``directory`` to its type, mode, owner and content hash."""
    snapshot: Dict[str, tuple] = {}
    for path in sorted([directory, *directory.rglob("*")]):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(info.st_mode) else None
        snapshot[str(path.relative_to(directory))] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode),
                                                       info.st_uid, info.st_gid, digest)
    return snapshot
