"""The TLS certificate nginx serves: present, matching its key, in date, naming PUBLIC_HOST."""

from __future__ import annotations

import datetime
import ipaddress
import os
from typing import List, Optional

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from dograh_installer.certs import CERT_NAME, KEY_NAME
from dograh_installer.doctor.dograh_command import dograh_command
from dograh_installer.doctor.install_files import InstallFiles
from dograh_installer.doctor.nginx_query import tls_servers
from dograh_installer.findings import ERROR, OK, SKIPPED, WARNING, Finding
from dograh_installer.nginx_conf import DEFAULT_CERT_DIR

GROUP = "certificate"
EXPIRY_WARNING_DAYS = 30


def _served_paths(files: InstallFiles) -> Optional[str]:
    """Return the ssl_certificate path nginx uses when it lies outside the mounted certs directory."""
    if files.nginx is None:
        return None
    for server in tls_servers(files.nginx):
        for directive in server.find("ssl_certificate"):
            if directive.args and not directive.args[0].startswith(DEFAULT_CERT_DIR + "/"):
                return directive.args[0]
    return None


def check_certs(files: InstallFiles, now: Optional[datetime.datetime] = None) -> List[Finding]:
    outside = _served_paths(files)
    if outside is not None:
        return [Finding(
            "certs.files", SKIPPED,
            f"nginx serves {outside}, which is outside the install directory; check it with its issuer's tools",
            group=GROUP)]
    cert_path = files.certs_dir / CERT_NAME
    key_path = files.certs_dir / KEY_NAME
    missing = [path.name for path in (cert_path, key_path) if not path.is_file()]
    if missing:
        return [Finding(
            "certs.files", ERROR,
            f"certs/{' and certs/'.join(missing)} missing: nginx fails to start without its certificate and key",
            "restore certs/ from its newest certs.bak.* backup, or put a certificate and key for PUBLIC_HOST there",
            GROUP)]
    findings = [Finding("certs.files", OK, f"certs/{CERT_NAME} and certs/{KEY_NAME} are present", group=GROUP)]

    if not os.access(key_path, os.R_OK):
        return findings + [Finding(
            "certs.parse", SKIPPED, f"certs/{KEY_NAME} is not readable by this user, so the certificate checks "
            "did not run", f"sudo {dograh_command(files.directory, 'doctor')}", GROUP)]
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        return findings + [Finding(
            "certs.parse", ERROR, f"certs/{CERT_NAME} is not a PEM certificate: nginx fails to start",
            "put a PEM certificate for PUBLIC_HOST in certs/local.crt", GROUP)]
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError):
        return findings + [Finding(
            "certs.parse", ERROR, f"certs/{KEY_NAME} is not an unencrypted PEM private key: nginx fails to start",
            "put the certificate's unencrypted PEM key in certs/local.key", GROUP)]

    findings.append(_check_key_match(certificate, key))
    findings.append(_check_expiry(certificate, now or datetime.datetime.now(datetime.timezone.utc)))
    host = files.values.get("PUBLIC_HOST")
    if host:
        findings.append(_check_san(certificate, host))
    return findings


def _public_bytes(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _check_key_match(certificate: x509.Certificate, key) -> Finding:
    if _public_bytes(certificate.public_key()) == _public_bytes(key.public_key()):
        return Finding("certs.key_match", OK, "the key matches the certificate", group=GROUP)
    return Finding(
        "certs.key_match", ERROR,
        f"certs/{KEY_NAME} does not match certs/{CERT_NAME}: the key belongs to another certificate, "
        "and nginx fails to start",
        "put the certificate's own key in certs/local.key, or restore certs/ from a certs.bak.* backup", GROUP)


def _not_after(certificate: x509.Certificate) -> datetime.datetime:
    # not_valid_after_utc exists from cryptography 42; the naive attribute is UTC.
    value = getattr(certificate, "not_valid_after_utc", None)
    return value if value is not None else certificate.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def _check_expiry(certificate: x509.Certificate, now: datetime.datetime) -> Finding:
    expires = _not_after(certificate)
    day = expires.strftime("%Y-%m-%d")
    renew = "renew it and put the new certificate and key in certs/"
    if expires <= now:
        return Finding("certs.expiry", ERROR, f"the certificate expired on {day}: browsers reject the site",
                       renew, GROUP, data={"not_after": expires.isoformat()})
    days = (expires - now).days
    if days < EXPIRY_WARNING_DAYS:
        return Finding("certs.expiry", WARNING, f"the certificate expires on {day}, in {days} days",
                       renew, GROUP, data={"not_after": expires.isoformat()})
    return Finding("certs.expiry", OK, f"the certificate is valid until {day}", group=GROUP,
                   data={"not_after": expires.isoformat()})


def _dns_matches(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        # A wildcard covers exactly one leftmost label.
        label, _, rest = host.partition(".")
        return bool(label) and rest == pattern[2:]
    return pattern == host


def _check_san(certificate: x509.Certificate, host: str) -> Finding:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names = x509.SubjectAlternativeName([])
    try:
        address: Optional[ipaddress._BaseAddress] = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        covered = address in names.get_values_for_type(x509.IPAddress)
        kind = "IP address entry"
    else:
        covered = any(_dns_matches(name, host) for name in names.get_values_for_type(x509.DNSName))
        kind = "DNS name entry"
    if covered:
        return Finding("certs.san", OK, f"the certificate's subjectAltName covers {host}", group=GROUP)
    common_names = [attribute.value for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    detail = " (only in the CN, which browsers ignore)" if host in common_names else ""
    return Finding(
        "certs.san", ERROR,
        f"the certificate's subjectAltName has no {kind} for PUBLIC_HOST={host}{detail}: browsers reject it",
        f"get a certificate for {host} from an ACME client such as certbot, point nginx.conf's "
        "ssl_certificate and ssl_certificate_key at its certificate and key, and mount their directory into "
        "the nginx service (for certbot, add '/etc/letsencrypt:/etc/letsencrypt:ro' to the nginx volumes in "
        "docker-compose.yaml); or put a certificate whose "
        f"subjectAltName lists {host} in certs/{CERT_NAME} with its own private key in certs/{KEY_NAME} "
        "(nginx fails to start when the key does not match)", GROUP)
