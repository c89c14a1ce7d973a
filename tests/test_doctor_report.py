"""doctor's output: text marks and colour, the JSON schema, exit codes, and runs that cannot start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dograh_installer.doctor.report import exit_code, render_json, render_text
from dograh_installer.findings import Finding
from tests.conftest import EXAMPLE_IP, base_env, run_pyz

FINDINGS = [
    Finding("env.keys", "ok", "all keys are set", group=".env"),
    Finding("upstream.zone", "warning", "no zone", "add 'zone dograh_api 64k;'", "nginx upstream"),
    Finding("upstream.count", "error", "FASTAPI_WORKERS=8 but nginx.conf lists 4 servers (api:8000–8003)",
            "dograh workers 8", "nginx upstream"),
    Finding("nginx.syntax", "skipped", "nginx is not installed", group="nginx syntax"),
]


def test_exit_code_by_worst_status():
    assert exit_code(FINDINGS) == 1
    assert exit_code(FINDINGS[:2]) == 0
    assert exit_code([]) == 0


def test_text_unicode_marks_and_fixes():
    text = render_text(FINDINGS, unicode_marks=True, color=False)

    assert "  ✓ all keys are set  [env.keys]" in text
    assert "  ! no zone  [upstream.zone]" in text
    assert "  ✗ FASTAPI_WORKERS=8" in text
    assert "      fix: dograh workers 8" in text
    assert text.rstrip().endswith("problems found: 1 ok, 1 warning, 1 error, 1 skipped")
    assert "\x1b[" not in text


def test_text_ascii_encodes_as_ascii():
    text = render_text(FINDINGS, unicode_marks=False, color=False)

    text.encode("ascii")
    assert "  x FASTAPI_WORKERS=8 but nginx.conf lists 4 servers (api:8000-8003)" in text
    assert "  + all keys are set" in text


def test_text_groups_in_first_seen_order():
    text = render_text(FINDINGS, unicode_marks=True, color=False)
    headings = [line for line in text.splitlines() if line and not line.startswith(" ")]

    assert headings[:3] == [".env", "nginx upstream", "nginx syntax"]


def test_text_color_uses_ansi():
    assert "\x1b[" in render_text(FINDINGS, unicode_marks=True, color=True)


def test_json_schema_shape():
    document = json.loads(render_json(FINDINGS))

    assert document["schema"] == "dograh.doctor/1"
    assert [finding["id"] for finding in document["findings"]] == [finding.id for finding in FINDINGS]
    for finding in document["findings"]:
        assert set(finding) >= {"id", "status", "message", "fix"}
    assert document["summary"] == {"ok": 1, "info": 0, "warning": 1, "error": 1, "skipped": 1, "exit_code": 1}


@pytest.fixture(scope="module")
def installed(pyz, shiv_root, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("report") / "dograh"
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP, FASTAPI_WORKERS="2")
    result = run_pyz(pyz, ["install", "--dir", str(directory)], env)
    assert result.returncode == 0, result.stderr
    return directory


def test_zipapp_ascii_terminal_gets_ascii(pyz, shiv_root, installed):
    env = base_env(shiv_root, LANG="C", PYTHONIOENCODING="ascii")
    result = run_pyz(pyz, ["doctor", "--dir", str(installed)], env)

    assert result.returncode == 0, result.stdout + result.stderr
    result.stdout.encode("ascii")
    assert "  + " in result.stdout
    assert "healthy:" in result.stdout


def test_zipapp_no_tty_has_no_color(pyz, shiv_root, installed):
    result = run_pyz(pyz, ["doctor", "--dir", str(installed)], base_env(shiv_root))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓" in result.stdout
    assert "\x1b[" not in result.stdout


def test_zipapp_missing_directory_exits_2(pyz, shiv_root, tmp_path):
    missing = tmp_path / "nothing-here"
    result = run_pyz(pyz, ["doctor", "--dir", str(missing)], base_env(shiv_root))

    assert result.returncode == 2
    assert str(missing) in result.stderr
    assert "--dir" in result.stderr
    assert result.stdout == ""


def test_zipapp_missing_env_exits_2(pyz, shiv_root, tmp_path):
    result = run_pyz(pyz, ["doctor", "--dir", str(tmp_path)], base_env(shiv_root))

    assert result.returncode == 2
    assert ".env not found" in result.stderr


def test_zipapp_non_utf8_env_exits_2(pyz, shiv_root, tmp_path):
    (tmp_path / ".env").write_bytes(b"FASTAPI_WORKERS=4\nPUBLIC_HOST=caf\xe9\n")
    result = run_pyz(pyz, ["doctor", "--dir", str(tmp_path)], base_env(shiv_root))

    assert result.returncode == 2
    assert "not UTF-8" in result.stderr


def _run_on_pty(pyz: Path, args, env) -> str:
    """Run the zipapp with stdout on a pseudo-terminal (stdin still not a TTY) and return what it printed."""
    import os
    import pty
    import subprocess
    import sys

    primary, secondary = pty.openpty()
    try:
        process = subprocess.Popen([sys.executable, str(pyz), *args], env=env, stdin=subprocess.DEVNULL,
                                   stdout=secondary, stderr=subprocess.DEVNULL)
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO once the child has closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=60)
    finally:
        os.close(primary)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_zipapp_terminal_gets_color(pyz, shiv_root, installed):
    output = _run_on_pty(pyz, ["doctor", "--dir", str(installed)], base_env(shiv_root))

    assert "\x1b[" in output
    assert "healthy:" in output


def test_zipapp_no_color_on_terminal(pyz, shiv_root, installed):
    output = _run_on_pty(pyz, ["doctor", "--dir", str(installed)], base_env(shiv_root, NO_COLOR="1"))

    assert "\x1b[" not in output
    assert "healthy:" in output
