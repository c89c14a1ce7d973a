"""The built zipapp, run the way cloud-init runs it: no TTY, inputs only from the environment."""

from __future__ import annotations

import contextlib
import os
import re
import stat
from pathlib import Path
from typing import Iterator

from dograh_installer.envfile import ENV_KEYS, SECRET_KEYS
from tests.conftest import EXAMPLE_IP, base_env, run_pyz
from tests.support.install_checks import assert_complete_install, file_mode

START_COMMAND = "docker compose --profile remote up -d"

# A docker client whose compose plugin is installed but which finds no engine,
# printing what the docker CLI prints when /var/run/docker.sock has no daemon.
FAKE_DOCKER_WITHOUT_ENGINE = """#!/bin/sh
echo "$*" >> "{log}"
if [ "$1" = compose ] && [ "$2" = version ]; then
    echo "Docker Compose version v2.29.7"
    exit 0
fi
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
exit 1
"""


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def test_install_from_environment(pyz, shiv_root, tmp_path):
    target = tmp_path / "dograh"
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP, DOGRAH_DIR=str(target), FASTAPI_WORKERS="3")
    with umask(0o000):
        result = run_pyz(pyz, ["install"], env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    values = assert_complete_install(target)
    for key in ENV_KEYS:
        assert values[key] != "", key
    assert values["SERVER_IP"] == EXAMPLE_IP
    assert values["PUBLIC_HOST"] == EXAMPLE_IP
    assert values["FASTAPI_WORKERS"] == "3"
    assert values["ENABLE_TELEMETRY"] == "true"
    assert values["FORCE_TURN_RELAY"] == "false"
    for key in SECRET_KEYS:
        assert re.fullmatch(r"[0-9a-f]{64}", values[key]), f"{key} is not 32 random bytes as hex"
    assert re.fullmatch(r"dograh[0-9a-f]{12}", values["MINIO_ROOT_USER"])

    # umask 000 must not loosen anything: secrets stay private, nothing is world-writable.
    assert file_mode(target / ".env") == 0o600
    assert file_mode(target / "certs" / "local.key") == 0o600
    for path in [target, *target.rglob("*")]:
        assert not file_mode(path) & stat.S_IWOTH, f"{path} is world-writable"

    output = result.stdout + result.stderr
    for key in SECRET_KEYS:
        assert values[key] not in output, f"{key} appears in the output"
    assert f"server IP:     {EXAMPLE_IP}" in result.stdout
    assert re.search(r"API workers:\s+3 \(ports 8000-8002\)", result.stdout)
    for name in ("docker-compose.yaml", ".env", "nginx.conf", "turnserver.conf", "certs/local.crt", "certs/local.key"):
        assert name in result.stdout
    assert f"cd {target} && sudo {START_COMMAND}" in result.stdout


def test_install_given_secret_and_options(pyz, shiv_root, tmp_path):
    target = tmp_path / "dograh"
    secret = "Given-TURN-secret_0123456789"
    env = base_env(
        shiv_root, SERVER_IP=EXAMPLE_IP, DOGRAH_DIR=str(target), TURN_SECRET=secret, FASTAPI_WORKERS="1",
        PUBLIC_HOST="Dograh.Example.COM", ENABLE_TELEMETRY="false", FORCE_TURN_RELAY="yes",
    )
    result = run_pyz(pyz, ["install"], env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    values = assert_complete_install(target)
    assert values["TURN_SECRET"] == secret
    assert values["PUBLIC_HOST"] == "dograh.example.com"
    assert values["PUBLIC_BASE_URL"] == "https://dograh.example.com"
    assert values["ENABLE_TELEMETRY"] == "false"
    assert values["FORCE_TURN_RELAY"] == "true"
    assert secret not in result.stdout + result.stderr
    assert re.search(r"API workers:\s+1 \(ports 8000\)", result.stdout)


def test_flags_override_environment(pyz, shiv_root, tmp_path):
    target = tmp_path / "from-flag"
    env = base_env(shiv_root, SERVER_IP="198.51.100.7", FASTAPI_WORKERS="2", DOGRAH_DIR=str(tmp_path / "from-env"))
    args = ["install", "--dir", str(target), "--server-ip", EXAMPLE_IP, "--workers", "5"]
    result = run_pyz(pyz, args, env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "from-env").exists()
    values = assert_complete_install(target)
    assert values["SERVER_IP"] == EXAMPLE_IP
    assert values["FASTAPI_WORKERS"] == "5"


def assert_start_skipped(result, target: Path, reason: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert reason in result.stderr
    assert f"cd {target} && sudo {START_COMMAND}" in result.stderr
    assert_complete_install(target)


def test_start_without_docker_on_path(pyz, shiv_root, tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    target = tmp_path / "dograh"
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP, DOGRAH_DIR=str(target), PATH=str(empty_bin))
    result = run_pyz(pyz, ["install", "--start"], env, cwd=tmp_path)

    assert_start_skipped(result, target, "docker is not installed")


def test_start_with_docker_but_no_engine(pyz, shiv_root, tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    log = tmp_path / "docker-calls.log"
    docker = fake_bin / "docker"
    docker.write_text(FAKE_DOCKER_WITHOUT_ENGINE.format(log=log), encoding="utf-8")
    docker.chmod(0o755)
    target = tmp_path / "dograh"
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP, DOGRAH_DIR=str(target), PATH=f"{fake_bin}:/usr/bin:/bin")
    result = run_pyz(pyz, ["install", "--start"], env, cwd=tmp_path)

    assert_start_skipped(result, target, "no Docker engine is running")
    assert "Cannot connect to the Docker daemon" in result.stderr
    calls = log.read_text(encoding="utf-8").splitlines()
    assert calls, "the fake docker was never called"
    assert not any(" up" in call for call in calls), f"docker compose up ran without an engine: {calls}"


def test_start_from_environment_variable(pyz, shiv_root, tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    target = tmp_path / "dograh"
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP, DOGRAH_DIR=str(target), PATH=str(empty_bin), DOGRAH_START="1")
    result = run_pyz(pyz, ["install"], env, cwd=tmp_path)

    assert_start_skipped(result, target, "docker is not installed")


# What a docker client prints when the engine runs; "compose up" echoes its arguments and directory.
FAKE_DOCKER_WITH_ENGINE = """#!/bin/sh
if [ "$1" = compose ] && [ "$2" = version ]; then
    echo "Docker Compose version v2.29.7"
    exit 0
fi
if [ "$1" = info ]; then
    echo "27.3.1"
    exit 0
fi
echo "fake compose: $* in $(pwd)"
echo " Container dograh-api-1  Started"
exit 0
"""


def test_start_runs_compose_up_in_install_dir(pyz, shiv_root, tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    docker = fake_bin / "docker"
    docker.write_text(FAKE_DOCKER_WITH_ENGINE, encoding="utf-8")
    docker.chmod(0o755)
    target = tmp_path / "dograh"
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP, DOGRAH_DIR=str(target), PATH=f"{fake_bin}:/usr/bin:/bin")
    result = run_pyz(pyz, ["install", "--start"], env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert f"fake compose: {START_COMMAND.split(' ', 1)[1]} in {target}" in result.stdout
    assert "Container dograh-api-1  Started" in result.stdout
    assert_complete_install(target)


def test_default_directory_is_dograh_in_cwd(pyz, shiv_root, tmp_path):
    result = run_pyz(pyz, ["install"], base_env(shiv_root, SERVER_IP=EXAMPLE_IP), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert [entry.name for entry in tmp_path.iterdir()] == ["dograh"]
    assert_complete_install(tmp_path / "dograh")


def test_punctuation_in_secret_round_trips(pyz, shiv_root, tmp_path):
    # Every ASCII punctuation character that the TURN_SECRET rules allow.
    secret = "Ab1!%&*()-_=+[]{};:,.<>/?~^|@"
    target = tmp_path / "dograh"
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP, DOGRAH_DIR=str(target), TURN_SECRET=secret)
    result = run_pyz(pyz, ["install"], env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    values = assert_complete_install(target)
    assert values["TURN_SECRET"] == secret
    assert secret not in result.stdout + result.stderr
