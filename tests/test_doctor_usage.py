"""dograh doctor through the zipapp: options that need another option, and errors with --json."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import base_env, run_pyz
from tests.support.as_nobody import nobody_sandbox  # noqa: F401 (a fixture)
from tests.support.fresh_install import make_install, snapshot


@pytest.fixture()
def install(tmp_path):
    return make_install(tmp_path / "dograh")


@pytest.mark.parametrize("arguments, option", [
    (["--url", "https://127.0.0.1:18443"], "--url"),
    (["--connections", "3"], "--connections"),
    (["--ws-path", "/api/v1/ws/x"], "--ws-path"),
    (["--concurrency", "1"], "--concurrency"),
    (["--hold", "2"], "--hold"),
    (["--idle-check", "5"], "--idle-check"),
    (["--timeout", "30"], "--timeout"),
])
def test_live_option_without_live(pyz, shiv_root, install, arguments, option):
    result = run_pyz(pyz, ["doctor", "--dir", str(install), *arguments], base_env(shiv_root))

    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{option} only applies with --live" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("option", ["--yes", "--from-nginx", "--no-restart"])
def test_fix_option_without_fix(pyz, shiv_root, install, option):
    before = snapshot(install)

    result = run_pyz(pyz, ["doctor", "--dir", str(install), option], base_env(shiv_root))

    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{option} only applies with --fix" in result.stderr
    assert snapshot(install) == before


@pytest.mark.parametrize("fix", [False, True])
def test_unreadable_env_json_document(nobody_sandbox, fix):
    install = make_install(nobody_sandbox.root / "dograh")
    arguments = ["doctor", "--dir", str(install), "--json"] + (["--fix"] if fix else [])

    result = nobody_sandbox.run(arguments)

    assert result.returncode == 2, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["schema"] == ("dograh.fix/1" if fix else "dograh.doctor/1")
    assert document["exit_code"] == 2
    assert ".env" in document["error"]
    assert "Permission denied" in document["error"]


def test_unreadable_key_skips_nginx_syntax(nobody_sandbox):
    install = make_install(nobody_sandbox.root / "dograh")
    # .env must be readable for the doctor to run at all; the key stays 0600 root.
    os.chmod(install / ".env", 0o644)

    result = nobody_sandbox.run(["doctor", "--dir", str(install), "--json"])

    findings = {finding["id"]: finding for finding in json.loads(result.stdout)["findings"]}
    assert findings["certs.parse"]["status"] == "skipped"
    assert findings["nginx.syntax"]["status"] == "skipped", findings["nginx.syntax"]
    assert "Permission denied" in findings["nginx.syntax"]["message"]
    # The sandbox's zipapp copy is not executable and not on PATH, so the hint names it by path.
    assert findings["nginx.syntax"]["fix"].startswith(f"run as root: sudo python3 {nobody_sandbox.pyz} doctor")
