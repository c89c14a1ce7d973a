"""Sorting connection failures into the cases the live checks report apart."""

from __future__ import annotations

import ssl
from typing import Optional

# Reasons OpenSSL reports when a plain-HTTP server replies to a TLS ClientHello.
# OpenSSL 3.0 reports "wrong version number" (checked against a loopback
# http.server). NOTE: the other two are the reasons other OpenSSL releases
# are known to give for the same case, not checked here.
_NOT_TLS_REASONS = ("wrong version number", "wrong_version_number", "record layer failure",
                    "record_layer_failure", "packet length too long")
NOT_TLS_FIX = ("this port does not speak TLS (a plain-HTTP server answered the TLS handshake): pass "
               "nginx's HTTPS port to --url, such as https://HOST:443")

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


def is_not_tls(error: str) -> bool:
    """Return True when a connection error's text shows that the server replied without TLS."""
    lowered = error.lower()
    return any(reason in lowered for reason in _NOT_TLS_REASONS)
