"""scripts/setup_remote.sh run for real: bash, the built zipapp, no TTY.

Each run happens in a private mount namespace (``unshare -m``) where the
test's own directories are bind-mounted over /var/cache, /var/tmp and
/usr/local/bin. The default extraction roots and the `dograh` command the shim
installs so land in the test's tmp directory, and nothing is left on the
machine. The same namespace lets a test make a
directory read-only or ``noexec`` for the shim alone. Mode bits such as 0555
would not do, because the tests run as root and root ignores them.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import pty
import secrets
import select
import shlex
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import pytest
from dotenv import dotenv_values

from tests.conftest import EXAMPLE_IP, ROOT

SHIM = ROOT / "scripts" / "setup_remote.sh"
PYENV = Path("/root/.pyenv/versions")
UNSHARE = shutil.which("unshare")
MOUNT = shutil.which("mount")
ENV_KEYS = [
    "ENVIRONMENT", "SERVER_IP", "PUBLIC_HOST", "PUBLIC_BASE_URL", "ENABLE_COTURN", "TURN_SECRET",
    "FORCE_TURN_RELAY", "OSS_JWT_SECRET", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD", "ENABLE_TELEMETRY", "FASTAPI_WORKERS",
]
SECRET_KEYS = ["TURN_SECRET", "OSS_JWT_SECRET", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "MINIO_ROOT_PASSWORD"]
INSTALL_FILES = ["docker-compose.yaml", ".env", "nginx.conf", "turnserver.conf", "certs/local.crt",
                 "certs/local.key"]
# What the shim and `dograh install` call, for tests that build their own PATH.
TOOLS = ["bash", "mktemp", "chmod", "rm", "mv", "cp", "mkdir", "tail", "sha256sum", "curl", "wget",
         "python3"]


def _namespaces_work() -> bool:
    if os.geteuid() != 0 or not UNSHARE or not MOUNT:
        return False
    probe = subprocess.run([UNSHARE, "-m", "true"], capture_output=True)
    return probe.returncode == 0


NAMESPACES = _namespaces_work()


class Sandbox:
    """Directories standing in for /var/cache, /var/tmp and /usr/local/bin, and the commands that mount them."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.var_cache = base / "var-cache"
        self.var_tmp = base / "var-tmp"
        self.bin_dir = base / "usr-local-bin"
        self.tmpdir = base / "tmpdir"
        for path in (self.var_cache, self.var_tmp, self.bin_dir, self.tmpdir):
            path.mkdir(parents=True)
        self.mounts: List[List[str]] = [
            [MOUNT, "--bind", str(self.var_cache), "/var/cache"],
            [MOUNT, "--bind", str(self.var_tmp), "/var/tmp"],
            [MOUNT, "--bind", str(self.bin_dir), "/usr/local/bin"],
        ]

    def read_only(self, path: Path) -> None:
        self.mounts += [[MOUNT, "--bind", str(path), str(path)],
                        [MOUNT, "-o", "remount,bind,ro", str(path)]]

    def noexec_tmpfs(self, path: Path) -> None:
        self.mounts.append([MOUNT, "-t", "tmpfs", "-o", "noexec,mode=0700", "tmpfs", str(path)])

    def command(self, shim_argv: Sequence[str], then: Sequence[Sequence[str]] = ()) -> List[str]:
        """Mount, run the shim, and run ``then`` in the same namespace if the shim succeeds."""
        lines = ["set -e"] + [shlex.join(argv) for argv in self.mounts]
        if then:
            lines += [shlex.join(shim_argv)] + [shlex.join(argv) for argv in then]
        else:
            lines.append("exec " + shlex.join(shim_argv))
        return [UNSHARE, "-m", "--propagation", "private", "/bin/sh", "-c", "\n".join(lines)]

    def extractions(self, root: Path) -> List[str]:
        if not root.is_dir():
            return []
        return sorted(entry.name for entry in root.iterdir() if entry.name.startswith("dograh.pyz_"))


@pytest.fixture
def sandbox(tmp_path) -> Sandbox:
    if not NAMESPACES:
        pytest.skip("needs root and unshare -m for private mount namespaces")
    return Sandbox(tmp_path / "sandbox")


def shim_env(sandbox: Sandbox, **extra: str) -> Dict[str, str]:
    """The environment of `env -i PATH=... TMPDIR=...` plus the test's variables."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "TMPDIR": str(sandbox.tmpdir)}
    env.update(extra)
    return env


def run_shim(sandbox: Sandbox, env: Dict[str, str], cwd: Path, args: Sequence[str] = (),
             timeout: float = 120, then: Sequence[Sequence[str]] = ()) -> subprocess.CompletedProcess:
    """Run the shim like cloud-init does: stdin not a TTY, no controlling terminal."""
    return subprocess.run(sandbox.command(["bash", str(SHIM), *args], then), env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                          start_new_session=True)


def assert_complete_install(directory: Path, result: subprocess.CompletedProcess) -> Dict[str, Optional[str]]:
    assert result.returncode == 0, result.stderr
    for name in INSTALL_FILES:
        assert (directory / name).is_file(), name
    assert (directory / ".env").stat().st_mode & 0o777 == 0o600
    assert (directory / "certs" / "local.key").stat().st_mode & 0o777 == 0o600
    values = dotenv_values(directory / ".env")
    assert sorted(set(ENV_KEYS) - set(values)) == []
    assert values["SERVER_IP"] == EXAMPLE_IP
    for key in SECRET_KEYS:
        assert values[key], key
        assert values[key] not in result.stdout, key
        assert values[key] not in result.stderr, key
    return values


def assert_nothing_written(cwd: Path) -> None:
    assert not (cwd / "dograh").exists()


def zipapp_version(pyz: Path, shiv_root: Path) -> str:
    """What `dograh --version` prints, from the zipapp under test."""
    result = subprocess.run([sys.executable, str(pyz), "--version"], env={"PATH": "/usr/bin:/bin",
                            "SHIV_ROOT": str(shiv_root)}, capture_output=True, text=True, check=True, timeout=120)
    return result.stdout


def assert_command_installed(command: Path, pyz: Path) -> None:
    assert command.is_file()
    assert not command.is_symlink()
    assert command.stat().st_mode & 0o777 == 0o755
    assert sha256_file(command) == sha256_file(pyz)
    assert [name for name in os.listdir(command.parent) if name.startswith(".dograh.")] == []


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def toolbox(directory: Path, without: Sequence[str] = ()) -> Path:
    """A PATH directory holding links to TOOLS, minus ``without``."""
    directory.mkdir()
    for name in TOOLS:
        if name in without:
            continue
        found = sys.executable if name == "python3" else shutil.which(name)
        if found is None:
            pytest.skip(f"{name} is not installed")
        (directory / name).symlink_to(found)
    return directory


@pytest.fixture
def http_server(tmp_path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving a directory; yields its base URL."""
    served = tmp_path / "served"
    served.mkdir()

    class QuietHandler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def served_dir(tmp_path: Path) -> Path:
    return tmp_path / "served"


# --- the documented cloud-init path ---------------------------------------


def test_env_i_without_home_completes(pyz, sandbox, tmp_path):
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz))
    result = run_shim(sandbox, env, tmp_path)
    assert_complete_install(tmp_path / "dograh", result)
    # Without HOME, root extracts into /var/cache/dograh.
    assert len(sandbox.extractions(sandbox.var_cache / "dograh")) == 1
    assert list(sandbox.tmpdir.iterdir()) == []


def test_arguments_reach_dograh_install(pyz, sandbox, tmp_path):
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz))
    result = run_shim(sandbox, env, tmp_path, ["--workers", "3", "--dir", str(tmp_path / "custom")])
    values = assert_complete_install(tmp_path / "custom", result)
    assert values["FASTAPI_WORKERS"] == "3"


def test_dograh_exit_code_passes_through(pyz, sandbox, tmp_path):
    env = shim_env(sandbox, SERVER_IP="256.1.1.1", DOGRAH_PYZ=str(pyz))
    bad = run_shim(sandbox, env, tmp_path)
    assert bad.returncode == 2
    assert "SERVER_IP" in bad.stderr
    assert_nothing_written(tmp_path)

    env["SERVER_IP"] = EXAMPLE_IP
    assert_complete_install(tmp_path / "dograh", run_shim(sandbox, env, tmp_path))
    again = run_shim(sandbox, env, tmp_path)
    assert again.returncode == 1
    assert "DOGRAH_FORCE_OVERWRITE" in again.stdout + again.stderr


def test_script_piped_into_bash(pyz, sandbox, tmp_path):
    """`curl ... | bash -s -- ARGS`: dograh must not read the script as input."""
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz))
    result = subprocess.run(sandbox.command(["bash", "-s", "--", "--workers", "2"]), env=env, cwd=tmp_path,
                            input=SHIM.read_text(), capture_output=True, text=True, timeout=120,
                            start_new_session=True)
    values = assert_complete_install(tmp_path / "dograh", result)
    assert values["FASTAPI_WORKERS"] == "2"


def _read_until(master: int, needle: str, deadline: float) -> str:
    """Read the pseudo-terminal until ``needle`` shows up, EOF, or ``deadline``."""
    seen = ""
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every process holding the terminal has exited
            break
        if not chunk:
            break
        seen += chunk.decode(errors="replace")
    return seen


def test_piped_script_prompts_on_terminal(pyz, sandbox, tmp_path):
    """`curl ... | sudo bash` on a terminal: stdin is the script, prompts go to /dev/tty."""
    master, slave = pty.openpty()

    def take_terminal() -> None:
        # start_new_session has already called setsid(); fd 1 is the slave.
        fcntl.ioctl(1, termios.TIOCSCTTY, 0)

    env = shim_env(sandbox, DOGRAH_PYZ=str(pyz), TURN_SECRET=secrets.token_hex(16), FASTAPI_WORKERS="2")
    process = subprocess.Popen(sandbox.command(["bash", "-s"]), env=env, cwd=tmp_path, stdin=subprocess.PIPE,
                               stdout=slave, stderr=slave, start_new_session=True, preexec_fn=take_terminal)
    os.close(slave)
    try:
        assert process.stdin is not None
        process.stdin.write(SHIM.read_bytes())
        process.stdin.close()
        deadline = time.monotonic() + 120
        before = _read_until(master, "(SERVER_IP)", deadline)
        assert "(SERVER_IP)" in before
        os.write(master, f"{EXAMPLE_IP}\n".encode())
        after = _read_until(master, "Next: start the stack", deadline)
        assert process.wait(timeout=120) == 0, before + after
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    assert "Next: start the stack" in after
    values = dotenv_values(tmp_path / "dograh" / ".env")
    assert values["SERVER_IP"] == EXAMPLE_IP
    assert values["FASTAPI_WORKERS"] == "2"


def test_missing_zipapp_source(sandbox, tmp_path):
    result = run_shim(sandbox, shim_env(sandbox, SERVER_IP=EXAMPLE_IP), tmp_path)
    assert result.returncode == 2
    assert "DOGRAH_PYZ" in result.stderr
    assert "DOGRAH_PYZ_URL" in result.stderr
    assert_nothing_written(tmp_path)


def test_unreadable_local_zipapp(sandbox, tmp_path):
    missing = tmp_path / "nowhere" / "dograh.pyz"
    result = run_shim(sandbox, shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(missing)), tmp_path)
    assert result.returncode == 2
    assert f"DOGRAH_PYZ={missing}" in result.stderr
    assert_nothing_written(tmp_path)


# --- checksum -------------------------------------------------------------


def test_wrong_sha256_stops_before_running(pyz, sandbox, tmp_path):
    shiv_root = tmp_path / "shiv-root"
    wrong = "0" * 64
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), DOGRAH_PYZ_SHA256=wrong,
                   SHIV_ROOT=str(shiv_root))
    result = run_shim(sandbox, env, tmp_path)
    assert result.returncode == 1
    assert "checksum mismatch" in result.stderr
    assert sha256_file(pyz) in result.stderr
    assert result.stdout == ""
    assert_nothing_written(tmp_path)
    assert not shiv_root.exists()
    assert os.listdir(sandbox.var_cache) == []
    assert list(sandbox.tmpdir.iterdir()) == []


@pytest.mark.parametrize("form", ["lower", "upper", "sha256sum line"])
def test_right_sha256_passes(pyz, sandbox, tmp_path, form):
    digest = sha256_file(pyz)
    value = {"lower": digest, "upper": digest.upper(), "sha256sum line": f"{digest}  dograh.pyz"}[form]
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), DOGRAH_PYZ_SHA256=value)
    assert_complete_install(tmp_path / "dograh", run_shim(sandbox, env, tmp_path))


@pytest.mark.parametrize("value", ["abc", "g" * 64, "0" * 63, "0" * 65])
def test_malformed_sha256_is_bad_input(pyz, sandbox, tmp_path, value):
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), DOGRAH_PYZ_SHA256=value)
    result = run_shim(sandbox, env, tmp_path)
    assert result.returncode == 2
    assert "DOGRAH_PYZ_SHA256 must be 64 hexadecimal digits" in result.stderr
    assert_nothing_written(tmp_path)


# --- download -------------------------------------------------------------


@pytest.mark.parametrize("downloader, without", [
    ("curl", ["wget"]),
    # Also proves the python3 hashlib fallback when sha256sum is missing.
    ("wget", ["curl", "sha256sum"]),
])
def test_download_and_verify(pyz, sandbox, tmp_path, http_server, downloader, without):
    shutil.copy(pyz, served_dir(tmp_path) / "dograh.pyz")
    path = toolbox(tmp_path / "bin", without=without)
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ_URL=f"{http_server}/dograh.pyz",
                   DOGRAH_PYZ_SHA256=sha256_file(pyz), PATH=str(path))
    assert_complete_install(tmp_path / "dograh", run_shim(sandbox, env, tmp_path))
    assert list(sandbox.tmpdir.iterdir()) == []


@pytest.mark.parametrize("downloader, without", [("curl", ["wget"]), ("wget", ["curl"])])
def test_failed_download_is_clear(sandbox, tmp_path, http_server, downloader, without):
    path = toolbox(tmp_path / "bin", without=without)
    url = http_server.replace("http://", "http://user:hunter2@") + "/missing.pyz?token=s3cr3t"
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ_URL=url, PATH=str(path))
    result = run_shim(sandbox, env, tmp_path)
    assert result.returncode == 1
    assert f"download of {http_server}/missing.pyz failed ({downloader}" in result.stderr
    assert "404" in result.stderr
    assert "hunter2" not in result.stderr
    assert "s3cr3t" not in result.stderr
    assert_nothing_written(tmp_path)


def test_interrupted_download_leaves_nothing(sandbox, tmp_path):
    """SIGTERM mid-download: exit 143 and the partial file is gone with the work directory."""
    release = threading.Event()

    class StallingHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(10 * 1024 * 1024))
            self.end_headers()
            self.wfile.write(b"PK" * 4096)
            self.wfile.flush()
            release.wait(60)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), StallingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/dograh.pyz"
        env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ_URL=url)
        process = subprocess.Popen(sandbox.command(["bash", str(SHIM)]), env=env, cwd=tmp_path,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, start_new_session=True)
        deadline = time.monotonic() + 60
        partial = []
        while not partial and time.monotonic() < deadline and process.poll() is None:
            partial = [path for path in sandbox.tmpdir.glob("dograh-setup.*/dograh.pyz.part")
                       if path.stat().st_size > 0]
            time.sleep(0.05)
        assert partial, "the download never started"
        os.killpg(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        release.set()
        server.shutdown()
        server.server_close()
    assert process.returncode == 143, stderr
    assert list(sandbox.tmpdir.iterdir()) == []
    assert_nothing_written(tmp_path)


def test_no_downloader(sandbox, tmp_path, http_server):
    path = toolbox(tmp_path / "bin", without=["curl", "wget"])
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ_URL=f"{http_server}/dograh.pyz", PATH=str(path))
    result = run_shim(sandbox, env, tmp_path)
    assert result.returncode == 1
    assert "neither curl nor wget" in result.stderr


# --- python3 --------------------------------------------------------------


def _pyenv_python(prefix: str) -> Optional[Path]:
    for version in sorted(PYENV.glob(prefix + ".*")):
        binary = version / "bin" / ("python" + prefix)
        if binary.exists():
            return binary
    return None


@pytest.mark.parametrize("prefix", ["3.8", "2.7"])
def test_old_python_is_named(pyz, sandbox, tmp_path, prefix):
    old = _pyenv_python(prefix)
    if old is None:
        pytest.skip(f"no Python {prefix} under {PYENV}")
    found = subprocess.run([str(old), "-c", "import sys; print('%d.%d.%d' % tuple(sys.version_info[:3]))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    path = toolbox(tmp_path / "bin", without=["python3"])
    (path / "python3").symlink_to(old)
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), PATH=str(path))
    result = run_shim(sandbox, env, tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "Python 3.9 or newer is required" in result.stderr
    assert f"Python {found}" in result.stderr
    assert_nothing_written(tmp_path)


def test_missing_python(pyz, sandbox, tmp_path):
    path = toolbox(tmp_path / "bin", without=["python3"])
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), PATH=str(path))
    result = run_shim(sandbox, env, tmp_path)
    assert result.returncode == 2
    assert "python3 not found on PATH" in result.stderr
    assert_nothing_written(tmp_path)


# --- where shiv extracts --------------------------------------------------


def test_empty_home_falls_back(pyz, sandbox, tmp_path):
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), HOME="")
    assert_complete_install(tmp_path / "dograh", run_shim(sandbox, env, tmp_path))
    assert len(sandbox.extractions(sandbox.var_cache / "dograh")) == 1


def test_writable_home_is_used(pyz, sandbox, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), HOME=str(home))
    assert_complete_install(tmp_path / "dograh", run_shim(sandbox, env, tmp_path))
    assert len(sandbox.extractions(home / ".shiv")) == 1
    assert os.listdir(sandbox.var_cache) == []


def test_read_only_home_is_skipped(pyz, sandbox, tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o555)
    sandbox.read_only(home)
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), HOME=str(home))
    assert_complete_install(tmp_path / "dograh", run_shim(sandbox, env, tmp_path))
    assert os.listdir(home) == []
    assert len(sandbox.extractions(sandbox.var_cache / "dograh")) == 1


def test_home_of_another_user_is_skipped(pyz, sandbox, tmp_path):
    """sudo that keeps the caller's HOME must not leave root-owned files there."""
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, 65534, 65534)
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), HOME=str(home))
    assert_complete_install(tmp_path / "dograh", run_shim(sandbox, env, tmp_path))
    assert os.listdir(home) == []
    assert len(sandbox.extractions(sandbox.var_cache / "dograh")) == 1


def test_noexec_home_is_skipped(pyz, sandbox, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    sandbox.noexec_tmpfs(home)
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), HOME=str(home))
    assert_complete_install(tmp_path / "dograh", run_shim(sandbox, env, tmp_path))
    assert len(sandbox.extractions(sandbox.var_cache / "dograh")) == 1


def test_xdg_cache_home_is_used(pyz, sandbox, tmp_path):
    cache = tmp_path / "xdg-cache"
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), XDG_CACHE_HOME=str(cache))
    assert_complete_install(tmp_path / "dograh", run_shim(sandbox, env, tmp_path))
    assert len(sandbox.extractions(cache / "dograh")) == 1
    assert os.listdir(sandbox.var_cache) == []


def test_given_shiv_root_is_kept(pyz, sandbox, tmp_path):
    shiv_root = tmp_path / "given"
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), SHIV_ROOT=str(shiv_root))
    assert_complete_install(tmp_path / "dograh", run_shim(sandbox, env, tmp_path))
    assert len(sandbox.extractions(shiv_root)) == 1
    assert os.listdir(sandbox.var_cache) == []


def test_no_usable_root_names_shiv_root(pyz, sandbox, tmp_path):
    """Every candidate read-only or noexec: one line that names SHIV_ROOT."""
    for shared in ("/var/cache", "/var/tmp", "/tmp"):
        sandbox.read_only(Path(shared))
    # The shim's work directory, and so the last candidate, is writable but noexec.
    sandbox.noexec_tmpfs(sandbox.tmpdir)
    home = tmp_path / "home"
    home.mkdir()
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), HOME=str(home))
    result = run_shim(sandbox, env, tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "set SHIV_ROOT" in lines[0]
    assert "/var/cache/dograh" in lines[0]
    assert result.stdout == ""
    assert_nothing_written(tmp_path)


def test_root_skips_directory_owned_by_another_user(pyz, sandbox, tmp_path):
    """Root can write anywhere, so only ownership keeps it from running code another user planted."""
    planted = sandbox.var_cache / "dograh"
    planted.mkdir()
    planted.chmod(0o777)
    os.chown(planted, 65534, 65534)
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz))
    assert_complete_install(tmp_path / "dograh", run_shim(sandbox, env, tmp_path))
    assert os.listdir(planted) == []
    assert len(sandbox.extractions(sandbox.var_tmp / "dograh-shiv-0")) == 1


# --- an unprivileged user -------------------------------------------------

NOBODY = 65534


def nobody_setup(sandbox: Sandbox, pyz: Path) -> Dict[str, str]:
    """Stage a run as the nobody user: zipapp and install directory in the fake /var/tmp, and a fake /tmp.

    The test's tmp_path sits below root's 0700 pytest directory, which the
    nobody user cannot enter, so the shim reaches everything through the mounts.
    """
    shutil.copy(pyz, sandbox.var_tmp / "dograh.pyz")
    (sandbox.var_tmp / "dograh.pyz").chmod(0o644)
    # The checkout may sit below /tmp, which is mounted over, or in root's
    # 0700 home, so nobody runs a copy of the shim.
    shutil.copy(SHIM, sandbox.var_tmp / "setup_remote.sh")
    (sandbox.var_tmp / "setup_remote.sh").chmod(0o755)
    sandbox.var_tmp.chmod(0o1777)
    fake_tmp = sandbox.base / "tmp"
    fake_tmp.mkdir()
    fake_tmp.chmod(0o1777)
    install = sandbox.var_tmp / "install"
    install.mkdir()
    os.chown(install, NOBODY, NOBODY)
    # Mounted last: the bind sources above are paths below the real /tmp.
    sandbox.mounts.append([MOUNT, "--bind", str(fake_tmp), "/tmp"])
    return {"PATH": "/usr/bin:/bin", "TMPDIR": "/tmp", "SERVER_IP": EXAMPLE_IP, "DOGRAH_PYZ": "/var/tmp/dograh.pyz"}


def run_as_nobody(sandbox: Sandbox, env: Dict[str, str]) -> subprocess.CompletedProcess:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv is not installed")
    argv = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            "bash", "/var/tmp/setup_remote.sh", "--dir", "/var/tmp/install"]
    return subprocess.run(sandbox.command(argv), env=env, cwd="/", stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120, start_new_session=True)


def test_unprivileged_user_uses_var_tmp(pyz, sandbox):
    env = nobody_setup(sandbox, pyz)
    result = run_as_nobody(sandbox, env)
    assert_complete_install(sandbox.var_tmp / "install", result)
    assert (sandbox.var_tmp / "install" / ".env").stat().st_uid == NOBODY
    root = sandbox.var_tmp / f"dograh-shiv-{NOBODY}"
    assert len(sandbox.extractions(root)) == 1
    assert root.stat().st_uid == NOBODY
    assert root.stat().st_mode & 0o077 == 0
    assert os.listdir(sandbox.var_cache) == []
    # Without HOME an unprivileged user has no default place for the command.
    assert ("setup_remote.sh: warning: the dograh command was not installed: HOME is unset or not writable; "
            "set DOGRAH_BIN_DIR" in result.stderr)
    assert os.listdir(sandbox.bin_dir) == []


def test_unprivileged_user_installs_in_home(pyz, sandbox):
    env = nobody_setup(sandbox, pyz)
    home = sandbox.var_tmp / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    env["HOME"] = "/var/tmp/home"
    result = run_as_nobody(sandbox, env)
    assert_complete_install(sandbox.var_tmp / "install", result)
    command = home / ".local" / "bin" / "dograh"
    assert_command_installed(command, pyz)
    assert command.stat().st_uid == NOBODY
    assert ("installed the dograh command as /var/tmp/home/.local/bin/dograh; /var/tmp/home/.local/bin is not on "
            "PATH, so run it as /var/tmp/home/.local/bin/dograh\n" in result.stdout)
    assert os.listdir(sandbox.bin_dir) == []


def test_unprivileged_user_unwritable_home_warns(pyz, sandbox):
    env = nobody_setup(sandbox, pyz)
    home = sandbox.var_tmp / "home"
    home.mkdir(mode=0o755)
    env["HOME"] = "/var/tmp/home"
    result = run_as_nobody(sandbox, env)
    assert_complete_install(sandbox.var_tmp / "install", result)
    assert ("setup_remote.sh: warning: the dograh command was not installed: HOME is unset or not writable; "
            "set DOGRAH_BIN_DIR" in result.stderr)
    assert os.listdir(home) == []
    assert os.listdir(sandbox.bin_dir) == []


def test_unprivileged_user_skips_squatted_root(pyz, sandbox):
    """A directory someone else created under the expected name could hold planted code."""
    env = nobody_setup(sandbox, pyz)
    squatted = sandbox.var_tmp / f"dograh-shiv-{NOBODY}"
    squatted.mkdir()
    squatted.chmod(0o777)
    result = run_as_nobody(sandbox, env)
    assert_complete_install(sandbox.var_tmp / "install", result)
    assert os.listdir(squatted) == []
    assert len(sandbox.extractions(sandbox.base / "tmp" / f"dograh-shiv-{NOBODY}")) == 1


# --- concurrent first runs ------------------------------------------------


def _run_together(sandbox: Sandbox, env: Dict[str, str], cwd: Path, count: int) -> List[subprocess.CompletedProcess]:
    processes = []
    for index in range(count):
        argv = sandbox.command(["bash", str(SHIM), "--dir", str(cwd / f"install-{index}")])
        processes.append(subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                          start_new_session=True))
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=240)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    return results


def test_concurrent_first_runs_share_given_root(pyz, sandbox, tmp_path):
    shiv_root = tmp_path / "fresh-root"
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), SHIV_ROOT=str(shiv_root))
    results = _run_together(sandbox, env, tmp_path, 4)
    for index, result in enumerate(results):
        assert_complete_install(tmp_path / f"install-{index}", result)
    assert len(sandbox.extractions(shiv_root)) == 1
    assert [name for name in os.listdir(shiv_root) if name.endswith(".tmp")] == []


def test_concurrent_downloads_share_default_root(pyz, sandbox, tmp_path, http_server):
    shutil.copy(pyz, served_dir(tmp_path) / "dograh.pyz")
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ_URL=f"{http_server}/dograh.pyz",
                   DOGRAH_PYZ_SHA256=sha256_file(pyz))
    results = _run_together(sandbox, env, tmp_path, 4)
    for index, result in enumerate(results):
        assert_complete_install(tmp_path / f"install-{index}", result)
    root = sandbox.var_cache / "dograh"
    assert len(sandbox.extractions(root)) == 1
    assert [name for name in os.listdir(root) if name.endswith(".tmp")] == []
    assert list(sandbox.tmpdir.iterdir()) == []
    # Every run installs /usr/local/bin/dograh, and the renames leave one whole file.
    for result in results:
        assert "installed the dograh command as /usr/local/bin/dograh\n" in result.stdout
    assert_command_installed(sandbox.bin_dir / "dograh", pyz)


# --- the dograh command ---------------------------------------------------


def test_root_installs_usr_local_bin(pyz, sandbox, tmp_path):
    shiv_root = tmp_path / "shiv-root"
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), SHIV_ROOT=str(shiv_root))
    result = run_shim(sandbox, env, tmp_path, then=[["dograh", "--version"]])
    assert_complete_install(tmp_path / "dograh", result)
    assert "setup_remote.sh: installed the dograh command as /usr/local/bin/dograh\n" in result.stdout
    assert "not on PATH" not in result.stdout
    assert result.stdout.endswith(zipapp_version(pyz, shiv_root))
    assert_command_installed(sandbox.bin_dir / "dograh", pyz)


@pytest.mark.parametrize("on_path", [False, True])
def test_bin_dir_overrides_default(pyz, sandbox, tmp_path, on_path):
    # Missing on purpose: the shim creates it.
    bin_dir = tmp_path / "opt" / "bin"
    command = bin_dir / "dograh"
    shiv_root = tmp_path / "shiv-root"
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), SHIV_ROOT=str(shiv_root),
                   DOGRAH_BIN_DIR=f"{bin_dir}/")
    if on_path:
        env["PATH"] = f"{bin_dir}:{env['PATH']}"
    result = run_shim(sandbox, env, tmp_path)
    assert_complete_install(tmp_path / "dograh", result)
    assert_command_installed(command, pyz)
    assert os.listdir(sandbox.bin_dir) == []
    if on_path:
        assert f"installed the dograh command as {command}\n" in result.stdout
    else:
        assert (f"installed the dograh command as {command}; {bin_dir} is not on PATH, so run it as {command}\n"
                in result.stdout)
    version = subprocess.run([str(command), "--version"], env={"PATH": "/usr/bin:/bin", "SHIV_ROOT": str(shiv_root)},
                             capture_output=True, text=True, timeout=120)
    assert version.returncode == 0, version.stderr
    assert version.stdout == zipapp_version(pyz, shiv_root)


def test_bin_dir_none_skips_command(pyz, sandbox, tmp_path):
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), DOGRAH_BIN_DIR="none")
    result = run_shim(sandbox, env, tmp_path)
    assert_complete_install(tmp_path / "dograh", result)
    assert "setup_remote.sh: DOGRAH_BIN_DIR=none, so the dograh command was not installed\n" in result.stdout
    assert "setup_remote.sh: warning" not in result.stderr
    assert os.listdir(sandbox.bin_dir) == []
    assert not (tmp_path / "none").exists()


def test_relative_bin_dir_is_bad_input(pyz, sandbox, tmp_path):
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), DOGRAH_BIN_DIR="bin")
    result = run_shim(sandbox, env, tmp_path)
    assert result.returncode == 2
    assert result.stderr == "setup_remote.sh: error: DOGRAH_BIN_DIR must be an absolute path or 'none', got 'bin'\n"
    assert_nothing_written(tmp_path)
    assert not (tmp_path / "bin").exists()
    assert os.listdir(sandbox.bin_dir) == []


def _plant_foreign_command(path: Path, kind: str) -> object:
    """Put something that is not a dograh zipapp at ``path`` and return what must still be there afterwards."""
    if kind == "script":
        path.write_text("#!/bin/sh\necho another tool\n")
        path.chmod(0o755)
        return path.read_bytes()
    if kind == "other zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("__main__.py", "print('another tool')\n")
            archive.writestr("site-packages/not_dograh_installer/__init__.py", "")
        return path.read_bytes()
    if kind == "directory":
        path.mkdir()
        (path / "kept").write_text("kept\n")
        return sorted(os.listdir(path))
    path.symlink_to("/nonexistent/dograh")
    return os.readlink(path)


def _foreign_state(path: Path, kind: str) -> object:
    if kind == "directory":
        return sorted(os.listdir(path))
    if kind == "dangling symlink":
        return os.readlink(path)
    return path.read_bytes()


@pytest.mark.parametrize("kind", ["script", "other zip", "directory", "dangling symlink"])
def test_foreign_command_is_kept(pyz, sandbox, tmp_path, kind):
    target = sandbox.bin_dir / "dograh"
    before = _plant_foreign_command(target, kind)
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz))
    result = run_shim(sandbox, env, tmp_path)
    assert_complete_install(tmp_path / "dograh", result)
    assert ("setup_remote.sh: warning: the dograh command was not installed: /usr/local/bin/dograh exists and is "
            "not a dograh zipapp, so it was kept" in result.stderr)
    assert "installed the dograh command" not in result.stdout
    assert _foreign_state(target, kind) == before
    assert sorted(os.listdir(sandbox.bin_dir)) == ["dograh"]


def test_older_dograh_command_is_replaced(pyz, sandbox, tmp_path):
    """An older zipapp is replaced by a rename, so a process that has it open keeps reading the old file."""
    target = sandbox.bin_dir / "dograh"
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("site-packages/dograh_installer/__init__.py", "__version__ = '0.0.1'\n")
    old = target.read_bytes()
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz))
    with target.open("rb") as running:
        result = run_shim(sandbox, env, tmp_path)
        assert running.read() == old
        assert os.fstat(running.fileno()).st_ino != target.stat().st_ino
    assert_complete_install(tmp_path / "dograh", result)
    assert "installed the dograh command as /usr/local/bin/dograh\n" in result.stdout
    assert_command_installed(target, pyz)


def test_read_only_bin_dir_only_warns(pyz, sandbox, tmp_path):
    sandbox.read_only(Path("/usr/local/bin"))
    env = shim_env(sandbox, SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz))
    result = run_shim(sandbox, env, tmp_path)
    assert_complete_install(tmp_path / "dograh", result)
    assert ("setup_remote.sh: warning: the dograh command was not installed: /usr/local/bin is not writable"
            in result.stderr)
    assert "installed the dograh command" not in result.stdout
    assert os.listdir(sandbox.bin_dir) == []


def test_failed_install_keeps_command(pyz, sandbox, tmp_path):
    """The command is in place before `dograh install` runs, so it can diagnose a failed install."""
    env = shim_env(sandbox, SERVER_IP="256.1.1.1", DOGRAH_PYZ=str(pyz))
    result = run_shim(sandbox, env, tmp_path)
    assert result.returncode == 2
    assert "SERVER_IP" in result.stderr
    assert_nothing_written(tmp_path)
    assert_command_installed(sandbox.bin_dir / "dograh", pyz)


# --- static checks --------------------------------------------------------


def test_shim_parses():
    result = subprocess.run(["bash", "-n", str(SHIM)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_posix_sh_gets_clear_error(tmp_path):
    """`curl ... | sudo sh` on Debian runs dash, which must stop at the guard."""
    result = subprocess.run(["/bin/sh"], input=SHIM.read_text(), cwd=tmp_path, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "setup_remote.sh: error: run this script with bash, not sh (curl -fsSL URL | sudo bash)"
    )
    assert os.listdir(tmp_path) == []


def test_shellcheck_is_clean():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")
    result = subprocess.run([shellcheck, str(SHIM)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
