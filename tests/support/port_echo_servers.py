"""HTTP servers that respond with their own port number, and a client that reads X-Dograh-Upstream.

Both run as subprocesses, so a test can start them inside a private network
namespace where the fixed worker ports 8000 and up cannot collide with
anything else on the machine:

    python3 -m tests.support.port_echo_servers serve 8000 8001 ...
    python3 -m tests.support.port_echo_servers probe https://127.0.0.1:8443/api/v1/x CA_FILE COUNT
"""

from __future__ import annotations

import http.client
import json
import signal
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List

CONNECT_TIMEOUT = 10.0


class PortEchoHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps nginx's upstream keepalive connections usable.
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = str(self.server.server_address[1]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        pass


def serve(ports: List[int]) -> None:
    """Listen on 127.0.0.1 at every port; print "ready" once all are bound; stop on SIGTERM."""
    servers = [ThreadingHTTPServer(("127.0.0.1", port), PortEchoHandler) for port in ports]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    print("ready", flush=True)
    stop.wait()
    for server in servers:
        server.shutdown()


def probe(url: str, ca_file: str, count: int) -> List[str]:
    """Send ``count`` probe requests, each on a new connection; return every upstream address nginx tried."""
    parsed = urllib.parse.urlsplit(url)
    context = ssl.create_default_context(cafile=ca_file)
    # The install's certificate names the public host, not 127.0.0.1.
    context.check_hostname = False
    addresses: List[str] = []
    deadline = time.monotonic() + CONNECT_TIMEOUT
    sent = 0
    while sent < count:
        connection = http.client.HTTPSConnection(parsed.hostname, parsed.port, context=context, timeout=5)
        try:
            connection.request("GET", parsed.path, headers={"X-Dograh-Probe": "1"})
            response = connection.getresponse()
            response.read()
        except ConnectionRefusedError:
            # nginx may still be starting; only the first request waits for it.
            if sent or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"{url} returned HTTP {response.status}, expected 200")
        header = response.getheader("X-Dograh-Upstream") or ""
        addresses += [address.strip() for address in header.split(",") if address.strip()]
        sent += 1
    return addresses


def main(argv: List[str]) -> int:
    if argv[:1] == ["serve"]:
        serve([int(port) for port in argv[1:]])
        return 0
    if argv[:1] == ["probe"] and len(argv) == 4:
        print(json.dumps(probe(argv[1], argv[2], int(argv[3]))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
