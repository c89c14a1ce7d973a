"""Writing a plan: lock, check nothing moved, back up, write atomically, roll back on failure."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from dograh_installer import fileops
from dograh_installer.doctor.fix_plan import FileChange, FixPlan
from dograh_installer.errors import DograhError
from dograh_installer.install import CERTS_DIR, NGINX_NAME
from dograh_installer.nginx_runtime import check_config_text, find_nginx

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


def _nginx_accepts(text: str, cert_dir: Path, nginx: str) -> Optional[str]:
    """Return nginx -t's complaint about ``text``, or None when it passes."""
    result = check_config_text(text, cert_dir, nginx)
    if result.returncode == 0:
        return None
    return (result.stderr.strip().splitlines() or ["nginx -t failed"])[-1]


def validate_nginx_change(plan: FixPlan) -> None:
    """Reject an nginx.conf change that breaks a config nginx -t accepted before.

    A config that already failed (for instance certificate paths that exist
    only on the server) is not held against the change.
    """
    change = plan.change_for(NGINX_NAME)
    nginx = find_nginx()
    if change is None or not change.content_changed or nginx is None:
        return
    cert_dir = plan.directory / CERTS_DIR
    if _nginx_accepts(change.old.decode("utf-8"), cert_dir, nginx) is not None:
        return
    complaint = _nginx_accepts(change.new.decode("utf-8"), cert_dir, nginx)
    if complaint is not None:
        raise FixAbortedError(f"the planned nginx.conf fails 'nginx -t' ({complaint}); nothing was changed")


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
                    f"run 'dograh {command}' again"
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
