"""``nginx -t`` on the install's nginx.conf, where nginx is installed on this machine."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import List

from dograh_installer.doctor.dograh_command import dograh_command
from dograh_installer.doctor.install_files import InstallFiles
from dograh_installer.findings import ERROR, OK, SKIPPED, Finding
from dograh_installer.nginx_conf import DEFAULT_CERT_DIR
from dograh_installer.nginx_runtime import check_config_text, find_nginx

GROUP = "nginx syntax"
# ssl_certificate paths outside the mounted certs directory, such as Let's
# Encrypt's, do not exist on a machine without the stack. The check
# substitutes the install's own pair, so nginx -t tests the syntax only.
_OUTSIDE_CERT = re.compile(r"(\bssl_certificate(?:_key)?\s+)(?!" + re.escape(DEFAULT_CERT_DIR) + r"/)(\S+?)(;)")


def local_cert_text(text: str) -> str:
    def replace(match: "re.Match[str]") -> str:
        name = "local.key" if match.group(1).strip().endswith("_key") else "local.crt"
        return f"{match.group(1)}{DEFAULT_CERT_DIR}/{name}{match.group(3)}"

    return _OUTSIDE_CERT.sub(replace, text)


# check_config_text writes the file to a temporary prefix directory.
_TEMP_COPY = re.compile(r"\S*/dograh-nginx-t-[^/\s]+/default\.conf")


def run_nginx_t(text: str, certs_dir: Path, nginx: str) -> subprocess.CompletedProcess:
    """Run ``nginx -t`` on the install's ``text`` with its own certificate pair."""
    return check_config_text(local_cert_text(text), certs_dir, nginx=nginx)


def first_error(stderr: str, name: str = "nginx.conf") -> str:
    for line in stderr.splitlines():
        if "[emerg]" in line or "[crit]" in line or "[alert]" in line:
            message = line.split("]", 1)[-1].strip()
            message = re.sub(r"^\d+#\d+: ", "", message)
            # Point at the install's file, not at the temporary copy nginx read.
            return _TEMP_COPY.sub(name, message)
    lines = stderr.strip().splitlines()
    return lines[-1] if lines else "nginx -t failed without a message"


def permission_denied(message: str) -> bool:
    """Return True when nginx -t failed only because this user may not read a file, such as the TLS key.

    nginx names the errno in its message ("(13: Permission denied)", or
    OpenSSL's "...:Permission denied" for a key). root reads every file, so
    the same message as root is a real error.
    """
    return os.geteuid() != 0 and "Permission denied" in message


def check_syntax(files: InstallFiles, enabled: bool = True) -> List[Finding]:
    if files.nginx_text is None:
        return []
    if not enabled:
        return [Finding("nginx.syntax", SKIPPED, "nginx -t was not run (syntax check turned off)", group=GROUP)]
    if files.nginx_error is not None:
        return [Finding(
            "nginx.syntax", ERROR, f"nginx.conf does not parse: {files.nginx_error}; nginx refuses to start",
            "correct nginx.conf at that line, or restore it from its newest nginx.conf.bak.* backup", GROUP)]
    nginx = find_nginx()
    if nginx is None:
        return [Finding("nginx.syntax", SKIPPED, "nginx is not installed on this machine, so nginx -t was not run",
                        group=GROUP)]
    try:
        result = run_nginx_t(files.nginx_text, files.certs_dir, nginx)
    except subprocess.TimeoutExpired:
        return [Finding("nginx.syntax", SKIPPED, "nginx -t timed out", group=GROUP)]
    if result.returncode == 0:
        return [Finding("nginx.syntax", OK, "nginx -t accepts nginx.conf", group=GROUP)]
    message = first_error(result.stderr)
    if permission_denied(message):
        return [Finding(
            "nginx.syntax", SKIPPED,
            f"nginx -t could not read a file nginx.conf names, so the syntax was not checked: {message}",
            f"run as root: sudo {dograh_command(files.directory, 'doctor')}", GROUP)]
    return [Finding(
        "nginx.syntax", ERROR, f"nginx -t rejects nginx.conf: {message}",
        # nginx reports a missing ';' at the line where the next directive
        # begins, so the line before it is worth a look too.
        "correct nginx.conf at that line or the one before it (a missing ';' shows up on the next line), "
        f"or restore it from its newest nginx.conf.bak.* backup, then run "
        f"{dograh_command(files.directory, 'doctor')} again", GROUP)]
