"""Atomic writes, backups and the install-directory lock."""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Optional

from dograh_installer.errors import DograhError, LockedError
from dograh_installer.invocation import program_command

LOCK_NAME = ".dograh.lock"


def fsync_directory(directory: Path) -> None:
    """Make a rename inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temp_file(directory: Path, name: str, data: bytes, mode: int) -> str:
    """Write ``data`` to a new, fsynced temp file ``.<name>.*.tmp`` in ``directory``; return its path.

    The mode is set with fchmod before any data is written, so a secret is
    never readable by others, whatever the umask.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return tmp_name


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, rename."""
    tmp_name = write_temp_file(path.parent, path.name, data, mode)
    try:
        os.rename(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_directory(path.parent)


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """Write UTF-8 text without a byte-order mark, with LF line endings."""
    atomic_write(path, text.replace("\r\n", "\n").encode("utf-8"), mode)


def utc_timestamp(now: Optional[datetime.datetime] = None) -> str:
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ")


def backup_path(path: Path, timestamp: str) -> Path:
    """Return ``<name>.bak.<timestamp>``, with a counter if that name is taken."""
    candidate = path.with_name(f"{path.name}.bak.{timestamp}")
    counter = 1
    while candidate.exists() or candidate.is_symlink():
        candidate = path.with_name(f"{path.name}.bak.{timestamp}.{counter}")
        counter += 1
    return candidate


def backup_file(path: Path, timestamp: str) -> Optional[Path]:
    """Copy ``path`` (mode included) to its backup name; None when it does not exist."""
    if not path.exists():
        return None
    target = backup_path(path, timestamp)
    if path.is_dir():
        shutil.copytree(path, target, symlinks=True)
    else:
        data = path.read_bytes()
        atomic_write(target, data, mode=path.stat().st_mode & 0o777)
    return target


@contextlib.contextmanager
def directory_lock(directory: Path, command: str) -> Iterator[None]:
    """Hold an exclusive flock on ``<directory>/.dograh.lock`` or raise LockedError.

    flock is released by the kernel when the process dies, so a killed run
    never leaves a stale lock behind.
    """
    lock_path = directory / LOCK_NAME
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DograhError(
            f"cannot open the lock file {lock_path}: {exc.strerror}; make {directory} writable for this user "
            f"and run '{program_command()} {command}' again"
        ) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise LockedError(
                    f"another dograh command is already working in {directory} "
                    f"(lock file {lock_path}); wait for it to finish, then run "
                    f"'{program_command()} {command}' again"
                ) from None
            raise
        yield
    finally:
        os.close(fd)
