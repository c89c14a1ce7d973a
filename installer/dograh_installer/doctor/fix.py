"""``dograh doctor --fix``: show the planned edits, confirm, write them, recreate, check again.

``dograh workers`` runs the same steps on its own plan (``execute_plan``).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import click

from dograh_installer import docker_compose
from dograh_installer.doctor.dograh_command import dograh_arguments, dograh_command
from dograh_installer.doctor.fix_apply import (
    FixAbortedError,
    NginxCheck,
    apply_plan,
    check_planned_nginx,
    nginx_check,
)
from dograh_installer.doctor.fix_diff import render_diff
from dograh_installer.doctor.fix_plan import FixPlan, plan_fix, plan_recreate
from dograh_installer.doctor.checks import run_checks
from dograh_installer.errors import EXIT_PROBLEMS
from dograh_installer.findings import ERROR, Finding
from dograh_installer.install import NGINX_NAME, TURN_NAME

FIX_SCHEMA = "dograh.fix/1"
RECREATE_ARGS = ("up", "-d", "--force-recreate")


def recreate_argv(services: List[str]) -> List[str]:
    return docker_compose.compose_argv(*RECREATE_ARGS, *services)


def recreate_command(directory: Path, services: List[str]) -> str:
    return f"cd {shlex.quote(str(directory))} && {docker_compose.shell_command(recreate_argv(services))}"


def _services_text(services: List[str]) -> str:
    return " and ".join([", ".join(services[:-1]), services[-1]]) if len(services) > 1 else services[0]


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
    if plan.recreate:
        lines += ["", f"Afterwards {_services_text(plan.recreate)} must be recreated to use the new files."]
    if plan.skipped:
        lines += ["", "Not fixed automatically (fix by hand):"] + [f"  - {item}" for item in plan.skipped]
    return lines


def _restart(plan: FixPlan, restart: bool, as_json: bool, nginx: Optional[NginxCheck]) -> Dict[str, Any]:
    """Recreate the plan's services when it needs it; return what happened, for output and JSON.

    nginx is never recreated onto an nginx.conf that ``nginx -t`` rejects:
    it would not start, and the site would go down with it.
    """
    if not plan.restart_needed:
        return {"needed": False}
    services = plan.recreate
    names = _services_text(services)
    command = recreate_command(plan.directory, services)
    result: Dict[str, Any] = {"needed": True, "services": services, "command": command}
    if nginx is not None and nginx.rejected:
        _emit(["", f"Not recreating {names}: nginx -t rejects nginx.conf ({nginx.error}), so nginx would "
                   f"not start. Correct nginx.conf, check it with "
                   f"'{dograh_command(plan.directory, 'doctor')}', then run:\n  {command}"], as_json)
        return {**result, "ran": False, "reason": "nginx -t rejects nginx.conf", "nginx_rejected": True}
    if not restart:
        _emit(["", f"Not recreating {names} (--no-restart). To apply the change, run:\n  {command}"], as_json)
        return {**result, "ran": False, "reason": "--no-restart"}
    reason = docker_compose.engine_unavailable_reason()
    if reason is not None:
        _emit(["", f"Cannot recreate {names}: {reason}. The files are written, but the running stack uses "
                   f"the old ones until you run:\n  {command}"], as_json)
        return {**result, "ran": False, "reason": reason, "blocked": True}
    argv = recreate_argv(services)
    _emit(["", f"Recreating {names}: {docker_compose.shell_command(argv)}"], as_json)
    code = docker_compose.run_streaming(plan.directory, argv)
    if code != 0:
        _emit([f"docker compose exited with {code}; the files are written, retry with\n  {command}"], as_json)
    return {**result, "ran": True, "exit_code": code}


def _check_again(directory: Path, as_json: bool, findings: Optional[List[Finding]] = None) -> Dict[str, Any]:
    """Run the doctor's checks on the result, unless given, and print the report (text mode)."""
    from dograh_installer.commands.doctor import stdout_supports_unicode, use_color
    from dograh_installer.doctor.report import exit_code, render_json, render_text

    if findings is None:
        findings = run_checks(directory)
    if not as_json:
        click.echo("")
        click.echo(render_text(findings, unicode_marks=stdout_supports_unicode(), color=use_color()))
    return {"exit_code": exit_code(findings), "report": json.loads(render_json(findings))}


def _refuse_rejected_nginx(plan: FixPlan, all_or_nothing: bool) -> Tuple[Optional[NginxCheck], List[str]]:
    """Drop a planned nginx.conf that ``nginx -t`` rejects; return the final check and what was refused.

    With ``all_or_nothing`` (``dograh workers``, whose .env and nginx.conf
    edits only make sense together) the whole plan is refused instead.
    """
    check = check_planned_nginx(plan)
    change = plan.change_for(NGINX_NAME)
    if check is None or not check.rejected or change is None or not change.content_changed:
        return check, []
    current = nginx_check(change.old.decode("utf-8", errors="replace"), plan.directory)
    if current.rejected:
        # Name the line of the file the person edits, not of the planned text.
        problem = (f"nginx -t already rejects nginx.conf as it is ({current.error}), so the new one would not "
                   "load either")
    else:
        problem = f"nginx -t rejects the new nginx.conf ({check.error})"
    advice = ("correct nginx.conf at that line or the one before it (nginx reports a missing ';' on the next "
              "line), or restore its newest nginx.conf.bak.* backup")
    if all_or_nothing:
        raise FixAbortedError(f"{problem}. Nothing was changed: {advice}, then run the command again")
    plan.changes.remove(change)
    plan_recreate(plan)
    refused = [f"nginx.conf was not changed: {problem}. To fix: {advice}, then run "
               f"'{dograh_command(plan.directory, 'doctor', '--fix')}' again"]
    return current, refused


def execute_plan(plan: FixPlan, *, yes: bool, restart: bool, interactive: bool, as_json: bool,
                 command: str, empty_message: str, all_or_nothing: bool = False) -> int:
    """Show ``plan``, confirm it, apply it, recreate the containers and check again; return the exit code.

    ``command`` is the subcommand and its arguments without ``--dir``, for
    the messages that suggest running it again.
    """
    subcommand, *arguments = command.split()
    pasteable = dograh_command(plan.directory, subcommand, *arguments)
    nginx, refused = _refuse_rejected_nginx(plan, all_or_nothing)
    document: Dict[str, Any] = {
        "schema": FIX_SCHEMA,
        "changes": [{"file": change.name, "diff": render_diff(change), "notes": change.notes}
                    for change in plan.changes],
        "not_fixed": refused + plan.skipped,
        "applied": False,
    }
    plan.skipped[:0] = refused
    if not plan.changes:
        # One message: "nothing to fix" would contradict the list of what
        # still needs a fix by hand.
        findings = run_checks(plan.directory)
        errors = [finding for finding in findings if finding.status == ERROR]
        if errors:
            # The errors left are those --fix cannot repair; saying only
            # "nothing to fix" would read as healthy.
            count = f"{len(errors)} problems" if len(errors) > 1 else "1 problem"
            verb = "need" if len(errors) > 1 else "needs"
            lead = [f"Nothing was changed: {count} found by the checks below {verb} a manual fix:"]
            lead += [f"  - {finding.message}  [{finding.id}]" for finding in errors]
        else:
            lead = [empty_message if not plan.skipped else "Nothing was changed."]
        _emit(lead + _describe(plan), as_json)
        checked = _check_again(plan.directory, as_json, findings)
        document.update(checked)
        if as_json:
            click.echo(json.dumps(document, indent=2))
        return EXIT_PROBLEMS if refused else checked["exit_code"]

    _emit(_describe(plan), as_json)
    if plan.change_for(NGINX_NAME) is not None and nginx is not None and not nginx.checked:
        _emit(["", f"The syntax of the new nginx.conf was not checked: {nginx.reason}."], as_json)
        document["nginx_syntax"] = {"checked": False, "reason": nginx.reason}
    if not yes:
        if not interactive or as_json:
            _emit(["", f"Nothing was changed: without --yes, changes are applied only after a "
                       f"confirmation at a terminal. Run '{pasteable} --yes' to apply them."], as_json)
            if as_json:
                click.echo(json.dumps(document, indent=2))
            return EXIT_PROBLEMS
        if not click.confirm("\nApply these changes?", default=False):
            click.echo("Nothing was changed.")
            return EXIT_PROBLEMS

    result = apply_plan(plan, dograh_arguments(plan.directory, subcommand, *arguments))
    document["applied"] = True
    document["backups"] = [backup.name for backup in result.backups]
    written = [f"Wrote {change.name}" if change.content_changed else f"Set mode {change.new_mode:04o} on {change.name}"
               for change in plan.changes]
    _emit([""] + [f"Backed up {backup.name}" for backup in result.backups] + written, as_json)
    document["restart"] = _restart(plan, restart, as_json, nginx)
    turn_change = plan.change_for(TURN_NAME)
    if turn_change is not None and turn_change.content_changed:
        # coturn reads no .env key, so it is never among the recreated
        # services. Its restart after a turnserver.conf change is printed
        # for the person to run.
        coturn_command = f"cd {shlex.quote(str(plan.directory))} && " + docker_compose.shell_command(
            docker_compose.compose_argv("restart", "coturn"))
        _emit(["", f"coturn reads turnserver.conf only when it starts; restart it with:\n  {coturn_command}"],
              as_json)
        document["coturn_restart_command"] = coturn_command

    checked = _check_again(plan.directory, as_json)
    document.update(checked)
    if as_json:
        click.echo(json.dumps(document, indent=2))
    restart_result = document["restart"]
    # A change that is written but not live yet is not a success, as with
    # 'install --start'. With --no-restart the person chose that, so the checks decide.
    if restart_result.get("exit_code") or restart_result.get("nginx_rejected") or restart_result.get("blocked") \
            or refused:
        return EXIT_PROBLEMS
    return checked["exit_code"]


def run_fix(directory: Path, *, from_nginx: bool, yes: bool, restart: bool, interactive: bool,
            as_json: bool) -> int:
    plan = plan_fix(directory, from_nginx)
    return execute_plan(plan, yes=yes, restart=restart, interactive=interactive, as_json=as_json,
                        command="doctor --fix --from-nginx" if from_nginx else "doctor --fix", empty_message="Nothing to fix: every fixable file is as it should be.")

