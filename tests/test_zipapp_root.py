"""Where the built zipapp unpacks its libraries when ~/.shiv cannot hold them.

Every run happens as nobody in a private mount namespace (``unshare -m``):
test directories are bind-mounted over /var/tmp, /tmp and /mnt, so the
fallback roots land in the test's tmp directory and the real /var/tmp and
/tmp stay untouched. The zipapp is copied to /mnt, because nobody cannot
enter the 0700 pytest directories. Read-only and noexec mounts come from
remounting those binds; mode bits would not do for a HOME that must refuse
writes to every user.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Dict, List, Sequence

import pytest

from tests.conftest import EXAMPLE_IP

UNSHARE = shutil.which("unshare")
MOUNT = shutil.which("mount")
SETPRIV = shutil.which("setpriv")
NOBODY = 65534
OLD_PYTHONS = [Path("/root/.pyenv/versions/2.7.18/bin/python"), Path("/root/.pyenv/versions/3.6.15/bin/python")]


def _namespaces_work() -> bool:
    if os.geteuid() != 0 or not (UNSHARE and MOUNT and SETPRIV) or not os.path.isdir("/mnt"):
        return False
    return subprocess.run([UNSHARE, "-m", "true"], capture_output=True).returncode == 0


class Sandbox:
    """Directories mounted over /var/tmp, /tmp and /mnt for one run of the zipapp as nobody."""

    def __init__(self, base: Path, pyz: Path) -> None:
        self.var_tmp = base / "var-tmp"
        self.tmp = base / "tmp"
        self.mnt = base / "mnt"
        for path in (self.var_tmp, self.tmp):
            path.mkdir(parents=True)
            path.chmod(0o1777)
        self.mnt.mkdir()
        self.mnt.chmod(0o755)
        shutil.copy2(pyz, self.mnt / "dograh.pyz")
        (self.mnt / "dograh.pyz").chmod(0o755)
        # /tmp last: its bind hides the pytest directories the other binds come from.
        self.mounts: List[List[str]] = [
            [MOUNT, "--bind", str(self.mnt), "/mnt"],
            [MOUNT, "--bind", str(self.var_tmp), "/var/tmp"],
            [MOUNT, "--bind", str(self.tmp), "/tmp"],
        ]

    def nobody_dir(self, name: str) -> Path:
        """A directory under /mnt owned by nobody; returns its host path."""
        path = self.mnt / name
        path.mkdir()
        os.chown(path, NOBODY, NOBODY)
        return path

    def inside(self, path: Path) -> str:
        """The path of a directory under the mounted /mnt as the run sees it."""
        return "/mnt/" + str(path.relative_to(self.mnt))

    def remount(self, target: str, option: str) -> None:
        """Make ``target`` (a path as the run sees it) read-only or noexec for this run alone."""
        self.mounts += [[MOUNT, "--bind", target, target], [MOUNT, "-o", f"remount,bind,{option}", target]]

    def run(self, args: Sequence[str], home: str, **extra: str) -> subprocess.CompletedProcess:
        """Run /mnt/dograh.pyz through its shebang as nobody, like an installed `dograh` command."""
        env: Dict[str, str] = {"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}
        env.update(extra)
        run = ["env", "-i", *[f"{key}={value}" for key, value in env.items()],
               SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "/mnt/dograh.pyz", *args]
        script = "\n".join(["set -e"] + [shlex.join(argv) for argv in self.mounts] + ["exec " + shlex.join(run)])
        return subprocess.run([UNSHARE, "-m", "--propagation", "private", "/bin/sh", "-c", script],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


def extractions(root: Path) -> List[str]:
    if not root.is_dir():
        return []
    return sorted(entry.name for entry in root.iterdir() if entry.name.startswith("dograh.pyz_"))


def assert_private_root(root: Path) -> None:
    info = root.lstat()
    assert info.st_uid == NOBODY
    assert info.st_mode & 0o777 == 0o700
    assert extractions(root), f"nothing was unpacked into {root}"


def assert_ran(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def sandbox(tmp_path, pyz) -> Sandbox:
    if not _namespaces_work():
        pytest.skip("needs root, setpriv, /mnt and unshare -m for private mount namespaces")
    return Sandbox(tmp_path / "sandbox", pyz)


def test_missing_home_installs_from_var_tmp(sandbox):
    directory = "/tmp/dograh"
    result = sandbox.run(["install", "--dir", directory], "/nonexistent", SERVER_IP=EXAMPLE_IP)

    assert_ran(result)
    assert_private_root(sandbox.var_tmp / f"dograh-shiv-{NOBODY}")
    # cryptography's compiled module made the key, so the unpacked .so files load from there.
    key = sandbox.tmp / "dograh" / "certs" / "local.key"
    assert key.is_file()
    assert key.stat().st_uid == NOBODY
    assert not (sandbox.tmp / f"dograh-shiv-{NOBODY}").exists()


def test_read_only_home_uses_var_tmp(sandbox):
    home = sandbox.nobody_dir("home")
    sandbox.remount(sandbox.inside(home), "ro")

    result = sandbox.run(["--version"], sandbox.inside(home))

    assert_ran(result)
    assert result.stdout.startswith("dograh, version ")
    assert list(home.iterdir()) == []
    assert_private_root(sandbox.var_tmp / f"dograh-shiv-{NOBODY}")


def test_writable_home_keeps_shiv_default(sandbox):
    home = sandbox.nobody_dir("home")

    assert_ran(sandbox.run(["--version"], sandbox.inside(home)))

    assert extractions(home / ".shiv")
    assert list(sandbox.var_tmp.iterdir()) == []


def test_xdg_cache_home_comes_first(sandbox):
    cache = sandbox.nobody_dir("cache")

    assert_ran(sandbox.run(["--version"], "/nonexistent", XDG_CACHE_HOME=sandbox.inside(cache)))

    assert_private_root(cache / "dograh-shiv")
    assert list(sandbox.var_tmp.iterdir()) == []


def test_noexec_var_tmp_is_skipped(sandbox):
    sandbox.remount("/var/tmp", "noexec")

    assert_ran(sandbox.run(["--version"], "/nonexistent"))

    assert_private_root(sandbox.tmp / f"dograh-shiv-{NOBODY}")
    # The directory made for the check is removed again once noexec rules it out.
    assert list(sandbox.var_tmp.iterdir()) == []


@pytest.mark.parametrize("owner, mode", [(0, 0o700), (NOBODY, 0o777)], ids=["other-owner", "world-writable"])
def test_foreign_writable_root_skipped(sandbox, owner, mode):
    planted = sandbox.var_tmp / f"dograh-shiv-{NOBODY}"
    planted.mkdir()
    os.chown(planted, owner, owner)
    planted.chmod(mode)

    assert_ran(sandbox.run(["--version"], "/nonexistent"))

    assert extractions(planted) == []
    assert_private_root(sandbox.tmp / f"dograh-shiv-{NOBODY}")


def test_no_usable_root_exits_2(sandbox):
    sandbox.remount("/var/tmp", "noexec")
    sandbox.remount("/tmp", "noexec")
    directory = "/tmp/dograh"

    result = sandbox.run(["install", "--dir", directory], "/nonexistent", SERVER_IP=EXAMPLE_IP)

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dograh: error: ")
    assert "set SHIV_ROOT to one" in lines[0]
    for tried in ("/nonexistent/.shiv", f"/var/tmp/dograh-shiv-{NOBODY}", f"/tmp/dograh-shiv-{NOBODY}"):
        assert tried in lines[0]
    assert list(sandbox.var_tmp.iterdir()) == []
    assert list(sandbox.tmp.iterdir()) == []


def test_shiv_root_variable_wins(sandbox):
    chosen = sandbox.nobody_dir("chosen")

    assert_ran(sandbox.run(["--version"], "/nonexistent", SHIV_ROOT=sandbox.inside(chosen)))

    assert extractions(chosen)
    assert list(sandbox.var_tmp.iterdir()) == []


@pytest.mark.parametrize("interpreter", OLD_PYTHONS, ids=lambda path: path.parents[1].name)
def test_main_parses_on_old_python(pyz, interpreter):
    """The guards run before shiv's own code, so an old interpreter must at least compile them."""
    if not interpreter.exists():
        pytest.skip(f"{interpreter} is not installed")
    with zipfile.ZipFile(pyz) as archive:
        source = archive.read("__main__.py").decode()
    assert "_dograh_choose_shiv_root()" in source
    check = "import sys; compile(sys.stdin.read(), '__main__.py', 'exec')"
    result = subprocess.run([str(interpreter), "-c", check], input=source, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr

