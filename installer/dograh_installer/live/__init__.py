"""``doctor --live``: checks against the running stack."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List

if TYPE_CHECKING:
    from dograh_installer.findings import Finding
    from dograh_installer.live.options import LiveOptions


def run_live_checks(directory: Path, options: "LiveOptions") -> "List[Finding]":
    """Run the live checks against the stack installed in ``directory``; see ``live.runner``."""
    # Imported here so that a doctor run without --live does not load httpx and websockets.
    from dograh_installer.live.runner import run_live_checks as run

    return run(directory, options)
