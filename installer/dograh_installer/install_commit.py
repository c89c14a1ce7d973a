"""Putting a set of staged install files in place together, with a journal for recovery.

Each file is first written in full to a temp file beside its final name.
Then a journal listing every rename is written atomically, and the renames
follow, ``.env`` last. The next install, under the directory lock, reads a
journal left by a killed run before it deletes temp files:

- over an existing install, it finishes the renames, because the old
  ``.env`` may already sit beside new files with new secrets;
- in a fresh directory, it drops the staged files instead, so the directory
  is again one without ``.env`` and the new install starts from there.

A run killed before the journal exists leaves the previous files in place,
beside temp files and backup copies that change nothing.

NOTE: between a kill during the renames and the next install, the
directory mixes old and new files; ``pending_commit`` lets other commands
notice that state.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional, Tuple

from dograh_installer.doctor.dograh_command import dograh_command
from dograh_installer.errors import DograhError
from dograh_installer.fileops import atomic_write, fsync_directory, write_temp_file

JOURNAL_NAME = ".dograh-install.journal"


@dataclass
class StagedEntry:
    """One rename of the commit: ``staged`` becomes ``final``, all names relative to the directory."""

    staged: str
    final: str
    # Where an existing ``final`` directory moves first; files are backed up by copy before the commit.
    backup: Optional[str] = None


def stage_file(directory: Path, final: str, data: bytes, mode: int) -> StagedEntry:
    """Write ``data`` in full to a temp file beside ``final``, with ``mode`` set before any byte."""
    name = write_temp_file(directory, Path(final).name, data, mode)
    return StagedEntry(staged=os.path.basename(name), final=final)


def _apply(directory: Path, entries: List[StagedEntry]) -> None:
    # Idempotent, so replaying a journal after a kill at any point is safe.
    for entry in entries:
        staged = directory / entry.staged
        if not staged.exists():
            continue
        final = directory / entry.final
        if entry.backup is not None and final.exists():
            os.rename(final, directory / entry.backup)
        os.rename(staged, final)
    fsync_directory(directory)


def commit(directory: Path, entries: List[StagedEntry], replaces_install: bool) -> None:
    """Rename every staged entry into place, in order, under a journal."""
    journal = directory / JOURNAL_NAME
    payload = {"replaces_install": replaces_install, "entries": [asdict(entry) for entry in entries]}
    atomic_write(journal, json.dumps(payload).encode("utf-8"), mode=0o600)
    _apply(directory, entries)
    journal.unlink()
    fsync_directory(directory)


def discard_staged(directory: Path, entries: List[StagedEntry]) -> None:
    """Delete staged files and directories that were not renamed into place."""
    for entry in entries:
        staged = directory / entry.staged
        if staged.is_dir() and not staged.is_symlink():
            shutil.rmtree(staged, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                staged.unlink()


def pending_commit(directory: Path) -> bool:
    """Return True when a killed install left a journal that the next install resolves."""
    return (directory / JOURNAL_NAME).exists()


def _read_journal(journal: Path, directory: Path) -> Tuple[bool, List[StagedEntry]]:
    try:
        payload = json.loads(journal.read_bytes().decode("utf-8"))
        replaces_install = bool(payload["replaces_install"])
        entries = [StagedEntry(**item) for item in payload["entries"]]
    except (ValueError, TypeError, KeyError) as exc:
        raise DograhError(
            f"{journal} is not a valid install journal ({exc}); restore the files from their .bak copies "
            f"or delete the journal and run '{dograh_command(directory, 'doctor')}'"
        ) from exc
    for entry in entries:
        for name in (entry.staged, entry.final, entry.backup):
            if name is not None and (os.path.isabs(name) or ".." in Path(name).parts):
                raise DograhError(f"{journal} names a path outside {directory}: {name!r}; delete the journal")
    return replaces_install, entries


def recover_interrupted_commit(directory: Path) -> Optional[str]:
    """Resolve the journal of an install killed during its renames; return a note for the user, or None."""
    journal = directory / JOURNAL_NAME
    if not journal.exists():
        return None
    replaces_install, entries = _read_journal(journal, directory)
    note: Optional[str] = None
    if not any((directory / entry.staged).exists() for entry in entries):
        pass  # killed after the last rename, so the install is complete
    elif replaces_install:
        _apply(directory, entries)
        note = f"Finished replacing the install in {directory}: an earlier overwrite was killed during its renames."
    else:
        discard_staged(directory, entries)
        note = f"Dropped the files of an earlier install into {directory} that was killed before it completed."
    journal.unlink()
    fsync_directory(directory)
    return note
