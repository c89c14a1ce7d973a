"""Installing over an existing install: refusal, forced overwrite with backups, the lock, sudo ownership."""

from __future__ import annotations

import datetime
import fcntl
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dograh_installer.envfile import SECRET_KEYS
from tests.conftest import EXAMPLE_IP, base_env, run_pyz
from tests.support.install_checks import assert_complete_install, file_mode, tree_snapshot

BACKUP_STAMP = re.compile(r"\.bak\.(\d{8}T\d{6}Z)$")


def install(pyz, shiv_root, target: Path, **variables: str):
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP, DOGRAH_DIR=str(target), **variables)
    return run_pyz(pyz, ["install"], env, cwd=target.parent)


def test_existing_install_is_refused(pyz, shiv_root, tmp_path):
    target = tmp_path / "dograh"
    assert install(pyz, shiv_root, target).returncode == 0
    before = tree_snapshot(target)

    result = install(pyz, shiv_root, target, FASTAPI_WORKERS="2", TURN_SECRET="Another-TURN-secret-42")

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{target / '.env'} exists" in result.stderr
    assert "logged out" in result.stderr
    assert "TURN authentication" in result.stderr
    assert "certificate" in result.stderr
    # The zipapp under test is not on PATH, so the hint names it by its path.
    assert f"run: {os.path.abspath(pyz)} doctor --dir {target}" in result.stderr
    assert "DOGRAH_FORCE_OVERWRITE=1" in result.stderr
    assert tree_snapshot(target) == before


def test_existing_install_refused_before_inputs(pyz, shiv_root, tmp_path):
    target = tmp_path / "dograh"
    assert install(pyz, shiv_root, target).returncode == 0
    env = base_env(shiv_root, DOGRAH_DIR=str(target), FASTAPI_WORKERS="64")

    result = run_pyz(pyz, ["install"], env, cwd=tmp_path)

    # No SERVER_IP and 64 workers: the refusal comes first, with no sizing warning.
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{target / '.env'} exists" in result.stderr
    assert "SERVER_IP" not in result.stderr
    assert "warning" not in result.stderr


def test_force_overwrite_backs_up_files(pyz, shiv_root, tmp_path):
    target = tmp_path / "dograh"
    assert install(pyz, shiv_root, target).returncode == 0
    old_values = assert_complete_install(target)
    # A hand edit to the compose file, so every generated file differs from what the overwrite writes.
    compose = target / "docker-compose.yaml"
    compose.write_text(compose.read_text(encoding="utf-8") + "# edited by hand\n", encoding="utf-8")
    old_bytes = {
        name: (target / name).read_bytes()
        for name in ("docker-compose.yaml", ".env", "nginx.conf", "turnserver.conf", "certs/local.crt", "certs/local.key")
    }
    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

    result = install(pyz, shiv_root, target, FASTAPI_WORKERS="2", DOGRAH_FORCE_OVERWRITE="1")

    finished = datetime.datetime.now(datetime.timezone.utc)
    assert result.returncode == 0, result.stderr
    new_values = assert_complete_install(target)
    assert new_values["FASTAPI_WORKERS"] == "2"
    assert new_values["POSTGRES_PASSWORD"] == old_values["POSTGRES_PASSWORD"]
    assert "Kept POSTGRES_PASSWORD" in result.stdout
    for key in SECRET_KEYS - {"POSTGRES_PASSWORD"}:
        assert new_values[key] != old_values[key], f"{key} was not regenerated"
    assert new_values["MINIO_ROOT_USER"] != old_values["MINIO_ROOT_USER"]
    for key in SECRET_KEYS:
        assert old_values[key] not in result.stdout + result.stderr
        assert new_values[key] not in result.stdout + result.stderr

    backups = {}
    for path in [*target.iterdir(), *(target.glob("certs.bak.*/*"))]:
        match = BACKUP_STAMP.search(path.name)
        if match:
            backups[path.name[: match.start()]] = path
            stamp = datetime.datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
            assert started <= stamp <= finished, f"{path.name} is not stamped with the time of the overwrite"
    assert sorted(backups) == sorted(["docker-compose.yaml", ".env", "nginx.conf", "turnserver.conf", "certs"])
    for name in ("docker-compose.yaml", ".env", "nginx.conf", "turnserver.conf"):
        assert backups[name].read_bytes() == old_bytes[name], f"the backup of {name} differs from the old file"
        assert backups[name].name in result.stdout
    assert (backups["certs"] / "local.crt").read_bytes() == old_bytes["certs/local.crt"]
    assert (backups["certs"] / "local.key").read_bytes() == old_bytes["certs/local.key"]
    assert file_mode(backups[".env"]) == 0o600
    assert file_mode(backups["certs"] / "local.key") == 0o600
    assert (target / "certs" / "local.crt").read_bytes() != old_bytes["certs/local.crt"]


def test_locked_directory_is_rejected(pyz, shiv_root, tmp_path):
    target = tmp_path / "dograh"
    target.mkdir()
    lock_fd = os.open(target / ".dograh.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = install(pyz, shiv_root, target)
    finally:
        os.close(lock_fd)

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"another dograh command is already working in {target}" in result.stderr
    assert f"run '{os.path.abspath(pyz)} install' again" in result.stderr
    assert sorted(entry.name for entry in target.iterdir()) == [".dograh.lock"]

    retry = install(pyz, shiv_root, target)
    assert retry.returncode == 0, retry.stderr
    assert_complete_install(target)


@pytest.mark.skipif(os.geteuid() != 0, reason="changing file owners needs root")
def test_sudo_user_owns_install(pyz, shiv_root, tmp_path):
    uid, gid = 12345, 23456
    target = tmp_path / "dograh"

    result = install(pyz, shiv_root, target, SUDO_UID=str(uid), SUDO_GID=str(gid))

    assert result.returncode == 0, result.stderr
    assert_complete_install(target)
    for path in [target, *target.rglob("*")]:
        info = path.lstat()
        assert info.st_uid == uid, f"{path} is owned by uid {info.st_uid}"
        if path == target / "turnserver.conf":
            # coturn runs as nobody:nogroup and reads the file through its group.
            assert info.st_gid == 65534
            assert stat.S_IMODE(info.st_mode) == 0o640
        else:
            assert info.st_gid == gid, f"{path} has gid {info.st_gid}"


def test_unusable_lock_file_is_reported(pyz, shiv_root, tmp_path):
    target = tmp_path / "dograh"
    (target / ".dograh.lock").mkdir(parents=True)

    result = install(pyz, shiv_root, target)

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cannot open the lock file {target / '.dograh.lock'}: Is a directory" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(entry.name for entry in target.iterdir()) == [".dograh.lock"]


def test_concurrent_installs_one_wins(pyz, shiv_root, tmp_path):
    target = tmp_path / "dograh"
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP, DOGRAH_DIR=str(target))
    processes = [
        subprocess.Popen([sys.executable, str(pyz), "install"], env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        results.append((process.returncode, stdout, stderr))

    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1, 1, 1], results
    for code, _, stderr in results:
        if code == 1:
            assert "another dograh command is already working" in stderr or ".env exists" in stderr, stderr
    assert_complete_install(target)
