"""Connection target of the live checks: the address, and the TLS name and trust anchor they verify.

By default the checks connect to ``https://PUBLIC_HOST``. With ``--url`` they
connect to that address instead, for example nginx on 127.0.0.1 through an
SSH tunnel. They still verify the certificate for PUBLIC_HOST and send it as
SNI and Host, because nginx's certificate and server_name carry that name.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional
from urllib.parse import urlsplit

from dograh_installer.doctor.dograh_command import dograh_command
from dograh_installer.errors import InputError, UsageError

CERT_PATH = Path("certs") / "local.crt"


@dataclass
class Target:
    connect_host: str  # the address the TCP connection goes to
    port: int
    tls_name: str  # PUBLIC_HOST: verified in the certificate and sent as SNI and Host
    cert_file: Path
    directory: Path  # the install directory, named in the commands that findings suggest
    _context: Optional[ssl.SSLContext] = field(default=None, repr=False, compare=False)

    @property
    def host_header(self) -> str:
        name = f"[{self.tls_name}]" if ":" in self.tls_name else self.tls_name
        return name if self.port == 443 else f"{name}:{self.port}"

    def https_url(self, path: str) -> str:
        host = f"[{self.connect_host}]" if ":" in self.connect_host else self.connect_host
        return f"https://{host}:{self.port}{path}"

    def wss_url(self, path: str) -> str:
        """Return the URL whose host part websockets sends as Host; the TCP target is passed apart."""
        return f"wss://{self.host_header}{path}"

    def ssl_context(self) -> ssl.SSLContext:
        """Return a context that trusts only the install's own certificate.

        One context serves every connection: building one per WebSocket
        costs a few hundred KB each, which a 1,000-connection check notices.
        """
        if self._context is not None:
            return self._context
        try:
            context = ssl.create_default_context(cafile=str(self.cert_file))
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot load the install's certificate {self.cert_file}: {exc}; "
                             f"run '{dograh_command(self.directory, 'doctor')}' to check the install directory") from exc
        self._context = context
        return context

    def request_extensions(self) -> Dict[str, str]:
        """Return httpx request extensions that make TLS verify PUBLIC_HOST on the --url address."""
        return {"sni_hostname": self.tls_name}


def resolve_target(directory: Path, url: Optional[str], public_host: Optional[str]) -> Target:
    """Build the target from ``--url`` and PUBLIC_HOST; raise InputError for a bad URL."""
    if not url and not public_host:
        raise UsageError(f"PUBLIC_HOST is missing from {directory / '.env'}; set it, or pass --url")
    if url:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise InputError("--url", f"invalid URL {url!r}: expected https://HOST[:PORT], the address of nginx")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise InputError("--url", f"invalid URL {url!r}: give only https://HOST[:PORT]; "
                                      "the checks add /api/v1/... themselves")
        try:
            port = parts.port or 443
        except ValueError:
            raise InputError("--url", f"invalid port in {url!r}: expected 1-65535") from None
        connect_host = parts.hostname
    else:
        connect_host, port = str(public_host), 443
    return Target(
        connect_host=connect_host,
        port=port,
        tls_name=public_host or connect_host,
        cert_file=directory / CERT_PATH,
        directory=directory,
    )
