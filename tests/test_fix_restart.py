"""Which containers --fix and workers recreate, and the exit code when the recreate cannot run."""

from __future__ import annotations

import json

import pytest

from dograh_installer.commands.workers import workers_command
from dograh_installer.doctor.fix import run_fix
from tests.support.fresh_install import make_install

SERVER_8002 = "server api:8002 max_fails=3 fail_timeout=10s;"


@pytest.fixture()
def install(tmp_path):
    return make_install(tmp_path / "dograh")


@pytest.fixture()
def no_docker(tmp_path, monkeypatch):
    """PATH without a docker client, so the recreate cannot run on any machine."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def set_workers_by_hand(directory, count):
    path = directory / ".env"
    lines = [line for line in path.read_text().splitlines() if not line.startswith("FASTAPI_WORKERS=")]
    path.write_text("\n".join(lines + [f"FASTAPI_WORKERS={count}"]) + "\n")


def fix(directory, capsys, restart):
    code = run_fix(directory, from_nginx=False, yes=True, restart=restart, interactive=False, as_json=True)
    output = capsys.readouterr()
    return code, json.loads(output.out), output.err


def test_hand_set_workers_recreates_api_too(install, capsys):
    # Only nginx.conf changes, but the api may still run the count it started with.
    set_workers_by_hand(install, 6)

    code, document, _ = fix(install, capsys, restart=False)

    assert code == 0
    assert [change["file"] for change in document["changes"]] == ["nginx.conf"]
    assert document["restart"]["services"] == ["api", "nginx"]


def test_upstream_weight_recreates_api_and_nginx(install, capsys):
    path = install / "nginx.conf"
    path.write_text(path.read_text().replace(SERVER_8002, "server api:8002 weight=2 max_fails=3 fail_timeout=10s;"))

    code, document, _ = fix(install, capsys, restart=False)

    assert code == 0
    assert document["restart"]["services"] == ["api", "nginx"]


def test_unrunnable_recreate_exits_1(install, capsys, no_docker):
    set_workers_by_hand(install, 6)

    code, document, stderr = fix(install, capsys, restart=True)

    assert code == 1
    assert document["applied"] is True
    assert document["restart"]["ran"] is False
    assert document["restart"]["blocked"] is True
    assert document["exit_code"] == 0  # the files themselves are healthy
    assert "docker compose --profile remote up -d --force-recreate api nginx" in stderr


def test_no_restart_exits_by_checks(install, capsys, no_docker):
    set_workers_by_hand(install, 6)

    code, document, _ = fix(install, capsys, restart=False)

    assert code == 0
    assert document["restart"]["reason"] == "--no-restart"
    assert "blocked" not in document["restart"]


def test_workers_unrunnable_recreate_exits_1(install, capsys, no_docker):
    code = workers_command("6", directory=install, yes=True, restart=True, interactive=False)
    output = capsys.readouterr()

    assert code == 1
    assert "running stack uses the old ones" in output.out
    assert "up -d --force-recreate api nginx" in output.out
