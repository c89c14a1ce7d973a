"""doctor and --fix where a wrong suggestion or a restart onto a broken config would hurt."""

from __future__ import annotations

import json
import os
import shlex

import pytest

from dograh_installer.commands.workers import workers_command
from dograh_installer.doctor.checks import run_checks
from dograh_installer.doctor.fix import run_fix
from dograh_installer.doctor.fix_apply import FixAbortedError
from dograh_installer.doctor.fix_services import services_to_recreate, touched_keys
from dograh_installer.nginx_conf import parse_nginx
from dograh_installer.nginx_runtime import find_nginx
from tests.support.fresh_install import make_install, snapshot

needs_nginx = pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")
SERVER_8002 = "server api:8002 max_fails=3 fail_timeout=10s;"


@pytest.fixture()
def install(tmp_path):
    return make_install(tmp_path / "my install")


def by_id(findings, finding_id):
    return [finding for finding in findings if finding.id == finding_id]


def set_env(directory, key, value):
    path = directory / ".env"
    lines = [line for line in path.read_text().splitlines() if not line.startswith(f"{key}=")]
    if value is not None:
        lines.append(f"{key}={value}")
    path.write_text("\n".join(lines) + "\n")


def edit_nginx(directory, old, new):
    path = directory / "nginx.conf"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def reported_line(directory):
    """Return the line nginx names when ssl_protocols lacks its ';': that of the next directive."""
    lines = (directory / "nginx.conf").read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if line.strip().startswith("client_max_body_size"))


def fix(directory, capsys, **options):
    arguments = {"from_nginx": False, "yes": True, "restart": True, "interactive": False, "as_json": True}
    arguments.update(options)
    code = run_fix(directory, **arguments)
    output = capsys.readouterr()
    return code, json.loads(output.out), output.err


@needs_nginx
def test_fix_refuses_nginx_conf_nginx_rejects(install, capsys):
    edit_nginx(install, "ssl_protocols       TLSv1.2 TLSv1.3;", "ssl_protocols       TLSv1.2 TLSv1.3")
    nginx_before = (install / "nginx.conf").read_bytes()
    set_env(install, "FASTAPI_WORKERS", "5")

    code, document, stderr = fix(install, capsys)

    assert code == 1
    assert (install / "nginx.conf").read_bytes() == nginx_before
    assert document["applied"] is False
    assert "restart" not in document
    refused = document["not_fixed"][0]
    assert "nginx -t already rejects nginx.conf as it is" in refused
    assert f"in nginx.conf:{reported_line(install)}" in refused


@needs_nginx
def test_fix_never_recreates_onto_rejected_nginx_conf(install, capsys):
    edit_nginx(install, "ssl_protocols       TLSv1.2 TLSv1.3;", "ssl_protocols       TLSv1.2 TLSv1.3")
    nginx_before = (install / "nginx.conf").read_bytes()
    env_path = install / ".env"
    env_path.write_bytes(env_path.read_bytes().replace(b"\n", b"\r\n"))

    code, document, stderr = fix(install, capsys)

    assert code == 1
    assert (install / "nginx.conf").read_bytes() == nginx_before
    assert b"\r\n" not in env_path.read_bytes()
    assert document["restart"]["ran"] is False
    assert document["restart"]["nginx_rejected"] is True
    assert "Not recreating api, nginx, minio and redis: nginx -t rejects nginx.conf" in stderr


@needs_nginx
def test_nginx_t_passes_in_directory_with_space(install):
    found = by_id(run_checks(install), "nginx.syntax")

    assert [finding.status for finding in found] == ["ok"]


@needs_nginx
def test_workers_refuses_nginx_conf_nginx_rejects(install, capsys):
    edit_nginx(install, "ssl_protocols       TLSv1.2 TLSv1.3;", "ssl_protocols       TLSv1.2 TLSv1.3")
    before = snapshot(install)

    line = reported_line(install)
    with pytest.raises(FixAbortedError, match=f"nginx -t already rejects nginx.conf as it is .*nginx.conf:{line}"):
        workers_command("5", directory=install, yes=True, restart=True, interactive=False)

    assert snapshot(install) == before


def test_fix_says_nginx_syntax_unchecked_without_nginx(install, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("dograh_installer.nginx_runtime._SEARCH_PATH", "/nonexistent")
    set_env(install, "FASTAPI_WORKERS", "5")

    code, document, stderr = fix(install, capsys, restart=False)

    assert document["nginx_syntax"] == {"checked": False, "reason": "nginx is not installed on this machine"}
    assert "syntax of the new nginx.conf was not checked" in stderr


def test_crlf_fix_recreates_every_service_reading_env(install, capsys):
    env_path = install / ".env"
    env_path.write_bytes(env_path.read_bytes().replace(b"\n", b"\r\n"))

    code, document, stderr = fix(install, capsys, restart=False)

    assert document["restart"]["needed"] is True
    assert document["restart"]["services"] == ["api", "nginx", "minio", "redis"]
    assert "up -d --force-recreate api nginx minio redis" in document["restart"]["command"]
    assert "Not recreating api, nginx, minio and redis" in stderr


def test_quoting_fix_recreates_api_and_nginx_only(install, capsys):
    set_env(install, "PUBLIC_HOST", "203.0.113.10")
    path = install / ".env"
    path.write_text(path.read_text().replace("ENVIRONMENT=production", "ENVIRONMENT=production$"))

    code, document, stderr = fix(install, capsys, restart=False)

    assert document["restart"]["services"] == ["api", "nginx"]


def test_touched_keys_counts_bom_for_first_key():
    assert touched_keys("\ufeffA=1\nB=2\n", "A=1\nB=2\n") == {"A"}
    assert touched_keys("A=1\nA=2\nB=2\n", "A=2\nB=2\n") == {"A"}
    assert touched_keys("A=1\n", "A=1\n") == set()


def test_recreate_without_compose_file_is_api(tmp_path):
    assert services_to_recreate(tmp_path, {"REDIS_PASSWORD"}, False) == ["api", "nginx"]
    assert services_to_recreate(tmp_path, set(), True) == ["nginx"]


@pytest.mark.parametrize("edit, finding_id, status", [
    (SERVER_8002[:-1] + " down;", "upstream.down", "error"),
    (SERVER_8002[:-1] + " backup;", "upstream.backup", "error"),
    ("server api:8002 weight=3 max_fails=3 fail_timeout=10s;", "upstream.weight", "warning"),
])
def test_uneven_server_is_reported(install, edit, finding_id, status):
    edit_nginx(install, SERVER_8002, edit)

    found = by_id(run_checks(install), finding_id)

    assert [finding.status for finding in found] == [status]
    assert "api:8002" in found[0].message


@pytest.mark.parametrize("edit", [SERVER_8002[:-1] + " down;   # maintenance",
                                  "server api:8002 weight=3 max_fails=3 fail_timeout=10s backup;"])
def test_fix_removes_uneven_parameters(install, capsys, edit):
    edit_nginx(install, SERVER_8002, edit)

    code, document, _ = fix(install, capsys, restart=False)

    assert code == 0
    server = parse_nginx(install / "nginx.conf").upstream().servers[2]
    assert server.flags == []
    assert server.parameters == {"max_fails": "3", "fail_timeout": "10s"}
    notes = document["changes"][0]["notes"]
    assert any("from 'server api:8002'" in note for note in notes)
    if "#" in edit:
        assert "# maintenance" in (install / "nginx.conf").read_text()


def test_workers_above_limit_is_error_with_working_fix(install):
    set_env(install, "FASTAPI_WORKERS", "100")

    found = by_id(run_checks(install), "env.workers")

    assert found[0].status == "error"
    assert f"dograh workers --dir {shlex.quote(str(install))} 64" in found[0].fix
    assert "--from-nginx" in found[0].fix
    assert "workers 100" not in " ".join(finding.fix for finding in run_checks(install))


def test_fix_with_workers_above_limit_is_one_message(install, capsys):
    set_env(install, "FASTAPI_WORKERS", "100")

    code = run_fix(install, from_nginx=False, yes=True, restart=False, interactive=False, as_json=False)
    output = capsys.readouterr().out

    assert code == 1
    assert "Nothing to fix" not in output
    assert "above 64" in output
    assert f"dograh workers --dir {shlex.quote(str(install))} 64" in output


def test_missing_workers_line_reads_naturally(install, capsys):
    set_env(install, "FASTAPI_WORKERS", None)

    run_fix(install, from_nginx=False, yes=False, restart=False, interactive=False, as_json=False)
    fix_output = capsys.readouterr().out
    workers_command("4", directory=install, yes=False, restart=False, interactive=False)
    workers_output = capsys.readouterr().out

    assert "''" not in fix_output
    assert "has no FASTAPI_WORKERS line" in fix_output
    assert "None" not in workers_output
    assert "set FASTAPI_WORKERS to 4 (it was not set)" in workers_output


def test_from_nginx_lists_env_change(install, capsys):
    edit_nginx(install, "server api:8003 max_fails=3 fail_timeout=10s;\n", "")

    run_fix(install, from_nginx=True, yes=False, restart=False, interactive=False, as_json=False)
    output = capsys.readouterr().out

    planned = output.split("Planned changes:")[1]
    assert ".env: set FASTAPI_WORKERS to 3 (was 4)" in planned


def test_suggested_commands_include_dir(install, capsys):
    set_env(install, "FASTAPI_WORKERS", "6")
    os.chmod(install / ".env", 0o644)
    quoted = shlex.quote(str(install))

    fixes = [finding.fix for finding in run_checks(install) if "dograh " in finding.fix]
    run_fix(install, from_nginx=False, yes=False, restart=False, interactive=False, as_json=False)
    output = capsys.readouterr().out

    assert fixes
    for text in fixes:
        assert f"--dir {quoted}" in text, text
    assert f"dograh workers --dir {quoted} 6" in " ".join(fixes)
    assert f"'dograh doctor --dir {quoted} --fix --yes'" in output


def test_default_directory_omits_dir(tmp_path, monkeypatch):
    directory = make_install(tmp_path / "dograh")
    set_env(directory, "FASTAPI_WORKERS", "6")
    monkeypatch.chdir(tmp_path)

    fixes = [finding.fix for finding in run_checks(directory) if "dograh " in finding.fix]

    assert "dograh workers 6 (or dograh doctor --fix --from-nginx to keep 4)" in fixes


def test_san_fix_says_how(tmp_path):
    directory = make_install(tmp_path / "dograh")
    set_env(directory, "PUBLIC_HOST", "voice.example.com")

    found = by_id(run_checks(directory), "certs.san")

    assert found[0].status == "error"
    assert "ACME client" in found[0].fix
    assert "ssl_certificate_key" in found[0].fix
    assert "certs/local.key" in found[0].fix


@needs_nginx
def test_missing_semicolon_points_to_backups(install):
    edit_nginx(install, "ssl_protocols       TLSv1.2 TLSv1.3;", "ssl_protocols       TLSv1.2 TLSv1.3")

    found = by_id(run_checks(install), "nginx.syntax")

    assert found[0].status == "error"
    assert "nginx.conf.bak." in found[0].fix


def test_weight_one_is_left_alone(install, capsys):
    edit_nginx(install, SERVER_8002, "server api:8002 weight=1 max_fails=3 fail_timeout=10s;")
    before = (install / "nginx.conf").read_bytes()

    run_fix(install, from_nginx=False, yes=True, restart=False, interactive=False, as_json=False)

    assert (install / "nginx.conf").read_bytes() == before


def test_env_file_service_is_recreated(install):
    compose = install / "docker-compose.yaml"
    compose.write_text(compose.read_text().replace(
        "  ui:\n", "  ui:\n    env_file:\n      - path: ./.env\n", 1))

    services = services_to_recreate(install, {"ENABLE_TELEMETRY"}, False)

    assert services == ["api", "nginx", "ui"]


def test_plan_names_services_before_confirmation(install, capsys):
    env_path = install / ".env"
    env_path.write_bytes(env_path.read_bytes().replace(b"\n", b"\r\n"))

    run_fix(install, from_nginx=False, yes=False, restart=False, interactive=False, as_json=False)
    output = capsys.readouterr().out

    assert "Afterwards api, nginx, minio and redis must be recreated to use the new files." in output
