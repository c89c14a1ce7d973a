"""doctor --fix through the built zipapp, with stdin not a TTY."""

from __future__ import annotations

from tests.conftest import base_env, run_pyz
from tests.support.fresh_install import env_secrets, make_install, snapshot
from tests.test_fix_apply import drift

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
RECREATE = "docker compose --profile remote up -d --force-recreate api nginx"


def test_fix_without_tty_shows_diff_only(pyz, shiv_root, tmp_path):
    directory = make_install(tmp_path / "dograh")
    drift(directory)
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
    drift(directory)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "docker").write_text(DOCKER_WITHOUT_ENGINE)
    (fake_bin / "docker").chmod(0o755)
    env = base_env(shiv_root, DOGRAH_DIR=str(directory))
    env["PATH"] = f"{fake_bin}:{env['PATH']}"

    fixed = run_pyz(pyz, ["doctor", "--fix", "--yes"], env, cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "no Docker engine is running" in fixed.stdout
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
