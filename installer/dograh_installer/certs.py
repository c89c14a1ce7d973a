"""The self-signed certificate nginx serves, made with ``cryptography``."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dograh_installer.fileops import atomic_write, backup_path, fsync_directory

CERT_NAME = "local.crt"
KEY_NAME = "local.key"
VALIDITY_DAYS = 365


@dataclass
class CertificatePair:
    certificate_pem: bytes
    key_pem: bytes


def generate_self_signed(server_ip: str, public_host: str, days: int = VALIDITY_DAYS) -> CertificatePair:
    """Make a P-256 key and a certificate whose SAN carries the IP, and the DNS name if any.

    Browsers ignore the CN for IP addresses, so the IP must be an IP entry
    in subjectAltName.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.IPAddress(ipaddress.IPv4Address(server_ip))]
    if public_host != server_ip:
        try:
            names.append(x509.IPAddress(ipaddress.IPv4Address(public_host)))
        except ipaddress.AddressValueError:
            names.append(x509.DNSName(public_host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, public_host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return CertificatePair(
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def stage_pair(parent: Path, pair: CertificatePair, name: str = "certs") -> Path:
    """Write key and certificate into a fresh temp directory under ``parent`` and return it.

    Renaming that directory to ``certs`` as a whole means ``certs`` never
    contains a key without its certificate.
    """
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=parent))
    try:
        os.chmod(staging, 0o755)
        atomic_write(staging / KEY_NAME, pair.key_pem, mode=0o600)
        atomic_write(staging / CERT_NAME, pair.certificate_pem, mode=0o644)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def install_pair(certs_dir: Path, pair: CertificatePair, timestamp: str) -> Optional[Path]:
    """Put key and certificate in place together; return the old directory's backup.

    An existing ``certs`` directory is renamed to its backup name first.
    """
    parent = certs_dir.parent
    staging = stage_pair(parent, pair, certs_dir.name)
    try:
        backup = None
        if certs_dir.exists():
            backup = backup_path(certs_dir, timestamp)
            os.rename(certs_dir, backup)
        os.rename(staging, certs_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_directory(parent)
    return backup
