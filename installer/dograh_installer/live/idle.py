"""The idle check: hold one WebSocket silent past nginx's 60 s proxy_read_timeout default.

nginx closes a proxied connection when nothing arrives from the upstream
for proxy_read_timeout (60 s unless set), which cuts a call whose audio
pauses. The check sends nothing and has keepalive pings off for the hold,
then sends one ping to prove the connection still works.
"""

from __future__ import annotations

import asyncio
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from dograh_installer.findings import ERROR, OK, Finding
from dograh_installer.live import commands
from dograh_installer.live.fanout_probe import PROBE_HEADERS
from dograh_installer.live.target import Target

GROUP = "live"
PONG_TIMEOUT = 10.0


async def check_idle(target: Target, path: str, idle: float, handshake_timeout: float) -> Finding:
    try:
        connection = await connect(
            target.wss_url(path), ssl=target.ssl_context(), server_hostname=target.tls_name,
            host=target.connect_host, port=target.port, additional_headers=PROBE_HEADERS,
            open_timeout=handshake_timeout, ping_interval=None, close_timeout=2,
        )
    except InvalidStatus as exc:
        return Finding(id="live.idle", status=ERROR, group=GROUP,
                       message=f"idle check: the WebSocket handshake to {path} got HTTP "
                               f"{exc.response.status_code}, so the idle timeout could not be checked",
                       fix="pass --ws-path with a WebSocket endpoint under /api/v1/ that accepts the probe")
    except (OSError, asyncio.TimeoutError, WebSocketException) as exc:
        return Finding(id="live.idle", status=ERROR, group=GROUP,
                       message=f"idle check: the WebSocket handshake to {path} failed: {type(exc).__name__}: {exc}")
    started = time.monotonic()
    try:
        await asyncio.wait_for(_drain_until_closed(connection), timeout=idle)
    except asyncio.TimeoutError:
        pass
    idle_seconds = time.monotonic() - started
    try:
        if connection.state.name == "OPEN":
            pong = await connection.ping()
            await asyncio.wait_for(pong, PONG_TIMEOUT)
            return Finding(id="live.idle", status=OK, group=GROUP, data={"idle_seconds": round(idle_seconds, 1)},
                           message=f"a WebSocket stayed open through {idle_seconds:.0f} s without traffic")
    except (ConnectionClosed, asyncio.TimeoutError):
        pass
    finally:
        await connection.close()
    return Finding(
        id="live.idle", status=ERROR, group=GROUP, data={"closed_after_seconds": round(idle_seconds, 1)},
        message=f"the stack closed an idle WebSocket after {idle_seconds:.0f} s; calls with silence that long are cut "
                "(nginx's proxy_read_timeout defaults to 60 s)",
        fix="set 'proxy_read_timeout 3600s;' and 'proxy_send_timeout 3600s;' in the /api/v1/ location "
            f"({commands.doctor_fix(target.directory)})",
    )


async def _drain_until_closed(connection) -> None:
    """Read and drop messages (a server greeting, say) until the connection closes."""
    try:
        async for _message in connection:
            pass
    except ConnectionClosed:
        pass
