"""The zipapp under every CPython that pyenv has on this machine.

3.9 and newer must run `--help` and a full install. Older interpreters,
including 2.7, must exit 2 with a message that names 3.9 and their own
version, rather than a SyntaxError or a traceback.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any, List

import pytest
from dotenv import dotenv_values

from tests.conftest import EXAMPLE_IP, base_env

PYENV = Path("/root/.pyenv/versions")
SUPPORTED = ["3.9", "3.10", "3.11", "3.12", "3.13", "3.14"]
TOO_OLD = ["2.7", "3.6", "3.7", "3.8"]


def find_interpreter(minor: str) -> Any:
    """Return a pytest parameter for the newest pyenv CPython ``minor``, or one that skips."""
    candidates: List[Path] = []
    for version_dir in PYENV.glob(minor + ".*"):
        if re.fullmatch(re.escape(minor) + r"\.\d+", version_dir.name):
            binary = version_dir / "bin" / ("python" + minor)
            if binary.exists():
                candidates.append(binary)
    if not candidates:
        return pytest.param(minor, None, marks=pytest.mark.skip(reason=f"no Python {minor} under {PYENV}"))
    newest = max(candidates, key=lambda path: int(path.parents[1].name.rsplit(".", 1)[1]))
    return pytest.param(minor, newest, id=newest.parents[1].name)


def run_with(interpreter: Path, pyz: Path, args: List[str], env, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(interpreter), str(pyz), *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("minor, interpreter", [find_interpreter(minor) for minor in SUPPORTED])
def test_supported_python_installs(pyz, shiv_root, tmp_path, minor, interpreter):
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP)

    help_result = run_with(interpreter, pyz, ["--help"], env, tmp_path)
    assert help_result.returncode == 0, help_result.stderr
    assert re.search(r"^\s+install\b", help_result.stdout, re.M)

    installed = run_with(interpreter, pyz, ["install", "--dir", str(tmp_path / "dograh")], env, tmp_path)
    assert installed.returncode == 0, installed.stderr
    directory = tmp_path / "dograh"
    for name in ("docker-compose.yaml", ".env", "nginx.conf", "turnserver.conf", "certs/local.crt",
                 "certs/local.key"):
        assert (directory / name).is_file(), name
    assert (directory / ".env").stat().st_mode & 0o777 == 0o600
    assert dotenv_values(directory / ".env")["SERVER_IP"] == EXAMPLE_IP


# Importing every module catches a bundled library whose code needs a newer
# Python than the one running it, as a `match` statement in an anyio release did.
IMPORT_EVERYTHING = """\
import importlib, pkgutil, dograh_installer
names = [m.name for m in pkgutil.walk_packages(dograh_installer.__path__, "dograh_installer.")]
for name in names + ["httpx", "websockets.asyncio.client", "yaml", "crossplane", "dotenv", "cryptography.x509",
                     "click", "anyio", "httpcore", "h11"]:
    importlib.import_module(name)
print("imported", len(names), "dograh modules")
"""


@pytest.mark.parametrize("minor, interpreter", [find_interpreter(minor) for minor in SUPPORTED])
def test_supported_python_imports_all(pyz, shiv_root, tmp_path, minor, interpreter):
    script = tmp_path / "import_everything.py"
    script.write_text(IMPORT_EVERYTHING)
    # SHIV_INTERPRETER makes shiv's bootstrap run the given script with the bundled site-packages.
    env = base_env(shiv_root, SHIV_INTERPRETER="1")
    result = run_with(interpreter, pyz, [str(script)], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"imported [1-9][0-9]* dograh modules", result.stdout)


@pytest.mark.parametrize("minor, interpreter", [find_interpreter(minor) for minor in TOO_OLD])
def test_old_python_exits_2(pyz, shiv_root, tmp_path, minor, interpreter):
    found = subprocess.run([str(interpreter), "-c", "import sys; print('%d.%d.%d' % tuple(sys.version_info[:3]))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP)

    for args in (["--help"], ["install", "--dir", str(tmp_path / "dograh")]):
        result = run_with(interpreter, pyz, args, env, tmp_path)
        assert result.returncode == 2, result.stderr
        assert "Python 3.9 or newer is required" in result.stderr
        assert f"Python {found}" in result.stderr
        assert "Traceback" not in result.stderr
        assert "SyntaxError" not in result.stderr
    assert not (tmp_path / "dograh").exists()
