"""Read an install directory once, so every check works on the same parsed files."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from dograh_installer.envfile import EnvFile, parse_env_text
from dograh_installer.errors import UsageError
from dograh_installer.install import CERTS_DIR, COMPOSE_NAME, ENV_NAME, NGINX_NAME, TURN_NAME
from dograh_installer.nginx_conf import NginxConfig, NginxParseError, parse_nginx_text
from dograh_installer.turn_conf import TurnOption, parse_turnserver_text


@dataclass
class InstallFiles:
    """The parsed files of one install directory; a file that is absent or unparsable is None."""

    directory: Path
    env: EnvFile
    values: Dict[str, str]  # .env as compose reads it, without any CRLF \r
    nginx_text: Optional[str] = None
    nginx: Optional[NginxConfig] = None
    nginx_error: Optional[str] = None  # why nginx.conf could not be parsed
    turn: Optional[List[TurnOption]] = None
    compose: Optional[Any] = None  # the YAML document
    compose_error: Optional[str] = None
    missing: List[str] = field(default_factory=list)  # required files not found, relative names
    # A root install leaves turnserver.conf to root and coturn's group, so an
    # operator without sudo cannot read it; that skips the TURN checks only.
    turn_unreadable: bool = False

    @property
    def certs_dir(self) -> Path:
        return self.directory / CERTS_DIR


def _read_text(path: Path) -> Optional[str]:
    """Return the file's text, or None when it does not exist; other failures cannot be checked around."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}; run dograh doctor as a user who can read it") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path} is not UTF-8 text (invalid byte at offset {exc.start}); save it as UTF-8 and run doctor again"
        ) from None


def load_install(directory: Path) -> InstallFiles:
    """Parse every file of the install; raise UsageError when the directory or .env cannot be read."""
    if not directory.exists():
        raise UsageError(f"install directory {directory} does not exist; pass the right one with --dir")
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory; pass the install directory with --dir")
    env_text = _read_text(directory / ENV_NAME)
    if env_text is None:
        raise UsageError(
            f"{directory / ENV_NAME} not found, so {directory} contains no complete install; "
            "pass the install directory with --dir, or run dograh install"
        )
    env = parse_env_text(env_text)
    files = InstallFiles(directory=directory, env=env, values=env.values())

    files.nginx_text = _read_text(directory / NGINX_NAME)
    if files.nginx_text is None:
        files.missing.append(NGINX_NAME)
    else:
        try:
            files.nginx = parse_nginx_text(files.nginx_text)
        except NginxParseError as exc:
            files.nginx_error = str(exc)  # crossplane's and nginx's messages end with "in nginx.conf:LINE"

    turn_path = directory / TURN_NAME
    if turn_path.exists() and not os.access(turn_path, os.R_OK):
        files.turn_unreadable = True
    else:
        turn_text = _read_text(turn_path)
        if turn_text is None:
            files.missing.append(TURN_NAME)
        else:
            files.turn = parse_turnserver_text(turn_text)

    compose_text = _read_text(directory / COMPOSE_NAME)
    if compose_text is None:
        files.missing.append(COMPOSE_NAME)
    else:
        _load_compose(files, compose_text)
    return files


def _load_compose(files: InstallFiles, text: str) -> None:
    import yaml

    try:
        files.compose = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        files.compose_error = f"{problem}{where}"
