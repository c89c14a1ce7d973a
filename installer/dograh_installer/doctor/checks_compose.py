"""docker-compose.yaml: nginx mounts nginx.conf read-only, and the api takes FASTAPI_WORKERS from .env."""

from __future__ import annotations

import re
from typing import Any, List, Optional, Tuple

from dograh_installer.doctor.install_files import InstallFiles
from dograh_installer.findings import ERROR, OK, WARNING, Finding

GROUP = "compose"
NGINX_SOURCE = "./nginx.conf"
NGINX_TARGET = "/etc/nginx/conf.d/default.conf"
# ${FASTAPI_WORKERS}, $FASTAPI_WORKERS, ${FASTAPI_WORKERS:-1}, ${FASTAPI_WORKERS-1}, ${FASTAPI_WORKERS:?message}
_WORKERS_REFERENCE = re.compile(r"^\$(?:FASTAPI_WORKERS|\{FASTAPI_WORKERS(?:[:]?[-?][^}]*)?\})$")


def service_definition(document: Any, name: str) -> Optional[dict]:
    services = document.get("services") if isinstance(document, dict) else None
    service = services.get(name) if isinstance(services, dict) else None
    return service if isinstance(service, dict) else None


def _nginx_conf_mount(service: dict) -> Optional[Tuple[str, bool]]:
    """Return (source, read_only) of the volume mounted at the nginx conf.d target, if any."""
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            if len(parts) >= 2 and parts[1] == NGINX_TARGET:
                options = parts[2].split(",") if len(parts) > 2 else []
                return parts[0], "ro" in options
        elif isinstance(volume, dict) and volume.get("target") == NGINX_TARGET:
            return str(volume.get("source", "")), bool(volume.get("read_only"))
    return None


def _environment_value(service: dict, key: str) -> Tuple[bool, Optional[str]]:
    """Return (set, value) of ``key`` in the service's environment, in map or list form."""
    environment = service.get("environment")
    if isinstance(environment, dict):
        if key in environment:
            value = environment[key]
            return True, None if value is None else str(value)
    elif isinstance(environment, list):
        for item in environment:
            name, sep, value = str(item).partition("=")
            if name == key:
                return True, value if sep else None
    return False, None


def check_compose(files: InstallFiles) -> List[Finding]:
    if files.compose_error is not None:
        return [Finding("compose.parse", ERROR,
                        f"docker-compose.yaml is not valid YAML ({files.compose_error}): compose cannot start "
                        "the stack", "restore docker-compose.yaml from its newest .bak.* backup", GROUP)]
    if files.compose is None:
        return []
    findings = [_check_nginx_mount(files.compose), _check_api_workers(files.compose)]
    return [finding for finding in findings if finding is not None]


def _check_nginx_mount(document: Any) -> Finding:
    nginx = service_definition(document, "nginx")
    mount = _nginx_conf_mount(nginx) if nginx is not None else None
    fix = f"mount '{NGINX_SOURCE}:{NGINX_TARGET}:ro' in the nginx service's volumes"
    if mount is None:
        return Finding(
            "compose.nginx_mount", ERROR,
            f"the nginx service does not mount anything at {NGINX_TARGET}: nginx serves its default "
            "config instead of this install's nginx.conf",
            fix, GROUP)
    source, read_only = mount
    if source not in (NGINX_SOURCE, "nginx.conf"):
        return Finding(
            "compose.nginx_mount", ERROR,
            f"the nginx service mounts {source} at {NGINX_TARGET}, not {NGINX_SOURCE}: edits to this "
            "install's nginx.conf never reach nginx",
            fix, GROUP)
    if not read_only:
        return Finding(
            "compose.nginx_mount", WARNING,
            f"the nginx service mounts {NGINX_SOURCE} writable: anything running in the nginx container "
            "can change the config",
            fix, GROUP)
    return Finding("compose.nginx_mount", OK, f"nginx mounts {NGINX_SOURCE} read-only at {NGINX_TARGET}",
                   group=GROUP)


def _check_api_workers(document: Any) -> Finding:
    api = service_definition(document, "api")
    fix = "set 'FASTAPI_WORKERS: ${FASTAPI_WORKERS}' in the api service's environment"
    if api is None:
        return Finding("compose.api_workers", ERROR,
                       "docker-compose.yaml has no api service: nothing runs the API workers", fix, GROUP)
    present, value = _environment_value(api, "FASTAPI_WORKERS")
    if present and value is None:
        # A bare name passes the variable through from compose's own environment, which .env fills.
        return Finding("compose.api_workers", OK, "the api service takes FASTAPI_WORKERS from .env", group=GROUP)
    if present and value is not None and _WORKERS_REFERENCE.match(value.strip()):
        return Finding("compose.api_workers", OK, "the api service takes FASTAPI_WORKERS from .env", group=GROUP)
    if present:
        return Finding(
            "compose.api_workers", ERROR,
            f"the api service sets FASTAPI_WORKERS to {value!r} instead of taking it from .env: "
            "'dograh workers N' and the upstream checks no longer describe what runs",
            fix, GROUP)
    env_files = api.get("env_file")
    if env_files in (".env", "./.env") or (isinstance(env_files, list) and any(
            str(item if not isinstance(item, dict) else item.get("path")) in (".env", "./.env")
            for item in env_files)):
        return Finding("compose.api_workers", OK, "the api service reads .env through env_file", group=GROUP)
    return Finding(
        "compose.api_workers", ERROR,
        "the api service does not receive FASTAPI_WORKERS: it starts the image's default number of workers, "
        "whatever .env says",
        fix, GROUP)
