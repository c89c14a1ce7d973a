"""Writing a plan: lock, check nothing moved, back up, write atomically, roll back on failure."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from dograh_installer import fileops
from dograh_installer.doctor.checks_syntax import first_error, permission_denied, run_nginx_t
from dograh_installer.doctor.fix_plan import FileChange, FixPlan
from dograh_installer.errors import DograhError
from dograh_installer.install import CERTS_DIR, NGINX_NAME
from dograh_installer.invocation import program_command
from dograh_installer.nginx_runtime import find_nginx

log = logging.getLogger(__name__)


class FixAbortedError(DograhError):
    """The plan was not applied; every file is as it was before."""


@dataclass
class AppliedFile:
    change: FileChange
    backup: Optional[Path]
    owner: Tuple[int, int]  # (uid, gid) before the write


@dataclass
class ApplyResult:
    backups: List[Path] = field(default_factory=list)


@dataclass
class NginxCheck:
    """``nginx -t`` on the nginx.conf a plan leaves behind."""

    checked: bool  # False when nginx is not installed here, nginx -t timed out or could not read a file
    error: Optional[str] = None  # nginx's first error, naming the file and line; None when it passed
    reason: str = ""  # why it was not checked

    @property
    def rejected(self) -> bool:
        return self.error is not None


def nginx_check(text: str, directory: Path, name: str = "nginx.conf") -> NginxCheck:
    """Run ``nginx -t`` on ``text`` as the doctor's syntax check does, certificate paths included."""
    nginx = find_nginx()
    if nginx is None:
        return NginxCheck(False, reason="nginx is not installed on this machine")
    try:
        result = run_nginx_t(text, directory / CERTS_DIR, nginx)
    except subprocess.TimeoutExpired:
        return NginxCheck(False, reason="nginx -t timed out")
    if result.returncode == 0:
        return NginxCheck(True)
    error = first_error(result.stderr, name)
    if permission_denied(error):
        return NginxCheck(False, reason=f"nginx -t could not read a file as this user ({error}); run as root")
    return NginxCheck(True, error=error)


def check_planned_nginx(plan: FixPlan) -> Optional[NginxCheck]:
    """Check the nginx.conf that applying ``plan`` leaves; None when the install has no nginx.conf.

    The planned change is checked when there is one, else the file as it is,
    because recreating nginx on a config it rejects takes the site down
    whichever edit broke it.
    """
    change = plan.change_for(NGINX_NAME)
    if change is not None and change.content_changed:
        return nginx_check(change.new.decode("utf-8"), plan.directory, "the new nginx.conf")
    path = plan.directory / NGINX_NAME
    if not path.is_file():
        return None
    return nginx_check(path.read_bytes().decode("utf-8", errors="replace"), plan.directory)


def _back_up(change: FileChange, timestamp: str) -> Path:
    """Copy the file to ``<name>.bak.<timestamp>``, never more readable than the file becomes.

    fileops.backup_file would keep the old mode, so a .env that drifted to
    0644 would leave a world-readable copy of every secret behind.
    """
    target = fileops.backup_path(change.path, timestamp)
    fileops.atomic_write(target, change.old, mode=change.old_mode & change.new_mode)
    return target


def _write(change: FileChange, owner: Tuple[int, int]) -> None:
    if change.content_changed:
        fileops.atomic_write(change.path, change.new, mode=change.new_mode)
        # atomic_write's temp file belongs to this process. turnserver.conf
        # must keep its group because coturn reads it as nogroup, and an
        # install made with sudo keeps its user's ownership.
        if os.geteuid() == 0 and (os.stat(change.path).st_uid, os.stat(change.path).st_gid) != owner:
            os.chown(change.path, *owner)
    if change.mode_changed:
        os.chmod(change.path, change.new_mode)


def _restore(applied: AppliedFile) -> None:
    change = applied.change
    if applied.backup is not None:
        fileops.atomic_write(change.path, applied.backup.read_bytes(), mode=change.old_mode)
        if os.geteuid() == 0:
            os.chown(change.path, *applied.owner)
    os.chmod(change.path, change.old_mode)


def _roll_back(applied: List[AppliedFile]) -> List[str]:
    """Restore every applied file; return the files that could not be restored."""
    failed = []
    for item in reversed(applied):
        try:
            _restore(item)
        except OSError as exc:
            log.error("restoring %s from %s failed: %s", item.change.path, item.backup, exc)
            failed.append(f"{item.change.path} (backup {item.backup})")
            continue
        if item.backup is not None:
            with contextlib.suppress(OSError):
                item.backup.unlink()
    return failed


def apply_plan(plan: FixPlan, command: str) -> ApplyResult:
    """Write every change of ``plan`` under the directory lock, or none of them.

    Each file must still hold the bytes the plan was made from; a file that
    another process changed meanwhile aborts the run before any write.
    Backups of restored files are deleted; they would only repeat the file.
    """
    result = ApplyResult()
    with fileops.directory_lock(plan.directory, command):
        for change in plan.changes:
            try:
                current = change.path.read_bytes()
            except OSError as exc:
                raise FixAbortedError(f"cannot read {change.path}: {exc.strerror}; nothing was changed") from exc
            if current != change.old:
                raise FixAbortedError(
                    f"{change.path} changed while the fix was being planned; nothing was changed, "
                    f"run '{program_command()} {command}' again"
                )

        timestamp = fileops.utc_timestamp()
        applied: List[AppliedFile] = []
        try:
            for change in plan.changes:
                stat = change.path.stat()
                owner = (stat.st_uid, stat.st_gid)
                backup = _back_up(change, timestamp) if change.content_changed else None
                applied.append(AppliedFile(change, backup, owner))
                _write(change, owner)
        except BaseException as exc:
            failed = _roll_back(applied)
            if failed:
                raise FixAbortedError(
                    f"writing failed ({exc}) and these files could not be restored: {', '.join(failed)}; "
                    "copy each backup over its file by hand"
                ) from exc
            if isinstance(exc, OSError):
                raise FixAbortedError(
                    f"writing {exc.filename or 'a file'} failed ({exc.strerror}); every file was restored, "
                    "nothing was changed"
                ) from exc
            raise
        result.backups = [item.backup for item in applied if item.backup is not None]
    return result
