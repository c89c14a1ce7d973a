"""``dograh install``: write a complete install directory, or refuse to."""

from __future__ import annotations

import os
import secrets
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

from dograh_installer import __version__
from dograh_installer.certs import CERT_NAME, KEY_NAME, generate_self_signed, stage_pair
from dograh_installer.envfile import quote_value, read_env, render_env
from dograh_installer.errors import DograhError, ExistingInstallError, UsageError
from dograh_installer.fileops import backup_file, backup_path, directory_lock, utc_timestamp
from dograh_installer.install_commit import (
    StagedEntry, commit, discard_staged, pending_commit, recover_interrupted_commit, stage_file,
)
from dograh_installer.invocation import program_command
from dograh_installer.nginx_conf import render_nginx_conf, worker_ports
from dograh_installer.templates import render_template
from dograh_installer.turn_conf import render_turnserver_conf

ENV_NAME = ".env"
COMPOSE_NAME = "docker-compose.yaml"
NGINX_NAME = "nginx.conf"
TURN_NAME = "turnserver.conf"
CERTS_DIR = "certs"
# coturn/coturn runs as nobody:nogroup, so turnserver.conf is group-readable
# by that group when we can set it, and world-readable otherwise.
NOGROUP_GID = 65534


@dataclass
class InstallSettings:
    directory: Path
    server_ip: str
    public_host: str
    turn_secret: Optional[str]  # None: generate one
    workers: int
    enable_telemetry: bool
    force_turn_relay: bool
    force_overwrite: bool = False


@dataclass
class InstallResult:
    directory: Path
    files: List[str] = field(default_factory=list)
    backups: List[Path] = field(default_factory=list)
    kept_postgres_password: bool = False
    turn_secret_generated: bool = False
    ports: List[int] = field(default_factory=list)


def generate_secret() -> str:
    """Return 32 random bytes as hex."""
    return secrets.token_hex(32)


def build_env_values(settings: InstallSettings, postgres_password: Optional[str]) -> Dict[str, str]:
    flag = {True: "true", False: "false"}
    return {
        "ENVIRONMENT": "production",
        "SERVER_IP": settings.server_ip,
        "PUBLIC_HOST": settings.public_host,
        "PUBLIC_BASE_URL": f"https://{settings.public_host}",
        "ENABLE_COTURN": "true",
        "TURN_SECRET": settings.turn_secret or generate_secret(),
        "FORCE_TURN_RELAY": flag[settings.force_turn_relay],
        "OSS_JWT_SECRET": generate_secret(),
        "POSTGRES_PASSWORD": postgres_password or generate_secret(),
        "REDIS_PASSWORD": generate_secret(),
        "MINIO_ROOT_USER": "dograh" + secrets.token_hex(6),
        "MINIO_ROOT_PASSWORD": generate_secret(),
        "ENABLE_TELEMETRY": flag[settings.enable_telemetry],
        "FASTAPI_WORKERS": str(settings.workers),
    }


def existing_install_message(directory: Path) -> str:
    return (
        f"{directory / ENV_NAME} exists: Dograh is already installed in {directory}.\n"
        "Installing again would generate new secrets and certificates: everyone would be logged out\n"
        "(new OSS_JWT_SECRET), connected clients would fail TURN authentication (new TURN_SECRET),\n"
        "and the TLS certificate would be replaced.\n"
        f"To check or repair this install, run: {program_command()} doctor --dir {shlex.quote(str(directory))}\n"
        "To replace it anyway (files are backed up, POSTGRES_PASSWORD is kept), run again with "
        "DOGRAH_FORCE_OVERWRITE=1."
    )


def _old_postgres_password(directory: Path) -> Optional[str]:
    env_path = directory / ENV_NAME
    try:
        value = read_env(env_path).values().get("POSTGRES_PASSWORD")
    except (OSError, UnicodeDecodeError) as exc:
        raise DograhError(
            f"cannot read POSTGRES_PASSWORD from {env_path}: {exc}; the postgres volume needs it, "
            "so fix the file's permissions or encoding before overwriting"
        ) from exc
    if not value:
        return None
    try:
        quote_value(value)
    except ValueError:
        raise DograhError(
            f"POSTGRES_PASSWORD in {env_path} contains a quote or line break that cannot be written back; "
            "fix it by hand before overwriting"
        ) from None
    return value


def _remove_stale_temporaries(directory: Path) -> None:
    """Delete temp files and directories left by a run that was killed mid-write."""
    for entry in directory.glob(".*.tmp"):
        if entry.is_dir() and not entry.is_symlink():
            for child in entry.iterdir():
                child.unlink()
            entry.rmdir()
        else:
            entry.unlink()


def _stage_text(result: InstallResult, directory: Path, name: str, text: str, timestamp: str,
                mode: int = 0o644) -> StagedEntry:
    """Stage ``text`` for ``name``, first copying the current file to its backup if the text differs."""
    data = text.replace("\r\n", "\n").encode("utf-8")
    path = directory / name
    if path.exists() and path.read_bytes() != data:
        result.backups.append(backup_file(path, timestamp))
    result.files.append(name)
    return stage_file(directory, name, data, mode)


def _restrict_turn_config(path: Path) -> None:
    if os.geteuid() == 0:
        os.chown(path, 0, NOGROUP_GID)
        os.chmod(path, 0o640)
    else:
        # TODO: a rootless install leaves turnserver.conf world-readable so
        # coturn's nobody user can read it; a group shared with the
        # container would avoid that.
        os.chmod(path, 0o644)


def _chown_to_sudo_user(directory: Path, environ: Dict[str, str], keep_group: List[Path]) -> None:
    """Give the install to the user who ran sudo, so they can edit it without root.

    Paths in ``keep_group`` keep their group: turnserver.conf's nogroup is
    how coturn reads it.
    """
    if os.geteuid() != 0:
        return
    uid, gid = environ.get("SUDO_UID", ""), environ.get("SUDO_GID", "")
    if not (uid.isdigit() and gid.isdigit()):
        return
    kept = {str(path) for path in keep_group}
    for root, dirs, files in os.walk(directory):
        os.chown(root, int(uid), int(gid))
        for name in dirs + files:
            path = os.path.join(root, name)
            os.chown(path, int(uid), -1 if path in kept else int(gid), follow_symlinks=False)


def check_target(directory: Path, force_overwrite: bool) -> None:
    """Raise when ``directory`` cannot take a new install, before any prompt, output or write."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a directory; choose another --dir")
    if (directory / ENV_NAME).exists() and not force_overwrite and not pending_commit(directory):
        raise ExistingInstallError(existing_install_message(directory))


def run_install(
    settings: InstallSettings,
    environ: Dict[str, str],
    notify: Callable[[str], None],
) -> InstallResult:
    """Write the install directory; ``notify`` receives progress notes for the user."""
    directory = settings.directory
    check_target(directory, settings.force_overwrite)
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if created:
            # mkdir honours the umask, and under umask 000 the directory
            # holding .env would be world-writable.
            os.chmod(directory, 0o755)
    except OSError as exc:
        raise UsageError(f"cannot create install directory {directory}: {exc.strerror}") from exc

    with directory_lock(directory, "install"):
        note = recover_interrupted_commit(directory)
        if note is not None:
            notify(note)
        # Temp files are only deleted after the recovery, which may still need them.
        _remove_stale_temporaries(directory)
        # Checked again under the lock: another install may have finished meanwhile.
        overwriting = (directory / ENV_NAME).exists()
        if overwriting and not settings.force_overwrite:
            raise ExistingInstallError(existing_install_message(directory))
        result = InstallResult(directory=directory, ports=worker_ports(settings.workers))

        postgres_password = _old_postgres_password(directory) if overwriting else None
        if postgres_password:
            result.kept_postgres_password = True
            notify("Kept POSTGRES_PASSWORD from the existing .env: the postgres data volume was created with it.")
        result.turn_secret_generated = settings.turn_secret is None

        # Everything is rendered before anything is written, so a render
        # error leaves the directory untouched.
        env_values = build_env_values(settings, postgres_password)
        header = (
            f"Generated by dograh {__version__}. docker compose reads this file; keep it private (mode 0600).\n"
            "Edit by hand only with care, then run 'dograh doctor' to find drift."
        )
        env_text = render_env(env_values, header)
        compose_text = render_template("compose/docker-compose.yaml.template", {"version": __version__})
        nginx_text = render_nginx_conf(settings.workers, settings.public_host)
        turn_text = render_turnserver_conf(settings.server_ip, settings.public_host, env_values["TURN_SECRET"])
        pair = generate_self_signed(settings.server_ip, settings.public_host)

        timestamp = utc_timestamp()
        entries: List[StagedEntry] = []
        try:
            entries.append(_stage_text(result, directory, COMPOSE_NAME, compose_text, timestamp))
            entries.append(_stage_text(result, directory, NGINX_NAME, nginx_text, timestamp))
            turn_entry = _stage_text(result, directory, TURN_NAME, turn_text, timestamp, mode=0o600)
            entries.append(turn_entry)
            _restrict_turn_config(directory / turn_entry.staged)
            certs_entry = StagedEntry(staged=stage_pair(directory, pair, CERTS_DIR).name, final=CERTS_DIR)
            entries.append(certs_entry)
            if (directory / CERTS_DIR).exists():
                backup = backup_path(directory / CERTS_DIR, timestamp)
                certs_entry.backup = backup.name
                result.backups.append(backup)
            result.files += [f"{CERTS_DIR}/{CERT_NAME}", f"{CERTS_DIR}/{KEY_NAME}"]
            # .env is renamed last: its presence marks a complete install.
            entries.append(_stage_text(result, directory, ENV_NAME, env_text, timestamp, mode=0o600))
            _chown_to_sudo_user(directory, environ, [directory / TURN_NAME, directory / turn_entry.staged])
        except BaseException as exc:
            # Nothing is renamed yet, so dropping the staged files and this
            # run's backup copies leaves the directory as it was.
            discard_staged(directory, entries)
            for backup in result.backups:
                if backup.is_file():
                    backup.unlink()
            if isinstance(exc, OSError):
                raise DograhError(
                    f"writing the install files into {directory} failed: {exc.strerror or exc} "
                    f"({exc.filename or 'no file name'}); nothing was changed, so fix the cause and run "
                    "'dograh install' again"
                ) from exc
            raise
        commit(directory, entries, replaces_install=overwriting)
    return result
