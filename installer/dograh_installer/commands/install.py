"""Printing side of ``dograh install``."""

from __future__ import annotations

import shlex
from typing import Callable, Dict, Mapping, Optional

import click

from dograh_installer import docker_compose
from dograh_installer.errors import EXIT_OK, EXIT_PROBLEMS, InputError
from dograh_installer.inputs import parse_bool
from dograh_installer.install import InstallResult, InstallSettings, run_install
from dograh_installer.install_inputs import resolve_install_settings
from dograh_installer.invocation import program_command


def _prompt(text: str, default: Optional[str], hide_input: bool, check: Callable[[str], object]) -> str:
    """Prompt until ``check`` accepts the input, so a typo does not end the install."""
    while True:
        answer = click.prompt(text, default=default, hide_input=hide_input,
                              show_default=not hide_input and bool(default))
        try:
            check(answer)
        except InputError as exc:
            # check_turn_secret names the broken rule, never the secret, so this is
            # safe to print after the hidden prompt.
            click.echo(f"error: {exc}", err=True)
            continue
        return answer


def _print_summary(settings: InstallSettings, result: InstallResult) -> None:
    ports = result.ports
    port_text = str(ports[0]) if len(ports) == 1 else f"{ports[0]}-{ports[-1]}"
    secret_note = "generated, hidden" if result.turn_secret_generated else "as given, hidden"
    cert_kind = "self-signed, 365 days, SAN " + (
        settings.server_ip if settings.public_host == settings.server_ip
        else f"{settings.server_ip} and {settings.public_host}"
    )
    click.echo("")
    click.echo(f"Dograh install written to {result.directory}")
    click.echo(f"  server IP:     {settings.server_ip}")
    click.echo(f"  public host:   {settings.public_host}")
    click.echo(f"  certificate:   {cert_kind}")
    click.echo(f"  TURN secret:   ******** ({secret_note})")
    click.echo(f"  API workers:   {settings.workers} (ports {port_text})")
    click.echo("  files:         " + ", ".join(result.files))
    for backup in result.backups:
        click.echo(f"  backup:        {backup.name}")


def install_command(
    flags: Mapping[str, Optional[str]],
    environ: Dict[str, str],
    start_flag: Optional[bool],
    interactive: bool,
) -> int:
    settings, warnings = resolve_install_settings(flags, environ, _prompt if interactive else None)
    start = start_flag if start_flag is not None else parse_bool(environ.get("DOGRAH_START") or "0", "DOGRAH_START")
    for message in warnings:
        click.echo(f"warning: {message}", err=True)

    result = run_install(settings, environ, notify=click.echo)
    _print_summary(settings, result)

    up = docker_compose.compose_argv("up", "-d")
    command = f"cd {shlex.quote(str(result.directory))} && sudo {docker_compose.shell_command(up)}"
    if not start:
        click.echo(f"\nNext: start the stack with\n  {command}")
        doctor = f"{program_command()} doctor --dir {shlex.quote(str(result.directory))}"
        click.echo(f"Then check it with\n  {doctor}")
        return EXIT_OK
    reason = docker_compose.engine_unavailable_reason()
    if reason is not None:
        click.echo(f"\nNot starting the stack: {reason}. The files are complete; start it later with\n  {command}",
                   err=True)
        return EXIT_PROBLEMS
    click.echo(f"\nStarting the stack: {docker_compose.shell_command(up)}")
    code = docker_compose.run_streaming(result.directory, up)
    if code != 0:
        click.echo(f"docker compose exited with {code}; the files are complete, retry with\n  {command}", err=True)
        return EXIT_PROBLEMS
    return EXIT_OK
