"""The words that start a command running this program again, for hints the user pastes into a shell.

After ``python3 dist/dograh.pyz install``, or after an install into a bin
directory that is not on PATH, a pasted ``dograh doctor`` fails with
"command not found". Hints therefore name the zipapp by its path unless
PATH leads to it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import zipfile
from typing import Optional

COMMAND_NAME = "dograh"
# setup_remote.sh runs a temporary copy of the zipapp and sets this to the
# command it installed (or to plain ``dograh`` when it installed none).
COMMAND_ENV = "DOGRAH_COMMAND"


def running_zipapp() -> Optional[str]:
    """Return the absolute path of the zipapp this process runs from, or None when it runs from source.

    shiv leaves ``sys.argv[0]`` as the path the zipapp was started by,
    whether through its shebang or as ``python3 PATH``.
    """
    started = sys.argv[0] if sys.argv else ""
    if not started or not os.path.isfile(started):
        return None
    try:
        if not zipfile.is_zipfile(started):
            return None
    except OSError:
        return None
    return os.path.abspath(started)


def _same_file(first: str, second: str) -> bool:
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def program_command() -> str:
    """Return how to run this program from any directory: ``dograh``, or the zipapp's quoted path.

    ``dograh`` is used when PATH leads to the running zipapp, and when
    the program runs from source (a checkout or a pip install, whose entry
    point is named ``dograh``). Otherwise the zipapp's absolute path is
    used, after ``python3`` when the file cannot be executed directly.
    DOGRAH_COMMAND, when it is ``dograh`` or an absolute path to a file,
    replaces the running zipapp.
    """
    named = os.environ.get(COMMAND_ENV, "")
    if named == COMMAND_NAME:
        return COMMAND_NAME
    if os.path.isabs(named) and os.path.isfile(named):
        zipapp: Optional[str] = named
    else:
        zipapp = running_zipapp()
    if zipapp is None:
        return COMMAND_NAME
    on_path = shutil.which(COMMAND_NAME)
    if on_path is not None and _same_file(on_path, zipapp):
        return COMMAND_NAME
    quoted = shlex.quote(zipapp)
    if os.access(zipapp, os.X_OK):
        return quoted
    return "python3 " + quoted
