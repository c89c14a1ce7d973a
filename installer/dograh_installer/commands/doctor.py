"""Printing side of ``dograh doctor``: run the checks, optionally live checks or the repair, and report."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from pathlib import Path
from typing import Any, List, Optional

import click

from dograh_installer.doctor.checks import run_checks
from dograh_installer.doctor.dograh_command import dograh_command
from dograh_installer.doctor.report import exit_code, render_json, render_text
from dograh_installer.errors import DograhError
from dograh_installer.findings import Finding


def stdout_supports_unicode() -> bool:
    """True when stdout's encoding can encode the ✓ and ✗ marks."""
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "✓✗–".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def use_color() -> bool:
    # https://no-color.org: any non-empty NO_COLOR turns colour off.
    return not os.environ.get("NO_COLOR") and sys.stdout.isatty()


# The live checks name commands without the install directory.
_LIVE_COMMAND = re.compile(r"\bdograh (doctor|workers)\b")


def _with_directory(finding: Finding, directory: Path) -> Finding:
    """Return ``finding`` with ``--dir`` in each dograh command its fix names, unless it is ./dograh."""
    fix = _LIVE_COMMAND.sub(lambda match: dograh_command(directory, match.group(1)), finding.fix)
    return dataclasses.replace(finding, fix=fix)


def _live_findings(directory: Path, live: Any) -> List[Finding]:
    try:
        from dograh_installer.live import run_live_checks
    except ImportError as exc:
        if exc.name != "dograh_installer.live":
            raise
        raise DograhError("--live is not available in this build of dograh; run dograh doctor without --live") \
            from None
    return [_with_directory(finding, directory) for finding in run_live_checks(directory, live)]


def doctor_command(
    directory: Path,
    as_json: bool,
    fix: bool,
    yes: bool,
    from_nginx: bool,
    restart: bool,
    live: Optional[Any],
    interactive: bool,
) -> int:
    """Check ``directory``, print the findings and return the exit code (0 healthy, 1 errors)."""
    if fix:
        try:
            from dograh_installer.doctor.fix import run_fix
        except ImportError as exc:
            if exc.name != "dograh_installer.doctor.fix":
                raise
            raise DograhError("--fix is not available in this build of dograh; run dograh doctor without --fix") \
                from None
        return run_fix(directory, from_nginx=from_nginx, yes=yes, restart=restart, interactive=interactive,
                       as_json=as_json)
    if from_nginx or yes:
        click.echo("warning: --yes and --from-nginx only apply with --fix; ignoring them", err=True)

    findings = run_checks(directory)
    if live is not None:
        findings += _live_findings(directory, live)

    if as_json:
        click.echo(render_json(findings), nl=False)
    else:
        click.echo(render_text(findings, unicode_marks=stdout_supports_unicode(), color=use_color()),
                   nl=False, color=use_color())
    return exit_code(findings)
