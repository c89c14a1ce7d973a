"""``dograh doctor --fix``: show the planned edits, confirm, write them, recreate, check again.

``dograh workers`` runs the same steps on its own plan (``execute_plan``).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any, Dict, List

import click

from dograh_installer import docker_compose
from dograh_installer.doctor.fix_apply import apply_plan, validate_nginx_change
from dograh_installer.doctor.fix_diff import render_diff
from dograh_installer.doctor.fix_plan import FixPlan, plan_fix
from dograh_installer.errors import EXIT_PROBLEMS
from dograh_installer.install import TURN_NAME

FIX_SCHEMA = "dograh.fix/1"
RECREATE_ARGS = ("up", "-d", "--force-recreate", "api", "nginx")


def recreate_command(directory: Path) -> str:
    argv = docker_compose.compose_argv(*RECREATE_ARGS)
    return f"cd {shlex.quote(str(directory))} && {docker_compose.shell_command(argv)}"


def _emit(lines: List[str], as_json: bool) -> None:
    # With --json, stdout carries one JSON document, so text goes to stderr.
    for line in lines:
        click.echo(line, err=as_json)


def _describe(plan: FixPlan) -> List[str]:
    lines: List[str] = []
    for change in plan.changes:
        lines += render_diff(change)
    notes = [note for change in plan.changes for note in change.notes]
    if notes:
        lines += ["", "Planned changes:"] + [f"  - {note}" for note in notes]
    if plan.skipped:
        lines += ["", "Not fixed automatically (fix by hand):"] + [f"  - {item}" for item in plan.skipped]
    return lines


def _restart(plan: FixPlan, restart: bool, as_json: bool) -> Dict[str, Any]:
    """Recreate api and nginx when the plan needs it; return what happened, for output and JSON."""
    command = recreate_command(plan.directory)
    if not plan.restart_needed:
        return {"needed": False}
    if not restart:
        _emit(["", f"Not recreating api and nginx (--no-restart). To apply the change, run:\n  {command}"], as_json)
        return {"needed": True, "ran": False, "reason": "--no-restart", "command": command}
    reason = docker_compose.engine_unavailable_reason()
    if reason is not None:
        _emit(["", f"Cannot recreate api and nginx: {reason}. To apply the change, run:\n  {command}"], as_json)
        return {"needed": True, "ran": False, "reason": reason, "command": command}
    argv = docker_compose.compose_argv(*RECREATE_ARGS)
    _emit(["", f"Recreating api and nginx: {docker_compose.shell_command(argv)}"], as_json)
    code = docker_compose.run_streaming(plan.directory, argv)
    if code != 0:
        _emit([f"docker compose exited with {code}; the files are written, retry with\n  {command}"], as_json)
    return {"needed": True, "ran": True, "exit_code": code, "command": command}


def _check_again(directory: Path, as_json: bool) -> Dict[str, Any]:
    """Run the doctor's checks on the result and print the report (text mode)."""
    from dograh_installer.commands.doctor import stdout_supports_unicode, use_color
    from dograh_installer.doctor.checks import run_checks
    from dograh_installer.doctor.report import exit_code, render_json, render_text

    findings = run_checks(directory)
    if not as_json:
        click.echo("")
        click.echo(render_text(findings, unicode_marks=stdout_supports_unicode(), color=use_color()))
    return {"exit_code": exit_code(findings), "report": json.loads(render_json(findings))}


def execute_plan(plan: FixPlan, *, yes: bool, restart: bool, interactive: bool, as_json: bool,
                 command: str, empty_message: str) -> int:
    """Show ``plan``, confirm it, apply it, recreate the containers and check again; return the exit code."""
    document: Dict[str, Any] = {
        "schema": FIX_SCHEMA,
        "changes": [{"file": change.name, "diff": render_diff(change), "notes": change.notes}
                    for change in plan.changes],
        "not_fixed": plan.skipped,
        "applied": False,
    }
    if not plan.changes:
        _emit([empty_message] + _describe(plan), as_json)
        checked = _check_again(plan.directory, as_json)
        document.update(checked)
        if as_json:
            click.echo(json.dumps(document, indent=2))
        return checked["exit_code"]

    _emit(_describe(plan), as_json)
    if not yes:
        if not interactive or as_json:
            _emit(["", f"Nothing was changed: without --yes, changes are applied only after a "
                       f"confirmation at a terminal. Run 'dograh {command} --yes' to apply them."], as_json)
            if as_json:
                click.echo(json.dumps(document, indent=2))
            return EXIT_PROBLEMS
        if not click.confirm("\nApply these changes?", default=False):
            click.echo("Nothing was changed.")
            return EXIT_PROBLEMS

    validate_nginx_change(plan)
    result = apply_plan(plan, command)
    document["applied"] = True
    document["backups"] = [backup.name for backup in result.backups]
    written = [f"Wrote {change.name}" if change.content_changed else f"Set mode {change.new_mode:04o} on {change.name}"
               for change in plan.changes]
    _emit([""] + [f"Backed up {backup.name}" for backup in result.backups] + written, as_json)
    document["restart"] = _restart(plan, restart, as_json)
    turn_change = plan.change_for(TURN_NAME)
    if turn_change is not None and turn_change.content_changed:
        # Only api and nginx are recreated after a fix, so the coturn
        # restart is printed for the person to run.
        coturn_command = f"cd {shlex.quote(str(plan.directory))} && " + docker_compose.shell_command(
            docker_compose.compose_argv("restart", "coturn"))
        _emit(["", f"coturn reads turnserver.conf only when it starts; restart it with:\n  {coturn_command}"],
              as_json)
        document["coturn_restart_command"] = coturn_command

    checked = _check_again(plan.directory, as_json)
    document.update(checked)
    if as_json:
        click.echo(json.dumps(document, indent=2))
    if document["restart"].get("exit_code"):
        return EXIT_PROBLEMS
    return checked["exit_code"]


def run_fix(directory: Path, *, from_nginx: bool, yes: bool, restart: bool, interactive: bool,
            as_json: bool) -> int:
    plan = plan_fix(directory, from_nginx)
    return execute_plan(plan, yes=yes, restart=restart, interactive=interactive, as_json=as_json,
                        command="doctor --fix", empty_message="Nothing to fix: every fixable file is as it should be.")

