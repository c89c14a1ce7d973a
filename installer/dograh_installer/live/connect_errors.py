"""Sorting connection failures into the cases the live checks report apart."""

from __future__ import annotations

import ssl
from typing import Optional

# Codes from OpenSSL's X509_V_ERR_* list.
_HOSTNAME_MISMATCH = 62
_IP_ADDRESS_MISMATCH = 64


def certificate_error(exc: BaseException) -> Optional[ssl.SSLCertVerificationError]:
    """Return the certificate verification error behind ``exc`` (httpx and websockets wrap it), if any."""
    seen = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def describe_certificate_error(error: ssl.SSLCertVerificationError, tls_name: str, cert_file: str) -> str:
    if error.verify_code in (_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH):
        return f"the certificate nginx serves is not valid for PUBLIC_HOST {tls_name} ({error.verify_message})"
    return (f"the certificate nginx serves is not the install's {cert_file} "
            f"({error.verify_message or error.reason})")
