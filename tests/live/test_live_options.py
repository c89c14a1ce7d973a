"""Invalid ``doctor --live`` options: one clear error, exit code 2, nothing written."""

from __future__ import annotations

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
