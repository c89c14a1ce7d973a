"""Certificate paths in nginx.conf against the directories docker-compose.yaml mounts into nginx.

nginx runs in its container, so a file that nginx.conf names exists for it
only under a volume the nginx service mounts. The loopback ``nginx -t``
substitutes the install's own pair, so it cannot catch a path that is
missing in the container.
"""

from __future__ import annotations

import posixpath
import shlex
from typing import Any, Dict, List, Optional

from dograh_installer import docker_compose
from dograh_installer.doctor.checks_compose import GROUP, service_definition
from dograh_installer.doctor.install_files import InstallFiles
from dograh_installer.findings import ERROR, OK, Finding
from dograh_installer.install import CERTS_DIR
from dograh_installer.nginx_conf import DEFAULT_CERT_DIR

# Directives whose argument is a file nginx opens when it starts.
FILE_DIRECTIVES = ("ssl_certificate", "ssl_certificate_key", "ssl_trusted_certificate", "ssl_client_certificate",
                   "ssl_dhparam")
# nginx resolves a relative path against its prefix, /etc/nginx in the nginx:alpine image.
NGINX_PREFIX = "/etc/nginx"
# certbot's live/<name>/ files are symbolic links into archive/<name>/, so
# mounting only live/ leaves them dangling in the container.
LETSENCRYPT_DIR = "/etc/letsencrypt"


def mount_targets(service: Dict[str, Any]) -> List[str]:
    """Return the container paths of the service's volumes, in short or long syntax."""
    targets = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            target = parts[1] if len(parts) >= 2 else parts[0]
        elif isinstance(volume, dict):
            target = str(volume.get("target") or "")
        else:
            continue
        if target.startswith("/"):
            targets.append(posixpath.normpath(target))
    return targets


def _container_path(argument: str) -> Optional[str]:
    """Return the absolute path nginx opens for ``argument``; None for a variable or a non-file source."""
    if "$" in argument or argument.startswith(("data:", "engine:")):
        return None
    return posixpath.normpath(posixpath.join(NGINX_PREFIX, argument))


def _is_under(path: str, target: str) -> bool:
    return path == target or path.startswith(target.rstrip("/") + "/")


def _suggested_mount(path: str) -> str:
    if _is_under(path, DEFAULT_CERT_DIR):
        return f"./{CERTS_DIR}:{DEFAULT_CERT_DIR}:ro"
    directory = LETSENCRYPT_DIR if _is_under(path, LETSENCRYPT_DIR) else posixpath.dirname(path)
    return f"{directory}:{directory}:ro"


def check_cert_mounts(files: InstallFiles) -> List[Finding]:
    if files.nginx is None or files.compose is None:
        return []
    nginx_service = service_definition(files.compose, "nginx")
    if nginx_service is None:
        return []  # compose.nginx_mount reports the missing service
    targets = mount_targets(nginx_service)

    unmounted: List[Any] = []
    for directive in files.nginx.walk():
        if directive.name not in FILE_DIRECTIVES or not directive.args:
            continue
        path = _container_path(directive.args[0])
        if path is not None and not any(_is_under(path, target) for target in targets):
            unmounted.append((directive.line, directive.name, path))
    if not unmounted:
        return [Finding("compose.cert_mount", OK,
                        "every certificate file nginx.conf names is inside a volume of the nginx service",
                        group=GROUP)]

    named = ", ".join(f"{path} ({name}, line {line})" for line, name, path in unmounted)
    mounts = sorted({_suggested_mount(path) for _, _, path in unmounted})
    recreate = f"cd {shlex.quote(str(files.directory))} && " + docker_compose.shell_command(
        docker_compose.compose_argv("up", "-d", "--force-recreate", "nginx"))
    return [Finding(
        "compose.cert_mount", ERROR,
        f"nginx.conf names {named}, outside every directory docker-compose.yaml mounts into the nginx service "
        f"({', '.join(targets) or 'none'}): nginx cannot open {'them' if len(unmounted) > 1 else 'it'} in its "
        "container and fails to start",
        f"add {' and '.join(repr(mount) for mount in mounts)} to the nginx service's volumes in "
        f"docker-compose.yaml, then run '{recreate}'; or copy the certificate and key to certs/local.crt and "
        "certs/local.key and point ssl_certificate and ssl_certificate_key at /etc/nginx/certs/local.crt and "
        "/etc/nginx/certs/local.key",
        GROUP, data={"lines": [line for line, _, _ in unmounted], "paths": [path for _, _, path in unmounted],
                     "mounts": mounts})]
