"""Edits of turnserver.conf: the TURN secret, the external IP and use-auth-secret.

coturn reads one ``name=value`` option per line; a repeated option's last
line is the one this module edits, matching ``turn_conf.last_value``.
"""

from __future__ import annotations

import re
from typing import List, Optional, Tuple

from dograh_installer.doctor.edit_text import (
    LineEdit,
    apply_line_edits,
    dominant_line_ending,
    ensure_final_newline,
    line_ending,
)
from dograh_installer.turn_conf import last_value, parse_turnserver_text

_OPTION_PREFIX = r"^(?P<prefix>[ \t]*(?:--)?{name}[ \t]*)(?:=[ \t]*(?P<value>[^\r\n]*?))?[ \t]*(?P<eol>\r?\n)?\Z"


def _rewrite_option(line: str, name: str, value: str) -> str:
    match = re.match(_OPTION_PREFIX.format(name=re.escape(name)), line)
    if match is None:
        raise ValueError(f"line is not a {name} option")
    return f"{match.group('prefix')}={value}{match.group('eol') or ''}"


def plan_turn_edits(text: str, turn_secret: Optional[str], server_ip: Optional[str]) -> Tuple[str, List[str]]:
    """Return the text with static-auth-secret = ``turn_secret`` and external-ip = ``server_ip``.

    ``None`` leaves that option alone. An external-ip of the form
    ``public/private`` keeps its private part. ``use-auth-secret`` is added
    when missing, because without it coturn ignores static-auth-secret.
    """
    options = parse_turnserver_text(text)
    lines = text.splitlines(keepends=True)
    edits: List[LineEdit] = []
    appended: List[str] = []
    notes: List[str] = []

    secret_option = last_value(options, "static-auth-secret")
    if turn_secret is not None:
        if secret_option is None:
            appended.append(f"static-auth-secret={turn_secret}")
            notes.append("turnserver.conf: added static-auth-secret from TURN_SECRET")
        elif secret_option.value != turn_secret:
            line = lines[secret_option.line - 1]
            edits.append(LineEdit(secret_option.line, secret_option.line,
                                  [_rewrite_option(line, "static-auth-secret", turn_secret)]))
            notes.append(f"turnserver.conf: set static-auth-secret (line {secret_option.line}) to TURN_SECRET")

    if last_value(options, "use-auth-secret") is None:
        if secret_option is not None:
            eol = line_ending(lines[secret_option.line - 1], dominant_line_ending(text))
            edits.append(LineEdit(secret_option.line, secret_option.line - 1, ["use-auth-secret" + eol]))
        else:
            appended.insert(0, "use-auth-secret")
        notes.append("turnserver.conf: added use-auth-secret")

    ip_option = last_value(options, "external-ip")
    if server_ip is not None:
        if ip_option is None:
            appended.append(f"external-ip={server_ip}")
            notes.append("turnserver.conf: added external-ip from SERVER_IP")
        else:
            public, slash, private = (ip_option.value or "").partition("/")
            if public != server_ip:
                line = lines[ip_option.line - 1]
                edits.append(LineEdit(ip_option.line, ip_option.line,
                                      [_rewrite_option(line, "external-ip", server_ip + slash + private)]))
                notes.append(f"turnserver.conf: set external-ip (line {ip_option.line}) to SERVER_IP {server_ip}")

    # Two edits on one line (the secret and use-auth-secret before it) are
    # an insertion and a replacement; apply_line_edits orders them.
    result = apply_line_edits(text, edits)
    if appended:
        result = ensure_final_newline(result)
        eol = dominant_line_ending(text)
        result += "".join(line + eol for line in appended)
    return result, notes
