"""Opening and holding the fan-out check's WebSockets through nginx.

The connections are made with the websockets asyncio client. Every
handshake carries ``X-Dograh-Probe: 1``, so nginx responds with
``X-Dograh-Upstream``: the address of every upstream it tried for that
request, comma-separated, the last one being the worker that served it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import List, Optional

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.protocol import State

from dograh_installer.live.connect_errors import certificate_error, describe_certificate_error
from dograh_installer.live.target import Target

PROBE_HEADERS = {"X-Dograh-Probe": "1"}
UPSTREAM_HEADER = "X-Dograh-Upstream"
# The test stand-in API sends this header on its 101 response. The Dograh API
# does not, so pre-fork detection by PID works only where a server sends it.
WORKER_PID_HEADER = "X-Dograh-Worker-Pid"


@dataclass
class Handshake:
    upstreams: List[str] = field(default_factory=list)  # from X-Dograh-Upstream, in the order nginx tried them
    status: Optional[int] = None  # 101, or the HTTP status of a rejected handshake
    error: str = ""  # a failure before any HTTP response
    certificate_error: str = ""
    worker_pid: str = ""
    connection: Optional[ClientConnection] = None
    dropped: bool = False  # closed by the other side while held

    @property
    def served_by(self) -> Optional[str]:
        return self.upstreams[-1] if self.upstreams else None

    @property
    def accepted(self) -> bool:
        return self.status == 101


def split_upstream_header(value: str) -> List[str]:
    # nginx joins the upstreams of one request with ", " and those of an
    # internal redirect with " : ".
    addresses = []
    for group in value.split(" : "):
        addresses += [address.strip() for address in group.split(",") if address.strip()]
    return addresses


async def open_one(target: Target, path: str, gate: asyncio.Semaphore, timeout: float) -> Handshake:
    result = Handshake()
    async with gate:
        try:
            connection = await connect(
                target.wss_url(path),
                ssl=target.ssl_context(),
                server_hostname=target.tls_name,
                host=target.connect_host,
                port=target.port,
                additional_headers=PROBE_HEADERS,
                open_timeout=timeout,
                # Keepalive pings are off because the hold is far shorter
                # than websockets' 20 s ping interval.
                ping_interval=None,
                close_timeout=2,
            )
        except InvalidStatus as exc:
            result.status = exc.response.status_code
            result.upstreams = split_upstream_header(exc.response.headers.get(UPSTREAM_HEADER, ""))
            return result
        except (OSError, asyncio.TimeoutError, WebSocketException) as exc:
            cert_error = certificate_error(exc)
            if cert_error is not None:
                result.certificate_error = describe_certificate_error(
                    cert_error, target.tls_name, str(target.cert_file))
            result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return result
    result.status = 101
    result.connection = connection
    headers = connection.response.headers
    result.upstreams = split_upstream_header(headers.get(UPSTREAM_HEADER, ""))
    result.worker_pid = headers.get(WORKER_PID_HEADER, "")
    return result


async def open_and_hold(target: Target, path: str, count: int, concurrency: int, hold: float,
                        handshake_timeout: float) -> List[Handshake]:
    """Open ``count`` WebSockets, at most ``concurrency`` handshakes at a time, and hold them together.

    A connection stays open after its handshake, so with a concurrency of 1
    nginx places each new connection while all earlier ones are still open.
    """
    gate = asyncio.Semaphore(concurrency)
    results = await asyncio.gather(*(open_one(target, path, gate, handshake_timeout) for _ in range(count)))
    try:
        await asyncio.sleep(hold)
        for result in results:
            if result.connection is not None and result.connection.state is not State.OPEN:
                result.dropped = True
    finally:
        await close_all(results)
    return list(results)


async def close_all(results: List[Handshake]) -> None:
    connections = [result.connection for result in results if result.connection is not None]
    await asyncio.gather(*(connection.close() for connection in connections), return_exceptions=True)
