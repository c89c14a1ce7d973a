"""Unified diffs of planned changes, with every secret value masked.

The diff is computed on the real lines, so a changed secret still shows as
a removed and an added line, and masked afterwards, so neither value is
printed.
"""

from __future__ import annotations

import difflib
import re
from typing import List, Set

from dograh_installer.doctor import edit_env
from dograh_installer.doctor.fix_plan import FileChange
from dograh_installer.envfile import SECRET_KEYS
from dograh_installer.install import ENV_NAME

MASK = "********"
TURN_SECRET_OPTION = "static-auth-secret"
_SECRET_NAMES = "|".join(re.escape(name) for name in sorted(SECRET_KEYS) + [TURN_SECRET_OPTION])
# Any line that assigns a secret, commented out or not: ``KEY=value``,
# ``export KEY = value``, ``# KEY=value``, ``--static-auth-secret=value``.
_SECRET_ASSIGNMENT = re.compile(
    rf"^(?P<prefix>[ \t]*(?:#[ \t]*)?(?:export[ \t]+)?(?:--)?(?:{_SECRET_NAMES})[ \t]*=[ \t]*)(?P<value>.+)$"
)


def mask_line(line: str) -> str:
    match = _SECRET_ASSIGNMENT.match(line)
    if match is None:
        return line
    return match.group("prefix") + MASK


def _display(line: str, secret: bool) -> str:
    """Return one file line as shown in the diff: break removed, CR and BOM made visible."""
    text = line[:-1] if line.endswith("\n") else line
    carriage = text.endswith("\r")
    text = text[:-1] if carriage else text
    bom = text.startswith(edit_env.BOM)
    text = text[1:] if bom else text
    masked = mask_line(text)
    if secret and masked == text:
        masked = f"{MASK} (part of a secret value)"
    if bom:
        masked = "<BOM>" + masked
    if carriage:
        masked += "^M"
    return masked


def _secret_lines(change: FileChange, text: str) -> Set[int]:
    if change.name != ENV_NAME:
        return set()
    return {number - 1 for number in edit_env.secret_line_numbers(text, SECRET_KEYS)}


def _range(start: int, stop: int) -> str:
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


def render_diff(change: FileChange, context: int = 3) -> List[str]:
    """Return the unified diff lines of ``change``, secrets masked, without line breaks."""
    old_text = change.old.decode("utf-8", errors="replace")
    new_text = change.new.decode("utf-8", errors="replace")
    old_lines = old_text.splitlines(keepends=True)
    new_lines = new_text.splitlines(keepends=True)
    old_secret = _secret_lines(change, old_text)
    new_secret = _secret_lines(change, new_text)

    output: List[str] = []
    if change.content_changed:
        output += [f"--- a/{change.name}", f"+++ b/{change.name}"]
        matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
        for group in matcher.get_grouped_opcodes(context):
            first, last = group[0], group[-1]
            output.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@")
            for tag, i1, i2, j1, j2 in group:
                if tag == "equal":
                    output += [" " + _display(old_lines[i], i in old_secret) for i in range(i1, i2)]
                    continue
                output += ["-" + _display(old_lines[i], i in old_secret) for i in range(i1, i2)]
                output += ["+" + _display(new_lines[j], j in new_secret) for j in range(j1, j2)]
    if change.mode_changed:
        output.append(f"mode {change.name}: {change.old_mode:04o} -> {change.new_mode:04o}")
    return output
