"""dograh workers N through the zipapp: validation, the two files, confirmation, warnings."""

from __future__ import annotations

import pytest

from dograh_installer.doctor.checks import run_checks
from dograh_installer.doctor.report import exit_code
from dograh_installer.nginx_conf import parse_nginx
from tests.conftest import base_env, run_pyz
from tests.support.fresh_install import make_install, snapshot


@pytest.fixture()
def install(tmp_path):
    return make_install(tmp_path / "dograh", workers=4)


def changed_lines(before: bytes, after: bytes):
    old, new = before.decode().splitlines(), after.decode().splitlines()
    return [line for line in old if line not in new], [line for line in new if line not in old]


@pytest.mark.parametrize("count, message", [
    ("0", "0 is out of range"),
    ("65", "65 is out of range"),
    ("abc", "'abc' is not a whole number"),
    ("4.0", "'4.0' is not a whole number"),
    ("-1", "-1 is out of range"),
    ("", "'' is not a whole number"),
    (" 4", "' 4' has leading or trailing whitespace"),
])
def test_workers_bad_count_writes_nothing(pyz, shiv_root, install, count, message):
    before = snapshot(install)

    # "--" lets "-1" through as the argument instead of an unknown option.
    result = run_pyz(pyz, ["workers", "--yes", "--dir", str(install), "--", count], base_env(shiv_root))

    assert result.returncode == 2
    assert f"dograh: error: N: {message}" in result.stderr
    assert snapshot(install) == before


def test_workers_six_changes_two_things(pyz, shiv_root, install):
    before = snapshot(install)

    result = run_pyz(pyz, ["workers", "6", "--yes", "--no-restart", "--dir", str(install)], base_env(shiv_root))

    assert result.returncode == 0, result.stdout + result.stderr
    after = snapshot(install)
    assert changed_lines(before[".env"][0], after[".env"][0]) == (["FASTAPI_WORKERS=4"], ["FASTAPI_WORKERS=6"])
    assert changed_lines(before["nginx.conf"][0], after["nginx.conf"][0]) == (
        [], ["    server api:8004 max_fails=3 fail_timeout=10s;", "    server api:8005 max_fails=3 fail_timeout=10s;"]
    )
    assert after[".env"][1] == 0o600
    backups = sorted(name.split(".bak.")[0] for name in after if ".bak." in name)
    assert backups == [".env", "nginx.conf"]
    assert parse_nginx(install / "nginx.conf").upstream().ports() == [8000, 8001, 8002, 8003, 8004, 8005]
    assert "docker compose --profile remote up -d --force-recreate api nginx" in result.stdout
    assert exit_code(run_checks(install)) == 0


def test_workers_shrink_then_same_count(pyz, shiv_root, install):
    shrink = run_pyz(pyz, ["workers", "2", "--yes", "--no-restart", "--dir", str(install)], base_env(shiv_root))
    assert shrink.returncode == 0, shrink.stdout + shrink.stderr
    assert parse_nginx(install / "nginx.conf").upstream().ports() == [8000, 8001]
    after_shrink = snapshot(install)

    same = run_pyz(pyz, ["workers", "2", "--yes", "--no-restart", "--dir", str(install)], base_env(shiv_root))

    assert same.returncode == 0, same.stdout + same.stderr
    assert "nothing to change" in same.stdout
    assert snapshot(install) == after_shrink


def test_workers_without_tty_changes_nothing(pyz, shiv_root, install):
    before = snapshot(install)

    result = run_pyz(pyz, ["workers", "6", "--dir", str(install)], base_env(shiv_root))

    assert result.returncode == 1
    assert "+FASTAPI_WORKERS=6" in result.stdout
    assert "+    server api:8005 max_fails=3 fail_timeout=10s;" in result.stdout
    assert snapshot(install) == before


def test_workers_above_eight_warns(pyz, shiv_root, install):
    result = run_pyz(pyz, ["workers", "12", "--dir", str(install)], base_env(shiv_root))

    assert "warning: FASTAPI_WORKERS=12 is above 8: profile your workload first" in result.stderr


def test_workers_keeps_crlf_and_duplicates(pyz, shiv_root, install):
    env_path = install / ".env"
    text = env_path.read_text().replace("FASTAPI_WORKERS=4", "FASTAPI_WORKERS=3\nFASTAPI_WORKERS=4")
    env_path.write_bytes(text.replace("\n", "\r\n").encode())

    result = run_pyz(pyz, ["workers", "5", "--yes", "--no-restart", "--dir", str(install)], base_env(shiv_root))

    assert result.returncode == 1  # the CRLF and duplicate findings remain for doctor --fix
    new = env_path.read_bytes()
    assert new == text.replace("FASTAPI_WORKERS=4", "FASTAPI_WORKERS=5").replace("\n", "\r\n").encode()
