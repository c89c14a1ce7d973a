"""What --fix, workers and the names check tell the person when a repair needs their hand."""

from __future__ import annotations

import pytest

from dograh_installer.commands.workers import workers_command
from dograh_installer.doctor.checks import run_checks
from dograh_installer.doctor.fix import run_fix
from dograh_installer.errors import DograhError
from tests.conftest import base_env, run_pyz
from tests.support.fresh_install import make_install, snapshot

SERVER_8003 = "server api:8003 max_fails=3 fail_timeout=10s;"
DOMAIN = "voice.example.com"


@pytest.fixture()
def install(tmp_path):
    return make_install(tmp_path / "dograh")


def set_env(directory, key, value):
    path = directory / ".env"
    lines = [line for line in path.read_text().splitlines() if not line.startswith(f"{key}=")]
    path.write_text("\n".join(lines + [f"{key}={value}"]) + "\n")


def share_server_line(directory):
    """Put a second server on the line of api:8003, which the editors cannot rewrite."""
    path = directory / "nginx.conf"
    text = path.read_text()
    assert SERVER_8003 in text
    path.write_text(text.replace(SERVER_8003, f"{SERVER_8003} server api:8005 max_fails=3 fail_timeout=10s;"))


def shared_line(directory):
    lines = (directory / "nginx.conf").read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if SERVER_8003 in line)


def test_nothing_fixable_lists_manual_problems(install, capsys):
    set_env(install, "PUBLIC_HOST", DOMAIN)
    set_env(install, "PUBLIC_BASE_URL", f"https://{DOMAIN}")

    code = run_fix(install, from_nginx=False, yes=True, restart=False, interactive=False, as_json=False)
    output = capsys.readouterr().out

    assert code == 1
    assert "Nothing to fix" not in output
    assert "Nothing was changed: 2 problems found by the checks below need a manual fix:" in output
    assert "[names.server_name]" in output.split("\n\n")[0]
    assert "[certs.san]" in output.split("\n\n")[0]


def test_from_nginx_shared_line_changes_nothing(install, capsys):
    share_server_line(install)
    before = snapshot(install)

    with pytest.raises(DograhError) as raised:
        run_fix(install, from_nginx=True, yes=True, restart=False, interactive=False, as_json=False)

    message = str(raised.value)
    assert message.startswith("--from-nginx changed nothing: ")
    assert f"nginx.conf line {shared_line(install)}" in message
    assert "FASTAPI_WORKERS=5" in message
    assert snapshot(install) == before


def test_workers_shared_line_names_no_fix(install):
    share_server_line(install)
    before = snapshot(install)

    with pytest.raises(DograhError) as raised:
        workers_command("8", directory=install, yes=True, restart=False, interactive=False)

    assert "run the fix again" not in str(raised.value)
    assert "run the command again" in str(raised.value)
    assert snapshot(install) == before


def test_server_name_names_every_block(install):
    set_env(install, "PUBLIC_HOST", DOMAIN)
    set_env(install, "PUBLIC_BASE_URL", f"https://{DOMAIN}")
    lines = [number for number, line in enumerate((install / "nginx.conf").read_text().splitlines(), 1)
             if line.strip().startswith("server {")]

    [finding] = [finding for finding in run_checks(install, nginx_syntax=False) if finding.id == "names.server_name"]

    assert len(lines) == 2
    assert finding.data["lines"] == lines
    assert f"lines {lines[0]} and {lines[1]}" in finding.message
    assert f"set 'server_name {DOMAIN};' in the server blocks on lines {lines[0]} and {lines[1]}" in finding.fix
    assert "PUBLIC_HOST=203.0.113.10 and PUBLIC_BASE_URL=https://203.0.113.10" in finding.fix


def test_workers_missing_dir_before_warnings(pyz, shiv_root, tmp_path):
    result = run_pyz(pyz, ["workers", "64", "--yes", "--dir", str(tmp_path / "missing")], base_env(shiv_root))

    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert "warning" not in result.stderr
