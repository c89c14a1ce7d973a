"""Edits of the install's ``.env`` that keep every line they do not change.

python-dotenv's parser splits the file into chunks whose concatenation is
the whole file (after a byte-order mark, which it drops), one chunk per
binding, comment or unparsable line. An edit replaces one chunk and keeps
the blank lines that python-dotenv folds into the front of it.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from dotenv.parser import parse_stream

from dograh_installer.doctor.edit_text import dominant_line_ending, ensure_final_newline, line_ending
from dograh_installer.envfile import quote_value

BOM = "\ufeff"
# Its value is baked into the postgres data volume on first start, so no
# edit may change what compose reads for it.
FROZEN_KEY = "POSTGRES_PASSWORD"

# The value part of ``KEY=value``: a quoted string or a bare run, then an
# optional `` # comment`` and the line break.
_VALUE = re.compile(
    r"""(?P<value>'[^']*'|"(?:\\.|[^"\\])*"|[^\r\n]*?)"""
    r"""(?P<comment>[ \t]+\#[^\r\n]*)?[ \t]*(?P<eol>\r?\n)?\Z""",
    re.S,
)
# A ``$`` that compose may replace: ``$NAME``, ``${...}``, ``$$`` (its
# escape for a literal ``$``), or ``$(`` / ``$1`` whose meaning differs
# between compose releases.
_INTERPOLATING_DOLLAR = re.compile(r"\$[A-Za-z0-9_{($]")


@dataclass
class EnvChunk:
    key: Optional[str]
    value: Optional[str]
    lead: str  # blank lines python-dotenv folded into the front of the chunk
    body: str  # the binding, comment or unparsable line, line break included


@dataclass
class EnvEdit:
    text: str
    notes: List[str] = field(default_factory=list)
    # What could not be changed safely, with the manual fix.
    skipped: List[str] = field(default_factory=list)


def split_chunks(text: str) -> List[EnvChunk]:
    if text.startswith(BOM):
        raise ValueError("strip the byte-order mark before splitting .env")
    chunks = []
    for binding in parse_stream(io.StringIO(text)):
        original = binding.original.string
        body_start = len(original) - len(original.lstrip())
        # The indentation of the body's first line stays with the body.
        last_break = original.rfind("\n", 0, body_start)
        lead, body = original[:last_break + 1], original[last_break + 1:]
        key = None if binding.error else binding.key
        chunks.append(EnvChunk(key, binding.value if key else None, lead, body))
    return chunks


def join_chunks(chunks: List[EnvChunk]) -> str:
    return "".join(chunk.lead + chunk.body for chunk in chunks)


def value_style(body: str) -> str:
    """Return "single", "double" or "bare" for the value of a ``KEY=value`` chunk."""
    _, _, rest = body.partition("=")
    rest = rest.lstrip(" \t")
    if rest.startswith("'"):
        return "single"
    if rest.startswith('"'):
        return "double"
    return "bare"


def replace_value(body: str, literal: str) -> str:
    """Return ``body`` with its value replaced by ``literal``; the key, comment and line break stay."""
    prefix, sep, rest = body.partition("=")
    if not sep:
        raise ValueError("not a KEY=value binding")
    spaces = rest[:len(rest) - len(rest.lstrip(" \t"))]
    match = _VALUE.match(rest, len(spaces))
    if match is None:
        raise ValueError("cannot find the value of the binding")
    return prefix + sep + spaces + literal + (match.group("comment") or "") + (match.group("eol") or "")


def _effective_indexes(chunks: List[EnvChunk]) -> Dict[str, int]:
    last: Dict[str, int] = {}
    for index, chunk in enumerate(chunks):
        if chunk.key is not None:
            last[chunk.key] = index
    return last


def set_value(text: str, key: str, value: str) -> str:
    """Set ``key`` on its effective (last) line, or append it; every other byte stays.

    A byte-order mark and CRLF line endings are kept, so this is safe for
    ``dograh workers``, which promises to change one line only.
    """
    if key == FROZEN_KEY:
        raise ValueError(f"{FROZEN_KEY} is never changed")
    bom = BOM if text.startswith(BOM) else ""
    chunks = split_chunks(text[len(bom):])
    literal = quote_value(value)
    index = _effective_indexes(chunks).get(key)
    if index is not None:
        body = chunks[index].body
        if "=" in body:
            chunks[index].body = replace_value(body, literal)
        else:
            # A bare ``KEY`` line (compose reads it as unset) becomes ``KEY=value``.
            chunks[index].body = f"{body.rstrip()}={literal}{line_ending(body, '')}"
        return bom + join_chunks(chunks)
    body = ensure_final_newline(text[len(bom):])
    return bom + body + f"{key}={literal}" + dominant_line_ending(body or "\n")


def _single_quoted_without_change(chunk: EnvChunk) -> Optional[str]:
    """Return the value single-quoted when compose would read the same value that way.

    compose interpolates ``$`` in bare and double-quoted values, so the
    stack runs with whatever ``$NAME`` expanded to at ``docker compose up``,
    which no file records. Quoting such a value would change what the
    running stack uses (a new OSS_JWT_SECRET logs everyone out). So only a
    ``$`` that compose cannot expand, at the end or before punctuation, is
    quoted here. The rest stay findings with a manual fix.
    """
    value = chunk.value
    if value is None or "$" not in value or value_style(chunk.body) == "single":
        return None
    if _INTERPOLATING_DOLLAR.search(value):
        return None
    try:
        return quote_value(value)
    except ValueError:
        return None


def normalise_env(text: str, values: Optional[Dict[str, str]] = None) -> EnvEdit:
    """Return ``.env`` as compose reads it unambiguously, with ``values`` set.

    - A byte-order mark is dropped and CRLF becomes LF. compose's dotenv
      parser, like python-dotenv's, treats CRLF as a line break, so no
      value changes, POSTGRES_PASSWORD's included.
      NOTE: that holds for compose v2's parser; a tool that keeps the
      ``\\r`` would have read every value with a trailing ``\\r`` before.
    - Of a duplicated key only the effective (last) binding stays, because
      compose uses that one. The shadowed lines are removed, and the backup
      keeps them.
    - A ``$`` in a bare or double-quoted value is single-quoted where that
      keeps the value (see ``_single_quoted_without_change``).
    """
    result = EnvEdit(text)
    if text.startswith(BOM):
        text = text[len(BOM):]
        result.notes.append(".env: removed the byte-order mark")
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
        result.notes.append(".env: converted CRLF line endings to LF")

    chunks = split_chunks(text)
    effective = _effective_indexes(chunks)
    remaining: List[EnvChunk] = []
    removed: Dict[str, int] = {}
    for index, chunk in enumerate(chunks):
        if chunk.key is not None and effective[chunk.key] != index:
            removed[chunk.key] = removed.get(chunk.key, 0) + 1
            # The blank lines in front of a removed binding stay.
            if chunk.lead:
                remaining.append(EnvChunk(None, None, chunk.lead, ""))
            continue
        remaining.append(chunk)
    for key, count in removed.items():
        lines = "line" if count == 1 else "lines"
        result.notes.append(f".env: removed {count} shadowed {key} {lines}; compose used the last one")

    for chunk in remaining:
        if chunk.key is None or chunk.key in (values or {}):
            continue
        if chunk.key == FROZEN_KEY:
            if chunk.value and "$" in chunk.value and value_style(chunk.body) != "single":
                result.skipped.append(
                    f".env: {FROZEN_KEY} contains '$' and --fix never rewrites it, because the postgres data "
                    "volume keeps the password it started with; quote it by hand only if the database accepts "
                    "the quoted value"
                )
            continue
        literal = _single_quoted_without_change(chunk)
        if literal is not None:
            chunk.body = replace_value(chunk.body, literal)
            result.notes.append(f".env: single-quoted {chunk.key}, whose '$' compose would otherwise interpolate")
        elif chunk.value and "$" in chunk.value and value_style(chunk.body) != "single":
            result.skipped.append(
                f".env: {chunk.key} contains '$' that compose expands when the stack starts; decide which value "
                f"the stack should use and write it in single quotes by hand"
            )

    text = join_chunks(remaining)
    for key, value in (values or {}).items():
        text = set_value(text, key, value)
    result.text = text
    return result


def effective_values(text: str) -> Tuple[Dict[str, str], List[str]]:
    """Return key to value (last binding wins) and the keys that are bound more than once."""
    chunks = split_chunks(text[len(BOM):] if text.startswith(BOM) else text)
    values: Dict[str, str] = {}
    seen: Dict[str, int] = {}
    for chunk in chunks:
        if chunk.key is None:
            continue
        seen[chunk.key] = seen.get(chunk.key, 0) + 1
        if chunk.value is not None:
            values[chunk.key] = chunk.value
    return values, [key for key, count in seen.items() if count > 1]


def secret_line_numbers(text: str, secret_keys: frozenset) -> List[int]:
    """Return the 1-based lines that carry part of a secret value, multi-line values included."""
    chunks = split_chunks(text[len(BOM):] if text.startswith(BOM) else text)
    numbers = []
    line = 1
    for chunk in chunks:
        line += chunk.lead.count("\n")
        span = chunk.body.count("\n") + (0 if chunk.body.endswith("\n") or not chunk.body else 1)
        if chunk.key in secret_keys:
            numbers.extend(range(line, line + max(span, 1)))
        line += chunk.body.count("\n")
    return numbers
