"""Invalid ``doctor --live`` options: one clear error, exit code 2, nothing written."""

from __future__ import annotations

import socket

import pytest

from dograh_installer.install import InstallSettings, run_install
from tests.conftest import EXAMPLE_IP, base_env, run_pyz


@pytest.fixture
def install(tmp_path):
    directory = tmp_path / "dograh"
    run_install(InstallSettings(directory=directory, server_ip=EXAMPLE_IP, public_host=EXAMPLE_IP, turn_secret=None,
                                workers=2, enable_telemetry=False, force_turn_relay=False), {}, lambda note: None)
    return directory


@pytest.mark.parametrize("args, named, expected", [
    (["--url", "http://127.0.0.1:18443"], "--url", "expected https://HOST[:PORT]"),
    (["--url", "https://127.0.0.1:18443/api/v1/health"], "--url", "give only https://HOST[:PORT]"),
    (["--url", "https://127.0.0.1:99999"], "--url", "invalid port"),
    (["--ws-path", "/ws/probe"], "--ws-path", "expected a path under /api/v1/"),
])
def test_invalid_live_option_exits_2(install, pyz, shiv_root, args, named, expected):
    before = sorted((path.name, path.stat().st_mtime_ns) for path in install.iterdir())
    result = run_pyz(pyz, ["doctor", "--live", "--dir", str(install), *args], base_env(shiv_root))
    assert result.returncode == 2, result.stdout + result.stderr
    assert named in result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted((path.name, path.stat().st_mtime_ns) for path in install.iterdir()) == before


@pytest.fixture
def listener():
    """A loopback TCP socket standing in for nginx, to show that no connection was made."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.setblocking(False)
    yield server
    server.close()


def connection_made(server: socket.socket) -> bool:
    # The kernel completes a client's connect into the backlog, so any attempt is waiting here.
    try:
        accepted, _address = server.accept()
    except BlockingIOError:
        return False
    accepted.close()
    return True


@pytest.mark.parametrize("args, named, expected", [
    # The install's upstream lists 2 workers.
    (["--connections", "1"], ["--connections"], "pass --connections 2 or more"),
    (["--timeout", "2", "--hold", "5"], ["--timeout", "--hold 5"], "pass --timeout 14 or more"),
    (["--timeout", "6", "--hold", "5", "--concurrency", "1"], ["--timeout", "--hold 5"], "pass --timeout 7 or more"),
    (["--timeout", "5", "--hold", "1", "--idle-check", "4"], ["--timeout", "--idle-check 4"],
     "pass --timeout 10 or more"),
])
def test_option_conflict_exits_2(install, pyz, shiv_root, listener, args, named, expected):
    url = f"https://127.0.0.1:{listener.getsockname()[1]}"
    result = run_pyz(pyz, ["doctor", "--live", "--dir", str(install), "--url", url, *args], base_env(shiv_root))
    assert result.returncode == 2, result.stdout + result.stderr
    for name in named:
        assert name in result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not connection_made(listener)


def test_connections_at_worker_count_is_accepted(install, pyz, shiv_root, listener):
    # The nearest valid value passes the option checks and reaches the stand-in nginx.
    url = f"https://127.0.0.1:{listener.getsockname()[1]}"
    result = run_pyz(pyz, ["doctor", "--live", "--dir", str(install), "--url", url, "--connections", "2",
                           "--hold", "0", "--timeout", "5"], base_env(shiv_root))
    assert "--connections" not in result.stderr
    assert connection_made(listener)
