"""Every static check of ``dograh doctor``, composed from the topic modules."""

from __future__ import annotations

from pathlib import Path
from typing import List

from dograh_installer.doctor.checks_cert_mounts import check_cert_mounts
from dograh_installer.doctor.checks_certs import check_certs
from dograh_installer.doctor.checks_compose import check_compose
from dograh_installer.doctor.checks_env import check_env
from dograh_installer.doctor.checks_files import check_files
from dograh_installer.doctor.checks_location import check_locations
from dograh_installer.doctor.checks_names import check_names
from dograh_installer.doctor.checks_syntax import check_syntax
from dograh_installer.doctor.checks_turn import check_turn
from dograh_installer.doctor.checks_upstream import check_upstream
from dograh_installer.doctor.install_files import load_install
from dograh_installer.findings import Finding


def run_checks(directory: Path, nginx_syntax: bool = True) -> List[Finding]:
    """Check the install in ``directory`` and return every finding, passing ones included.

    Raises UsageError (exit code 2) when the directory or its .env is missing
    or unreadable. ``nginx_syntax=False`` skips ``nginx -t``, which callers
    that check a config they are about to write run themselves.
    """
    files = load_install(directory)
    findings: List[Finding] = []
    findings += check_files(files)
    findings += check_env(files)
    findings += check_upstream(files)
    findings += check_locations(files)
    findings += check_names(files)
    findings += check_turn(files)
    findings += check_certs(files)
    findings += check_compose(files)
    findings += check_cert_mounts(files)
    findings += check_syntax(files, nginx_syntax)
    return findings
