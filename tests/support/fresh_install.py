"""A healthy install directory written in-process, the drift --fix repairs, and byte-level snapshots."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Dict, Tuple

from dograh_installer.install import InstallSettings, run_install
from tests.conftest import EXAMPLE_IP

# TEST-NET-2, reserved for documentation: a SERVER_IP that turnserver.conf drifted to.
OTHER_SERVER_IP = "198.51.100.20"


def make_install(directory: Path, workers: int = 4, public_host: str = EXAMPLE_IP) -> Path:
    settings = InstallSettings(
        directory=directory, server_ip=EXAMPLE_IP, public_host=public_host, turn_secret=None, workers=workers,
        enable_telemetry=False, force_turn_relay=False,
    )
    run_install(settings, {}, notify=lambda message: None)
    return directory


def snapshot(directory: Path) -> Dict[str, Tuple[bytes, int]]:
    """Return every regular file below ``directory`` (the lock file excepted) with its bytes and mode."""
    files = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.name != ".dograh.lock":
            files[str(path.relative_to(directory))] = (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    return files


def env_secrets(directory: Path) -> Dict[str, str]:
    from dograh_installer.envfile import SECRET_KEYS, read_env

    values = read_env(directory / ".env").values()
    return {key: values[key] for key in SECRET_KEYS if values.get(key)}


def apply_fixable_drift(directory: Path) -> None:
    """Apply the hand edits --fix must repair: every fixable finding at once."""
    env_path = directory / ".env"
    text = env_path.read_text()
    text = text.replace("FASTAPI_WORKERS=4", "FASTAPI_WORKERS=3\nFASTAPI_WORKERS=6")
    env_path.write_bytes(("\ufeff" + text).replace("\n", "\r\n").encode())
    os.chmod(env_path, 0o644)

    nginx_path = directory / "nginx.conf"
    nginx = nginx_path.read_text()
    nginx = nginx.replace("server api:8003 max_fails=3 fail_timeout=10s;",
                          "server api:8003 max_fails=3 fail_timeout=10s;   # new\n    server api:8003;")
    nginx = nginx.replace("        add_header X-Dograh-Upstream $dograh_probe_upstream always;\n", "")
    nginx_path.write_text(nginx)

    turn_path = directory / "turnserver.conf"
    turn = turn_path.read_text()
    turn = turn.replace("use-auth-secret\n", "").replace(f"external-ip={EXAMPLE_IP}", f"external-ip={OTHER_SERVER_IP}")
    turn = "\n".join(
        "static-auth-secret=0123456789abcdef0123" if line.startswith("static-auth-secret=") else line
        for line in turn.split("\n")
    )
    turn_path.write_text(turn)
    os.chmod(directory / "certs" / "local.key", 0o644)
