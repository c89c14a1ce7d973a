"""doctor --fix in-process: repairs, idempotence, rollback on a failed write, confirmation."""

from __future__ import annotations

import json
import os

import click
import pytest

from dograh_installer import fileops
from dograh_installer.doctor import fix_apply
from dograh_installer.doctor.checks import run_checks
from dograh_installer.doctor.fix import run_fix
from dograh_installer.doctor.fix_apply import FixAbortedError
from dograh_installer.doctor.report import exit_code
from dograh_installer.errors import LockedError
from dograh_installer.envfile import read_env
from dograh_installer.nginx_conf import parse_nginx
from tests.support.fresh_install import apply_fixable_drift, env_secrets, make_install, snapshot

@pytest.fixture()
def drifted(tmp_path):
    directory = make_install(tmp_path / "dograh")
    apply_fixable_drift(directory)
    return directory


def backups(directory):
    return sorted(path.name for path in directory.rglob("*.bak.*"))


def test_fix_repairs_every_fixable_finding(drifted, capsys):
    secrets_before = env_secrets(drifted)
    assert exit_code(run_checks(drifted)) == 1

    code = run_fix(drifted, from_nginx=False, yes=True, restart=False, interactive=False, as_json=False)
    output = capsys.readouterr()

    assert code == 0, output.out
    assert exit_code(run_checks(drifted)) == 0
    assert env_secrets(drifted) == secrets_before
    assert read_env(drifted / ".env").values()["FASTAPI_WORKERS"] == "6"
    assert parse_nginx(drifted / "nginx.conf").upstream().ports() == [8000, 8001, 8002, 8003, 8004, 8005]
    assert oct(os.stat(drifted / ".env").st_mode & 0o777) == oct(0o600)
    assert oct(os.stat(drifted / "certs" / "local.key").st_mode & 0o777) == oct(0o600)
    if os.geteuid() == 0:
        # coturn runs as nobody:nogroup and reads the file through its group.
        assert os.stat(drifted / "turnserver.conf").st_gid == 65534
    assert backups(drifted) != []
    assert "docker compose --profile remote restart coturn" in output.out
    for secret in secrets_before.values():
        assert secret not in output.out + output.err


def test_second_fix_changes_nothing(drifted, capsys):
    run_fix(drifted, from_nginx=False, yes=True, restart=False, interactive=False, as_json=False)
    before = snapshot(drifted)

    code = run_fix(drifted, from_nginx=False, yes=True, restart=False, interactive=False, as_json=False)

    assert code == 0
    assert snapshot(drifted) == before
    assert "Nothing to fix" in capsys.readouterr().out


def test_fix_keeps_backup_private(drifted):
    run_fix(drifted, from_nginx=False, yes=True, restart=False, interactive=False, as_json=False)
    env_backups = list(drifted.glob(".env.bak.*"))

    assert len(env_backups) == 1
    assert env_backups[0].stat().st_mode & 0o077 == 0


def test_from_nginx_adopts_distinct_ports(tmp_path, capsys):
    directory = make_install(tmp_path / "dograh", workers=2)
    nginx_path = directory / "nginx.conf"
    extra = "".join(f"    server api:{port} max_fails=3 fail_timeout=10s;\n" for port in (8001, 8003, 8004))
    nginx_path.write_text(nginx_path.read_text().replace("    keepalive 32;\n", extra + "    keepalive 32;\n"))

    code = run_fix(directory, from_nginx=True, yes=True, restart=False, interactive=False, as_json=False)

    assert code == 0, capsys.readouterr().out
    assert read_env(directory / ".env").values()["FASTAPI_WORKERS"] == "4"
    assert parse_nginx(nginx_path).upstream().ports() == [8000, 8001, 8003, 8002]


def test_failed_write_restores_every_file(drifted, monkeypatch, capsys):
    before = snapshot(drifted)
    real_write = fileops.atomic_write
    writes = []

    def failing_second_write(path, data, mode=0o644):
        # Backups go through atomic_write too; count only the files themselves.
        if ".bak." not in path.name:
            writes.append(path.name)
            if len(writes) == 2:
                raise OSError(28, "No space left on device", str(path))
        real_write(path, data, mode)

    monkeypatch.setattr(fix_apply.fileops, "atomic_write", failing_second_write)
    with pytest.raises(FixAbortedError, match="every file was restored"):
        run_fix(drifted, from_nginx=False, yes=True, restart=False, interactive=False, as_json=False)

    assert writes[:2] == [".env", "nginx.conf"]
    assert snapshot(drifted) == before


def test_declined_confirmation_changes_nothing(drifted, monkeypatch, capsys):
    before = snapshot(drifted)
    monkeypatch.setattr(click, "confirm", lambda *args, **kwargs: False)

    code = run_fix(drifted, from_nginx=False, yes=False, restart=False, interactive=True, as_json=False)

    assert code == 1
    assert snapshot(drifted) == before
    assert "Nothing was changed." in capsys.readouterr().out


def test_json_output_is_one_document(drifted, capsys):
    secrets = env_secrets(drifted)
    code = run_fix(drifted, from_nginx=False, yes=True, restart=False, interactive=False, as_json=True)
    output = capsys.readouterr()
    document = json.loads(output.out)

    assert code == 0
    assert document["schema"] == "dograh.fix/1"
    assert document["applied"] is True
    assert {change["file"] for change in document["changes"]} >= {".env", "nginx.conf", "turnserver.conf"}
    assert document["restart"]["needed"] is True
    assert document["restart"]["ran"] is False
    assert document["exit_code"] == 0
    for secret in secrets.values():
        assert secret not in output.out + output.err


def test_fix_rejected_while_locked(drifted, capsys):
    before = snapshot(drifted)

    with fileops.directory_lock(drifted, "install"):
        with pytest.raises(LockedError, match="another dograh command"):
            run_fix(drifted, from_nginx=False, yes=True, restart=False, interactive=False, as_json=False)

    assert snapshot(drifted) == before


def test_file_changed_after_planning_aborts(drifted, monkeypatch, capsys):
    from dograh_installer.doctor import fix as fix_module

    real_apply = fix_module.apply_plan

    def edit_meanwhile(plan, command):
        # Another editor saves nginx.conf between the diff and the write.
        with open(drifted / "nginx.conf", "a") as handle:
            handle.write("# saved by an editor\n")
        return real_apply(plan, command)

    monkeypatch.setattr(fix_module, "apply_plan", edit_meanwhile)
    env_before = (drifted / ".env").read_bytes()

    with pytest.raises(FixAbortedError, match="changed while the fix was being planned"):
        run_fix(drifted, from_nginx=False, yes=True, restart=False, interactive=False, as_json=False)

    assert (drifted / ".env").read_bytes() == env_before
    assert backups(drifted) == []
