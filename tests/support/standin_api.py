"""A stand-in for the Dograh API, small enough to run many copies in tests.

It serves ``GET /api/v1/health`` and accepts a WebSocket on any path under
``/api/v1/`` except ``/api/v1/ws/private/...``, where it rejects the
handshake with HTTP 403. The 101 response carries ``X-Dograh-Worker-Pid``, and the
first message is JSON with the worker's port and PID. The connection then
stays open until the client closes it.

If ``DOGRAH_STANDIN_STATE`` names a directory, every accepted WebSocket
appends a line to ``accepted-<port>-<pid>`` there, so a test harness can
tell when all of a check's connections are held.

Run with: ``uvicorn tests.support.standin_api:app --port 8000``.
"""

from __future__ import annotations

import json
import os

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket


async def health(request) -> JSONResponse:
    return JSONResponse({"status": "ok", "pid": os.getpid()})


def _record_accept(port: int) -> None:
    state = os.environ.get("DOGRAH_STANDIN_STATE")
    if state:
        with open(os.path.join(state, f"accepted-{port}-{os.getpid()}"), "a", encoding="utf-8") as handle:
            handle.write("1\n")


async def hold_websocket(websocket: WebSocket) -> None:
    port = websocket.scope["server"][1]
    pid = os.getpid()
    await websocket.accept(headers=[(b"x-dograh-worker-pid", str(pid).encode())])
    _record_accept(port)
    await websocket.send_text(json.dumps({"port": port, "pid": pid}))
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            break


async def reject_websocket(websocket: WebSocket) -> None:
    # Closing before accept makes uvicorn answer the handshake with HTTP 403,
    # as the Dograh API does for a WebSocket route that needs a login.
    await websocket.close(code=1008)


app = Starlette(routes=[
    Route("/api/v1/health", health),
    WebSocketRoute("/api/v1/ws/private/{path:path}", reject_websocket),
    WebSocketRoute("/api/v1/{path:path}", hold_websocket),
])
