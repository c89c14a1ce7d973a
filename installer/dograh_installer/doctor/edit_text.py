"""Line-level edits shared by the .env, nginx.conf and turnserver.conf editors.

Each editor turns the current text of a file into its desired text by
replacing whole lines, so every line it does not name keeps its bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from dograh_installer.errors import DograhError


class EditError(DograhError):
    """A file cannot be edited safely by machine; the message names what to edit by hand."""


@dataclass
class LineEdit:
    """Replace lines ``start``..``end`` (1-based, inclusive) with ``lines``.

    ``end = start - 1`` inserts before line ``start`` without removing anything.
    """

    start: int
    end: int
    lines: List[str]


def apply_line_edits(text: str, edits: List[LineEdit]) -> str:
    """Apply non-overlapping edits; line numbers refer to ``text`` before any edit."""
    lines = text.splitlines(keepends=True)
    ordered = sorted(edits, key=lambda edit: (edit.start, edit.end))
    for before, after in zip(ordered, ordered[1:]):
        if after.start <= before.end:
            raise ValueError(f"overlapping line edits at lines {before.start}-{before.end} and {after.start}")
    for edit in reversed(ordered):
        lines[edit.start - 1:edit.end] = edit.lines
    return "".join(lines)


def line_ending(line: str, default: str = "\n") -> str:
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith("\n"):
        return "\n"
    return default


def dominant_line_ending(text: str) -> str:
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


def indentation(line: str) -> str:
    return line[:len(line) - len(line.lstrip(" \t"))]


def ensure_final_newline(text: str) -> str:
    """Return ``text`` ending in a line break, so an appended line starts on its own line."""
    if text and not text.endswith("\n"):
        return text + dominant_line_ending(text)
    return text
