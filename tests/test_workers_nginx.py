"""A real nginx spreads probe requests over 6 workers after ``dograh workers 6``.

nginx serves the install's own nginx.conf (loopback substitution only) in
a private network namespace, so the upstream's fixed ports 8000-8005 never
collide with other programs on the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dograh_installer.nginx_runtime import NginxServer, find_nginx, loopback_config
from tests.conftest import ROOT, base_env, run_pyz
from tests.support.fresh_install import make_install
from tests.support.private_netns import private_network_namespace, unavailable_reason

NAMESPACE_PROBLEM = unavailable_reason()
pytestmark = [
    pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed"),
    pytest.mark.skipif(NAMESPACE_PROBLEM is not None, reason=f"no private network namespace: {NAMESPACE_PROBLEM}"),
]

PROBE_URL = "https://127.0.0.1:8443/api/v1/health"
# least_conn falls back to weighted round-robin among the workers with the
# fewest connections, so sequential requests visit every worker. Five
# rounds per worker are a margin, not a requirement.
REQUESTS_PER_WORKER = 5


def upstream_ports(namespace, ca_file: Path, count: int) -> set:
    command = namespace.argv([sys.executable, "-m", "tests.support.port_echo_servers", "probe", PROBE_URL,
                              str(ca_file), str(count)])
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return {int(address.rpartition(":")[2]) for address in json.loads(result.stdout)}


def test_workers_six_reaches_six_ports(pyz, shiv_root, tmp_path):
    install = make_install(tmp_path / "dograh", workers=4)
    certs = install / "certs"
    prefix = tmp_path / "nginx"
    prefix.mkdir()

    with private_network_namespace() as namespace:
        echo = subprocess.Popen(
            namespace.argv([sys.executable, "-m", "tests.support.port_echo_servers", "serve",
                            *[str(port) for port in range(8000, 8006)]]),
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )
        wrapper = namespace.write_wrapper(tmp_path / "nginx-in-namespace", find_nginx())
        server = NginxServer(prefix, loopback_config((install / "nginx.conf").read_text(), certs), nginx=str(wrapper))
        try:
            assert echo.stdout.readline().strip() == "ready"
            server.start()

            before = upstream_ports(namespace, certs / "local.crt", 4 * REQUESTS_PER_WORKER)
            assert before == {8000, 8001, 8002, 8003}

            result = run_pyz(pyz, ["workers", "6", "--yes", "--no-restart", "--dir", str(install)],
                             base_env(shiv_root))
            assert result.returncode == 0, result.stdout + result.stderr
            server.reload(loopback_config((install / "nginx.conf").read_text(), certs))

            after = upstream_ports(namespace, certs / "local.crt", 6 * REQUESTS_PER_WORKER)
            assert after == {8000, 8001, 8002, 8003, 8004, 8005}
        finally:
            server.stop()
            echo.terminate()
            echo.wait(timeout=10)
