"""doctor --fix through the built zipapp, with stdin not a TTY."""

from __future__ import annotations

import pytest

from tests.conftest import base_env, run_pyz
from tests.support.fresh_install import apply_fixable_drift, env_secrets, make_install, snapshot

# A docker client whose compose plugin is installed but which finds no
# engine, printing what the docker CLI prints when no daemon listens on
# /var/run/docker.sock.
DOCKER_WITHOUT_ENGINE = """#!/bin/sh
if [ "$1" = compose ] && [ "$2" = version ]; then
    echo "Docker Compose version v2.29.7"
    exit 0
fi
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
exit 1
"""
# A docker client with a running engine: it records each call and its
# directory, and prints what docker compose v2 prints (on stderr) when it
# recreates two containers. FAKE_EXIT sets the exit code of 'up'.
DOCKER_WITH_ENGINE = """#!/bin/sh
echo "$PWD: $*" >> "$FAKE_DOCKER_LOG"
case "$1 $2" in
    "compose version") echo "Docker Compose version v2.29.7"; exit 0 ;;
    "info --format") echo "27.3.1"; exit 0 ;;
esac
for name in api nginx; do
    echo " Container dograh-$name-1  Recreate" >&2
    echo " Container dograh-$name-1  Recreated" >&2
done
exit "${FAKE_EXIT:-0}"
"""
RECREATE = "docker compose --profile remote up -d --force-recreate api nginx"


def fake_docker(tmp_path, script):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "docker").write_text(script)
    (fake_bin / "docker").chmod(0o755)
    return fake_bin


def test_fix_without_tty_shows_diff_only(pyz, shiv_root, tmp_path):
    directory = make_install(tmp_path / "dograh")
    apply_fixable_drift(directory)
    secrets = env_secrets(directory)
    before = snapshot(directory)

    result = run_pyz(pyz, ["doctor", "--fix", "--dir", str(directory)], base_env(shiv_root), cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    assert "--- a/nginx.conf" in result.stdout
    assert "+    server api:8004 max_fails=3 fail_timeout=10s;" in result.stdout
    assert "--yes" in result.stdout
    assert snapshot(directory) == before
    for secret in secrets.values():
        assert secret not in result.stdout + result.stderr


def test_fix_then_doctor_passes(pyz, shiv_root, tmp_path):
    directory = make_install(tmp_path / "dograh")
    apply_fixable_drift(directory)
    fake_bin = fake_docker(tmp_path, DOCKER_WITHOUT_ENGINE)
    env = base_env(shiv_root, DOGRAH_DIR=str(directory))
    env["PATH"] = f"{fake_bin}:{env['PATH']}"

    fixed = run_pyz(pyz, ["doctor", "--fix", "--yes"], env, cwd=tmp_path)
    # The files are repaired, but the containers still run the old ones.
    assert fixed.returncode == 1, fixed.stdout + fixed.stderr
    assert "no Docker engine is running" in fixed.stdout
    assert "the running stack uses the old ones" in fixed.stdout
    assert RECREATE in fixed.stdout

    doctor = run_pyz(pyz, ["doctor"], env, cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stdout

    after_first = snapshot(directory)
    again = run_pyz(pyz, ["doctor", "--fix", "--yes", "--no-restart"], env, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to fix" in again.stdout
    assert snapshot(directory) == after_first


def test_fix_without_install_is_usage_error(pyz, shiv_root, tmp_path):
    result = run_pyz(pyz, ["doctor", "--fix", "--yes", "--dir", str(tmp_path / "missing")], base_env(shiv_root),
                     cwd=tmp_path)

    assert result.returncode == 2
    assert "does not exist" in result.stderr


@pytest.mark.parametrize("compose_exit, fix_exit", [("0", 0), ("1", 1)])
def test_workers_recreates_api_and_nginx(pyz, shiv_root, tmp_path, compose_exit, fix_exit):
    directory = make_install(tmp_path / "dograh")
    log = tmp_path / "docker.log"
    fake_bin = fake_docker(tmp_path, DOCKER_WITH_ENGINE)
    env = base_env(shiv_root, FAKE_DOCKER_LOG=str(log), FAKE_EXIT=compose_exit)
    env["PATH"] = f"{fake_bin}:{env['PATH']}"

    result = run_pyz(pyz, ["workers", "5", "--yes", "--dir", str(directory)], env, cwd=tmp_path)

    assert result.returncode == fix_exit, result.stdout + result.stderr
    assert f"{directory}: compose --profile remote up -d --force-recreate api nginx" in log.read_text().splitlines()
    assert "Container dograh-nginx-1  Recreated" in result.stderr
    assert "FASTAPI_WORKERS=5" in (directory / ".env").read_text()
    if fix_exit:
        assert f"docker compose exited with {compose_exit}" in result.stdout
