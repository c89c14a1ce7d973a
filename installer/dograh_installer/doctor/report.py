"""Output of ``dograh doctor``: text for people, versioned JSON for machines, and the exit code."""

from __future__ import annotations

import json
from typing import Dict, List

import click

from dograh_installer.errors import EXIT_OK, EXIT_PROBLEMS
from dograh_installer.findings import ERROR, INFO, OK, SKIPPED, STATUSES, WARNING, Finding, has_errors

SCHEMA = "dograh.doctor/1"
UNICODE_MARKS = {OK: "✓", INFO: "i", WARNING: "!", ERROR: "✗", SKIPPED: "-"}
ASCII_MARKS = {OK: "+", INFO: "i", WARNING: "!", ERROR: "x", SKIPPED: "-"}
COLORS = {OK: "green", INFO: "blue", WARNING: "yellow", ERROR: "red", SKIPPED: None}
# Characters the messages use that a non-UTF-8 terminal may not encode.
ASCII_REPLACEMENTS = {"–": "-", "—": "-", "≥": ">=", "…": "..."}


def summarize(findings: List[Finding]) -> Dict[str, int]:
    counts = {status: 0 for status in STATUSES}
    for finding in findings:
        counts[finding.status] = counts.get(finding.status, 0) + 1
    return counts


def exit_code(findings: List[Finding]) -> int:
    """Return 1 when any finding is an error, else 0: warnings alone leave an install healthy."""
    return EXIT_PROBLEMS if has_errors(findings) else EXIT_OK


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summary_line(findings: List[Finding]) -> str:
    counts = summarize(findings)
    parts = [f"{counts[OK]} ok", _plural(counts[WARNING], "warning"), _plural(counts[ERROR], "error")]
    if counts[INFO]:
        parts.append(f"{counts[INFO]} info")
    if counts[SKIPPED]:
        parts.append(f"{counts[SKIPPED]} skipped")
    verdict = "problems found" if counts[ERROR] else "healthy"
    return f"{verdict}: " + ", ".join(parts)


def render_text(findings: List[Finding], unicode_marks: bool, color: bool) -> str:
    """Return one line per finding under its group heading, each problem with its fix, then a summary."""
    marks = UNICODE_MARKS if unicode_marks else ASCII_MARKS
    lines: List[str] = []
    groups: Dict[str, List[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.group or "other", []).append(finding)
    for group, members in groups.items():
        if lines:
            lines.append("")
        lines.append(click.style(group, bold=True) if color else group)
        for finding in members:
            mark = marks[finding.status]
            if color and COLORS[finding.status]:
                mark = click.style(mark, fg=COLORS[finding.status], bold=True)
            lines.append(f"  {mark} {finding.message}  [{finding.id}]")
            for detail in finding.details:
                lines.append(f"      {detail}")
            if finding.fix and finding.status != OK:
                lines.append(f"      fix: {finding.fix}")
    lines += ["", summary_line(findings)]
    text = "\n".join(lines) + "\n"
    if not unicode_marks:
        for character, replacement in ASCII_REPLACEMENTS.items():
            text = text.replace(character, replacement)
    return text


def render_json(findings: List[Finding]) -> str:
    """Return the findings in the ``dograh.doctor/1`` schema; a new key never changes an existing one."""
    counts = summarize(findings)
    document = {
        "schema": SCHEMA,
        "findings": [finding.as_json() for finding in findings],
        "summary": {**counts, "exit_code": exit_code(findings)},
    }
    return json.dumps(document, indent=2) + "\n"
