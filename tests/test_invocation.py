"""How hints name this program: ``dograh`` only when that command runs it, else the zipapp's path.

The unit tests set ``sys.argv[0]`` and PATH in-process. The zipapp tests
run the real zipapp from a directory that is not on PATH, read the
install summary and a doctor fix, and paste them into ``sh`` from another
directory.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dograh_installer.doctor.dograh_command import dograh_arguments, dograh_command
from dograh_installer.invocation import program_command, running_zipapp
from tests.conftest import EXAMPLE_IP, base_env, run_pyz


def make_zip(path: Path, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("__main__.py", "")
    path.chmod(mode)
    return path


@pytest.fixture
def started_as(monkeypatch):
    def start(argv0: str, path_dirs=()) -> None:
        monkeypatch.setattr(sys, "argv", [argv0, "doctor"])
        monkeypatch.setenv("PATH", os.pathsep.join([str(entry) for entry in path_dirs] + ["/usr/bin", "/bin"]))
        monkeypatch.delenv("DOGRAH_COMMAND", raising=False)
    return start


def test_source_checkout_is_dograh(started_as, tmp_path):
    script = tmp_path / "dograh"
    script.write_text("#!/usr/bin/env python3\n")
    started_as(str(script))

    assert running_zipapp() is None
    assert program_command() == "dograh"


def test_zipapp_off_path_is_path(started_as, tmp_path):
    zipapp = make_zip(tmp_path / "dist" / "dograh.pyz", 0o755)
    started_as(str(zipapp))

    assert program_command() == str(zipapp)


def test_zipapp_not_executable_gets_python3(started_as, tmp_path):
    zipapp = make_zip(tmp_path / "dist" / "dograh.pyz", 0o644)
    started_as(str(zipapp))

    assert program_command() == f"python3 {zipapp}"


def test_relative_zipapp_becomes_absolute(started_as, tmp_path, monkeypatch):
    zipapp = make_zip(tmp_path / "dist" / "dograh.pyz", 0o755)
    monkeypatch.chdir(tmp_path)
    started_as("dist/dograh.pyz")

    assert program_command() == str(zipapp)


def test_path_with_space_is_quoted(started_as, tmp_path):
    zipapp = make_zip(tmp_path / "my tools" / "dograh.pyz", 0o644)
    started_as(str(zipapp))

    command = program_command()

    assert command == "python3 " + shlex.quote(str(zipapp))
    assert shlex.split(command) == ["python3", str(zipapp)]


@pytest.mark.parametrize("link", [False, True], ids=["same-file", "symlink"])
def test_dograh_on_path_is_dograh(started_as, tmp_path, link):
    zipapp = make_zip(tmp_path / "opt" / "dograh.pyz", 0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if link:
        (bin_dir / "dograh").symlink_to(zipapp)
        started_as(str(zipapp), [bin_dir])
    else:
        shutil.move(str(zipapp), bin_dir / "dograh")
        started_as(str(bin_dir / "dograh"), [bin_dir])

    assert program_command() == "dograh"


def test_other_dograh_on_path_is_ignored(started_as, tmp_path):
    zipapp = make_zip(tmp_path / "new" / "dograh.pyz", 0o755)
    bin_dir = tmp_path / "bin"
    make_zip(bin_dir / "dograh", 0o755)
    started_as(str(zipapp), [bin_dir])

    assert program_command() == str(zipapp)


def test_installed_command_variable_wins(started_as, tmp_path, monkeypatch):
    temporary = make_zip(tmp_path / "work" / "dograh.pyz", 0o600)
    installed = make_zip(tmp_path / "my bin" / "dograh", 0o755)
    started_as(str(temporary))
    monkeypatch.setenv("DOGRAH_COMMAND", str(installed))

    assert program_command() == shlex.quote(str(installed))


def test_installed_command_on_path_is_dograh(started_as, tmp_path, monkeypatch):
    temporary = make_zip(tmp_path / "work" / "dograh.pyz", 0o600)
    installed = make_zip(tmp_path / "bin" / "dograh", 0o755)
    started_as(str(temporary), [installed.parent])
    monkeypatch.setenv("DOGRAH_COMMAND", str(installed))

    assert program_command() == "dograh"


@pytest.mark.parametrize("value", ["dograh", "relative/dograh", "/no/such/dograh"])
def test_command_variable_values(started_as, tmp_path, monkeypatch, value):
    zipapp = make_zip(tmp_path / "dist" / "dograh.pyz", 0o755)
    started_as(str(zipapp))
    monkeypatch.setenv("DOGRAH_COMMAND", value)

    expected = "dograh" if value == "dograh" else str(zipapp)
    assert program_command() == expected


def test_dograh_command_names_the_zipapp(started_as, tmp_path):
    zipapp = make_zip(tmp_path / "dist" / "dograh.pyz", 0o644)
    started_as(str(zipapp))
    directory = tmp_path / "my install"

    command = dograh_command(directory, "workers", "6")

    assert command == f"python3 {zipapp} workers --dir {shlex.quote(str(directory))} 6"
    assert command.endswith(" " + dograh_arguments(directory, "workers", "6"))


def summary_doctor_line(stdout: str) -> str:
    lines = stdout.splitlines()
    return lines[lines.index("Then check it with") + 1].strip()


@pytest.fixture
def zipapp_off_path(pyz, tmp_path) -> Path:
    """A copy of the zipapp in a directory with a space, which PATH does not list."""
    copy = tmp_path / "my tools" / "dograh.pyz"
    copy.parent.mkdir()
    shutil.copyfile(pyz, copy)
    copy.chmod(0o755)
    return copy


def test_zipapp_summary_pastes_from_elsewhere(zipapp_off_path, shiv_root, tmp_path):
    directory = tmp_path / "my install"
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP)

    installed = run_pyz(zipapp_off_path, ["install", "--dir", str(directory)], env, cwd=tmp_path)

    assert installed.returncode == 0, installed.stderr
    line = summary_doctor_line(installed.stdout)
    assert line == f"{shlex.quote(str(zipapp_off_path))} doctor --dir {shlex.quote(str(directory))}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    pasted = subprocess.run(["sh", "-c", line + " --json"], env=env, cwd=elsewhere, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=120)
    assert pasted.returncode == 0, pasted.stderr
    assert json.loads(pasted.stdout)["schema"] == "dograh.doctor/1"


def test_not_executable_zipapp_summary(zipapp_off_path, shiv_root, tmp_path):
    zipapp_off_path.chmod(0o644)
    directory = tmp_path / "dograh"
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP)

    installed = run_pyz(zipapp_off_path, ["install", "--dir", str(directory)], env, cwd=tmp_path)

    assert installed.returncode == 0, installed.stderr
    line = summary_doctor_line(installed.stdout)
    assert line == f"python3 {shlex.quote(str(zipapp_off_path))} doctor --dir {directory}"


def test_installed_summary_names_dograh(zipapp_off_path, shiv_root, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dograh").symlink_to(zipapp_off_path)
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    directory = tmp_path / "dograh"

    installed = subprocess.run(["dograh", "install", "--dir", str(directory)], env=env, cwd=tmp_path,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)

    assert installed.returncode == 0, installed.stderr
    assert summary_doctor_line(installed.stdout) == f"dograh doctor --dir {directory}"


def test_zipapp_doctor_fix_pastes(zipapp_off_path, shiv_root, tmp_path):
    directory = tmp_path / "my install"
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP, FASTAPI_WORKERS="4")
    assert run_pyz(zipapp_off_path, ["install", "--dir", str(directory)], env, cwd=tmp_path).returncode == 0
    env_path = directory / ".env"
    env_path.write_text(env_path.read_text().replace("FASTAPI_WORKERS=4", "FASTAPI_WORKERS=6"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    checked = run_pyz(zipapp_off_path, ["doctor", "--json", "--dir", str(directory)], env, cwd=elsewhere)

    findings = {finding["id"]: finding for finding in json.loads(checked.stdout)["findings"]}
    fix = findings["upstream.count"]["fix"].split(" (or ")[0]
    assert shlex.split(fix)[0] == str(zipapp_off_path)
    pasted = subprocess.run(["sh", "-c", fix + " --yes --no-restart"], env=env, cwd=elsewhere,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert pasted.returncode == 0, pasted.stdout + pasted.stderr
    assert "server api:8005" in (directory / "nginx.conf").read_text()
    after = run_pyz(zipapp_off_path, ["doctor", "--dir", str(directory)], env, cwd=elsewhere)
    assert after.returncode == 0, after.stdout


SHIM = Path(__file__).resolve().parents[1] / "scripts" / "setup_remote.sh"


@pytest.mark.parametrize("on_path", [False, True], ids=["bin-off-path", "bin-on-path"])
def test_setup_remote_summary_names_command(pyz, tmp_path, on_path):
    """setup_remote.sh runs a temporary copy, so the summary must name the command it installed."""
    bin_dir = tmp_path / "my bin"
    scratch = tmp_path / "scratch"
    shiv = tmp_path / "shiv"
    scratch.mkdir()
    shiv.mkdir()
    directory = tmp_path / "dograh"
    search = f"{bin_dir}:/usr/bin:/bin" if on_path else "/usr/bin:/bin"
    env = {"PATH": search, "TMPDIR": str(scratch), "SHIV_ROOT": str(shiv), "LANG": "C.UTF-8",
           "DOGRAH_PYZ": str(pyz), "DOGRAH_BIN_DIR": str(bin_dir), "SERVER_IP": EXAMPLE_IP}

    result = subprocess.run(["bash", str(SHIM), "--dir", str(directory)], env=env, cwd=tmp_path,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    command = "dograh" if on_path else shlex.quote(str(bin_dir / "dograh"))
    assert summary_doctor_line(result.stdout) == f"{command} doctor --dir {directory}"
    pasted = subprocess.run(["sh", "-c", summary_doctor_line(result.stdout)], env=env, cwd=scratch,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert pasted.returncode == 0, pasted.stdout + pasted.stderr
