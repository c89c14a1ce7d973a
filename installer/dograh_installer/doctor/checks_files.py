"""The install's files: present, and secrets not readable by group or others."""

from __future__ import annotations

import shlex
import stat
from typing import List

from dograh_installer.certs import KEY_NAME
from dograh_installer.doctor.dograh_command import dograh_command
from dograh_installer.doctor.install_files import InstallFiles
from dograh_installer.findings import ERROR, OK, Finding
from dograh_installer.install import CERTS_DIR, ENV_NAME

GROUP = "files"


def check_files(files: InstallFiles) -> List[Finding]:
    findings: List[Finding] = []
    for name in files.missing:
        findings.append(Finding(
            "files.missing", ERROR, f"{name} is missing from {files.directory}",
            f"restore {name} from its newest {name}.bak.* backup, or from a fresh install in another directory",
            GROUP, data={"file": name}))
    if not files.missing:
        findings.append(Finding("files.missing", OK, "nginx.conf, turnserver.conf and docker-compose.yaml exist",
                                group=GROUP))

    for check_id, relative in (("files.env_mode", ENV_NAME), ("files.key_mode", f"{CERTS_DIR}/{KEY_NAME}")):
        path = files.directory / relative
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue  # certs.files reports a missing key
        if mode & 0o077:
            findings.append(Finding(
                check_id, ERROR,
                f"{relative} has mode {mode:04o}: other users on this machine can read the secrets in it",
                f"{dograh_command(files.directory, 'doctor', '--fix')}, or chmod 600 {shlex.quote(str(path))}", GROUP, data={"mode": f"{mode:04o}"}))
        else:
            findings.append(Finding(check_id, OK, f"{relative} has mode {mode:04o}", group=GROUP))
    return findings
