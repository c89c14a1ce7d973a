r"""The install's ``.env``: the keys it must hold, rendering, and parsing.

Parsing uses python-dotenv's line parser, which keeps each binding's
original text and line so edits can touch one line and keep the rest. It
follows these rules that docker compose (compose-go's dotenv reader)
applies to ``.env`` files, each tested in tests/test_envfile_rules.py:

- an ``export`` prefix before a key is ignored;
- single quotes make a value literal, with no ``$`` interpolation;
- double quotes allow escapes such as ``\n``, and compose interpolates ``$``;
- on an unquoted value, whitespace followed by ``#`` starts a comment, but a
  ``#`` inside a word is part of the value;
- when a key appears twice, the last binding wins.

python-dotenv removes a CRLF line's ``\r``. docker compose may keep it at
the end of the value, where nobody sees it, so the doctor reports CRLF
endings through ``has_crlf`` and checks the values without the ``\r``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional

from dotenv.parser import parse_stream

# Order and comments of the rendered file; every key a remote install sets.
ENV_LAYOUT = [
    ("Deployment", [
        ("ENVIRONMENT", "Runtime mode of the API; keep 'production' on a server."),
        ("SERVER_IP", "Public IPv4 address of this server. coturn's external-ip must match it."),
        ("PUBLIC_HOST", "Host name or IP that browsers use; nginx's server_name must match it."),
        ("PUBLIC_BASE_URL", "Always https:// followed by PUBLIC_HOST."),
    ]),
    ("WebRTC relay (coturn)", [
        ("ENABLE_COTURN", "Run the bundled TURN server."),
        ("TURN_SECRET", "Shared secret for TURN credentials; must equal static-auth-secret in turnserver.conf."),
        ("FORCE_TURN_RELAY", "true sends all media through TURN (for strict NATs)."),
    ]),
    ("Secrets (generated once; changing them logs users out or breaks logins)", [
        ("OSS_JWT_SECRET", "Signs login sessions; a new value logs everyone out."),
        ("POSTGRES_PASSWORD", "Baked into the postgres volume on first start: do not change it here."),
        ("REDIS_PASSWORD", "Password of the bundled redis."),
        ("MINIO_ROOT_USER", "User of the bundled MinIO object store."),
        ("MINIO_ROOT_PASSWORD", "Password of the bundled MinIO object store."),
    ]),
    ("Behaviour", [
        ("ENABLE_TELEMETRY", "Send anonymous usage telemetry to the Dograh project."),
        ("FASTAPI_WORKERS", "API worker processes (ports 8000 and up). Change it with 'dograh workers N', "
                            "which also updates the nginx upstream."),
    ]),
]
ENV_KEYS = [key for _, keys in ENV_LAYOUT for key, _ in keys]
SECRET_KEYS = frozenset({"TURN_SECRET", "OSS_JWT_SECRET", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "MINIO_ROOT_PASSWORD"})

# A value made only of these characters needs no quotes under compose's rules.
_BARE_VALUE = re.compile(r"[A-Za-z0-9._:/@+=,-]*")


def quote_value(value: str) -> str:
    """Return ``value`` as compose reads it back unchanged.

    Single quotes make compose take the value literally, with no ``$``
    interpolation. A value containing a single quote or a line break cannot
    be written that way, so it raises ValueError.
    """
    if _BARE_VALUE.fullmatch(value):
        return value
    if "'" in value or "\n" in value or "\r" in value:
        raise ValueError("value cannot be written to .env without changing its meaning")
    return f"'{value}'"


def render_env(values: Mapping[str, str], header: str) -> str:
    missing = [key for key in ENV_KEYS if key not in values]
    if missing:
        raise KeyError(f"missing .env values: {', '.join(missing)}")
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for title, keys in ENV_LAYOUT:
        lines += ["", f"# --- {title} ---"]
        for key, comment in keys:
            lines.append(f"# {comment}")
            lines.append(f"{key}={quote_value(values[key])}")
    return "\n".join(lines) + "\n"


@dataclass
class EnvBinding:
    key: str
    value: Optional[str]
    line: int  # 1-based line of the binding's first line
    original: str  # the binding's exact text, line break included

    def quote(self) -> str:
        """Return the quote character around the value as written: ``'``, ``"`` or ``""`` for none."""
        match = _BINDING_START.match(self.original)
        if match is None:
            return ""
        first = self.original[match.end():match.end() + 1]
        return first if first in ("'", '"') else ""

    def interpolated(self) -> bool:
        """True when compose would expand a ``$`` in this value (unquoted or double-quoted)."""
        return self.value is not None and "$" in self.value and self.quote() != "'"


# The text before a binding's value: optional export, the key, ``=``.
_BINDING_START = re.compile(r"[ \t]*(?:export[ \t]+)?[^=#\s]+[ \t]*=[ \t]*")
BOM = "\ufeff"


@dataclass
class EnvFile:
    text: str
    bindings: List[EnvBinding] = field(default_factory=list)
    # 1-based lines that python-dotenv could not parse.
    error_lines: List[int] = field(default_factory=list)

    def values(self) -> Dict[str, str]:
        """Return key to value as compose sees it: the last binding of a key wins."""
        result: Dict[str, str] = {}
        for binding in self.bindings:
            if binding.value is not None:
                result[binding.key] = binding.value
        return result

    @property
    def has_bom(self) -> bool:
        return self.text.startswith(BOM)

    @property
    def has_crlf(self) -> bool:
        return "\r\n" in self.text

    def duplicates(self) -> Dict[str, List[int]]:
        """Return each key bound more than once, with the lines of its bindings."""
        lines: Dict[str, List[int]] = {}
        for binding in self.bindings:
            lines.setdefault(binding.key, []).append(binding.line)
        return {key: found for key, found in lines.items() if len(found) > 1}

    def effective(self, key: str) -> Optional[EnvBinding]:
        found = None
        for binding in self.bindings:
            if binding.key == key:
                found = binding
        return found


# $NAME, ${NAME}, ${NAME:-default}, ${NAME-default}, and $$ for a literal $.
_REFERENCE = re.compile(r"\$(?:\$|\{(?P<braced>\w+)(?:(?P<operator>:?-)(?P<default>[^}]*))?\}|(?P<bare>\w+))")


def interpolate(env: EnvFile, key: str) -> Optional[str]:
    """Return ``key``'s value with ``$`` references expanded the way compose expands them.

    References resolve to bindings earlier in the file.
    NOTE: compose also consults the environment of the shell that runs
    ``docker compose up``, which no file records, so a reference to a
    variable that .env does not set expands to the empty string here.
    """
    binding = env.effective(key)
    if binding is None or binding.value is None:
        return None
    if not binding.interpolated():
        return binding.value
    known: Dict[str, str] = {}
    for earlier in env.bindings:
        if earlier is binding:
            break
        if earlier.value is not None:
            known[earlier.key] = earlier.value

    def expand(match: "re.Match[str]") -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        value = known.get(name)
        operator = match.group("operator")
        if operator == ":-" and not value:
            return match.group("default")
        if operator == "-" and value is None:
            return match.group("default")
        return value or ""

    return _REFERENCE.sub(expand, binding.value)


def parse_env_text(text: str) -> EnvFile:
    env = EnvFile(text=text)
    # The mark is reported by has_bom; parsing without it keeps the first key's name clean.
    body = text[len(BOM):] if text.startswith(BOM) else text
    for binding in parse_stream(io.StringIO(body)):
        if binding.error:
            env.error_lines.append(binding.original.line)
        elif binding.key is not None:
            env.bindings.append(
                EnvBinding(binding.key, binding.value, binding.original.line, binding.original.string)
            )
    return env


def read_env(path: Path) -> EnvFile:
    return parse_env_text(path.read_text(encoding="utf-8"))
