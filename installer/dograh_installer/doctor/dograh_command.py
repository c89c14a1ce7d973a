"""The ``dograh …`` commands that findings and fixes suggest, ready to paste."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from dograh_installer.invocation import program_command

DEFAULT_DIRECTORY = "dograh"


def _is_default_directory(directory: Path) -> bool:
    """Return True when ``directory`` is ``./dograh`` of the current directory, where --dir can be left out."""
    try:
        default = Path.cwd() / DEFAULT_DIRECTORY
    except OSError:
        return False
    if os.path.abspath(directory) == os.path.abspath(default):
        return True
    try:
        return directory.exists() and default.exists() and os.path.samefile(directory, default)
    except OSError:
        return False


def dograh_arguments(directory: Path, subcommand: str, *args: str) -> str:
    """Return ``SUBCOMMAND [--dir PATH] ARGS…``: what follows the program in :func:`dograh_command`."""
    words = [subcommand]
    if not _is_default_directory(directory):
        words += ["--dir", shlex.quote(str(directory))]
    return " ".join(words + list(args))


def dograh_command(directory: Path, subcommand: str, *args: str) -> str:
    """Return ``dograh SUBCOMMAND [--dir PATH] ARGS…`` for the install in ``directory``.

    The program is named as :func:`invocation.program_command` finds it
    (the zipapp's path when ``dograh`` on PATH is not this program).
    ``--dir`` is left out only for ``./dograh`` in the current directory,
    the default, and is shell-quoted so the line pastes as it is.
    DOGRAH_DIR is not relied on, because the shell the line is pasted
    into may not have it set.
    """
    return program_command() + " " + dograh_arguments(directory, subcommand, *args)
