"""Running the zipapp as the nobody user, for checks that depend on what the user may read."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator, List

import pytest

NOBODY = 65534
# The test interpreter may live in root's home, which nobody cannot enter.
SYSTEM_PYTHON = "/usr/bin/python3"


class NobodySandbox:
    """A directory nobody can enter, holding a copy of the zipapp and a shiv root nobody owns.

    pytest's own temporary directories are mode 0700, so nobody could not
    read a zipapp or an install kept there.
    """

    def __init__(self, root: Path, pyz: Path) -> None:
        self.root = root
        self.pyz = root / "dograh.pyz"
        shutil.copyfile(pyz, self.pyz)
        os.chmod(self.pyz, 0o644)
        self.shiv_root = root / "shiv"
        self.shiv_root.mkdir()
        os.chown(self.shiv_root, NOBODY, NOBODY)

    def run(self, arguments: List[str]) -> subprocess.CompletedProcess:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SHIV_ROOT": str(self.shiv_root),
               "HOME": str(self.shiv_root), "LANG": "C.UTF-8"}
        return subprocess.run([SYSTEM_PYTHON, str(self.pyz), *arguments], env=env, cwd=self.root,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
                              user=NOBODY, group=NOBODY, extra_groups=[])


@pytest.fixture()
def nobody_sandbox(pyz) -> Iterator[NobodySandbox]:
    if os.geteuid() != 0:
        pytest.skip("running as another user needs root")
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"{SYSTEM_PYTHON} is not installed")
    root = Path(tempfile.mkdtemp(prefix="dograh-nobody-"))
    os.chmod(root, 0o755)
    try:
        yield NobodySandbox(root, pyz)
    finally:
        shutil.rmtree(root, ignore_errors=True)
