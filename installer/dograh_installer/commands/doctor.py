"""Printing side of ``dograh doctor``: run the checks, optionally live checks or the repair, and report."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, List, Optional

import click

from dograh_installer.doctor.checks import run_checks
from dograh_installer.doctor.report import SCHEMA, exit_code, render_json, render_text
from dograh_installer.errors import DograhError, UsageError
from dograh_installer.findings import Finding


def stdout_supports_unicode() -> bool:
    """True when stdout's encoding can encode the ✓ and ✗ marks."""
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "✓✗–".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


# The schema of ``doctor --fix --json`` (doctor.fix.FIX_SCHEMA), here so
# that a build without the fix module can still name it in an error document.
FIX_SCHEMA = "dograh.fix/1"


def use_color() -> bool:
    # https://no-color.org: any non-empty NO_COLOR turns colour off.
    return not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def _live_findings(directory: Path, live: Any) -> List[Finding]:
    try:
        from dograh_installer.live import run_live_checks
    except ImportError as exc:
        if exc.name != "dograh_installer.live":
            raise
        raise DograhError("--live is not available in this build of dograh; run dograh doctor without --live") \
            from None
    # The live findings name the install directory in their commands themselves.
    return run_live_checks(directory, live)


def doctor_command(
    directory: Path,
    as_json: bool,
    fix: bool,
    yes: bool,
    from_nginx: bool,
    restart: bool,
    live: Optional[Any],
    interactive: bool,
    unused_live: Optional[Any] = None,
) -> int:
    """Check ``directory``, print the findings and return the exit code (0 healthy, 1 errors).

    ``unused_live`` contains the --live options given without --live. Any of
    them set, or --yes, --from-nginx or --no-restart without --fix, raises
    UsageError (exit code 2) instead of being ignored.
    """
    _reject_unused_options(fix, yes, from_nginx, restart, unused_live)
    try:
        return _run(directory, as_json, fix, yes, from_nginx, restart, live, interactive)
    except DograhError as exc:
        if as_json:
            # A script reading stdout gets a document even when the doctor could not run.
            schema = FIX_SCHEMA if fix else SCHEMA
            click.echo(json.dumps({"schema": schema, "error": str(exc), "exit_code": exc.exit_code}, indent=2))
        raise


def _reject_unused_options(fix: bool, yes: bool, from_nginx: bool, restart: bool, unused_live: Optional[Any]) -> None:
    if not fix:
        fix_only = [name for name, given in (("--yes", yes), ("--from-nginx", from_nginx),
                                             ("--no-restart", not restart)) if given]
        if fix_only:
            raise UsageError(f"{fix_only[0]} only applies with --fix; add --fix or leave out {fix_only[0]}")
    if unused_live is not None:
        live_only = [f"--{field.name.replace('_', '-')}" for field in dataclasses.fields(unused_live)
                     if getattr(unused_live, field.name) is not None]
        if live_only:
            raise UsageError(f"{live_only[0]} only applies with --live; add --live or leave out {live_only[0]}")


def _run(directory: Path, as_json: bool, fix: bool, yes: bool, from_nginx: bool, restart: bool,
         live: Optional[Any], interactive: bool) -> int:
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

    findings = run_checks(directory)
    if live is not None:
        findings += _live_findings(directory, live)

    if as_json:
        click.echo(render_json(findings), nl=False)
    else:
        click.echo(render_text(findings, unicode_marks=stdout_supports_unicode(), color=use_color()),
                   nl=False, color=use_color())
    return exit_code(findings)
