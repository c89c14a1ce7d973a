"""A healthy install directory written in-process, and byte-level snapshots of it."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Dict, Tuple

from dograh_installer.install import InstallSettings, run_install
from tests.conftest import EXAMPLE_IP


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
