"""Compose services to recreate after a fix, so the running stack uses the new files.

compose substitutes ``.env`` into a service's definition only when it
creates the container, so a container keeps the values it started with
until ``up -d --force-recreate`` replaces it. Which services read which
key comes from the install's own docker-compose.yaml, because an operator
may have edited it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

from dograh_installer.doctor import edit_env
from dograh_installer.install import COMPOSE_NAME

API = "api"
NGINX = "nginx"
WORKERS_KEY = "FASTAPI_WORKERS"
# postgres reads POSTGRES_PASSWORD only when it initialises an empty data
# volume, so recreating it changes nothing; --fix never changes that key.
NOT_RECREATED = frozenset({"postgres"})
# Without a readable compose file: the api reads every key of a fresh install.
FALLBACK_SERVICES = [API]
_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def touched_keys(old_text: str, new_text: str) -> Set[str]:
    """Return the keys whose binding lines differ between two versions of .env.

    A converted line ending, a removed duplicate, a new quoting or a new
    value all count: the running containers may have read the old line
    differently (an older compose kept the ``\\r`` of a CRLF line), so only
    recreating them makes sure they use what the file now says. A dropped
    byte-order mark counts for the first key, the one it was glued to.
    """
    def bodies(text: str) -> Dict[str, List[str]]:
        found: Dict[str, List[str]] = {}
        for chunk in edit_env.split_chunks(text[len(edit_env.BOM):] if text.startswith(edit_env.BOM) else text):
            if chunk.key is not None:
                found.setdefault(chunk.key, []).append(chunk.body)
        return found

    old, new = bodies(old_text), bodies(new_text)
    keys = {key for key in set(old) | set(new) if old.get(key) != new.get(key)}
    if old_text.startswith(edit_env.BOM) and not new_text.startswith(edit_env.BOM) and old:
        keys.add(next(iter(old)))
    return keys


def _reads_env_file(env_file: Any) -> bool:
    """Return True when a service's ``env_file`` (a string, a list, or entries with ``path``) names .env."""
    entries = env_file if isinstance(env_file, list) else [env_file]
    paths = [entry.get("path") if isinstance(entry, dict) else entry for entry in entries]
    return any(str(path) in (".env", "./.env") for path in paths if path is not None)


def _service_keys(directory: Path) -> Optional[Dict[str, Optional[Set[str]]]]:
    """Return service to the .env keys its definition references; None for a service with env_file: .env."""
    import yaml

    try:
        document = yaml.safe_load((directory / COMPOSE_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    services = document.get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict):
        return None
    found: Dict[str, Optional[Set[str]]] = {}
    for name, definition in services.items():
        if not isinstance(definition, dict):
            continue
        if _reads_env_file(definition.get("env_file")):
            found[str(name)] = None
            continue
        found[str(name)] = set(_REFERENCE.findall(json.dumps(definition)))
    return found


def services_to_recreate(directory: Path, env_keys: Set[str], nginx_changed: bool,
                         upstream_changed: bool = False) -> List[str]:
    """Return the services to recreate, api and nginx first, for the given .env keys and nginx.conf change.

    nginx joins whenever the api is recreated: nginx resolves ``api`` once
    when it starts, and a recreated api container may get another address.
    A changed upstream or FASTAPI_WORKERS recreates both: the api may still
    run a worker count from before a hand edit of .env, which only a new
    container reads.
    coturn reads turnserver.conf, not .env, in the compose file dograh
    writes, so a TURN_SECRET change recreates the api only and coturn is
    restarted for a turnserver.conf change (see ``doctor.fix``).
    """
    services: List[str] = []
    if upstream_changed or WORKERS_KEY in env_keys:
        services += [API, NGINX]
    if env_keys:
        service_keys = _service_keys(directory)
        if service_keys is None:
            services += FALLBACK_SERVICES
        else:
            for name, keys in service_keys.items():
                if name in NOT_RECREATED:
                    continue
                if keys is None or keys & env_keys:
                    services.append(name)
    if nginx_changed or API in services:
        services.append(NGINX)
    ordered = [name for name in (API, NGINX) if name in services]
    return ordered + sorted({name for name in services if name not in (API, NGINX)})
