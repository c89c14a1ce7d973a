"""The ``dograh`` command line: parse options, call a command module, pick the exit code."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import click

from dograh_installer import __version__
from dograh_installer.errors import EXIT_PROBLEMS, DograhError


# Exit code for bugs, apart from 1 (problems) and 2 (bad input).
EXIT_BUG = 70


def is_interactive() -> bool:
    return sys.stdin.isatty()


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dograh")
def main() -> None:
    """Install a self-hosted Dograh stack and keep it free of drift."""


@main.command()
@click.option("--dir", "directory", metavar="PATH", help="Install directory [env DOGRAH_DIR; default ./dograh].")
@click.option("--server-ip", metavar="IPV4", help="Public IPv4 address of this server [env SERVER_IP; required].")
@click.option("--turn-secret", metavar="SECRET",
              help="TURN shared secret, at least 16 characters [env TURN_SECRET; default: generated]. "
                   "Prefer the environment variable: flags are visible in the process list.")
@click.option("--workers", metavar="N", help="API worker processes, 1-64 [env FASTAPI_WORKERS; default 4].")
@click.option("--public-host", metavar="HOST",
              help="Host name or IP browsers use [env PUBLIC_HOST; default: the server IP].")
@click.option("--enable-telemetry", metavar="BOOL", help="true or false [env ENABLE_TELEMETRY; default true].")
@click.option("--force-turn-relay", metavar="BOOL", help="true or false [env FORCE_TURN_RELAY; default false].")
@click.option("--start", is_flag=True, default=None,
              help="Start the stack with docker compose afterwards [env DOGRAH_START=1].")
def install(directory: Optional[str], server_ip: Optional[str], turn_secret: Optional[str], workers: Optional[str],
            public_host: Optional[str], enable_telemetry: Optional[str], force_turn_relay: Optional[str],
            start: Optional[bool]) -> None:
    """Write a new install directory: .env, nginx.conf, turnserver.conf, compose file, certificate.

    Refuses an existing install unless DOGRAH_FORCE_OVERWRITE=1.
    """
    from dograh_installer.commands.install import install_command

    flags = {
        "directory": directory, "server_ip": server_ip, "turn_secret": turn_secret, "workers": workers,
        "public_host": public_host, "enable_telemetry": enable_telemetry, "force_turn_relay": force_turn_relay,
    }
    sys.exit(install_command(flags, dict(os.environ), start, is_interactive()))


DIR_HELP = "Install directory [env DOGRAH_DIR; default ./dograh]."


@main.command()
@click.option("--dir", "directory", metavar="PATH", help=DIR_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print findings as JSON (a versioned schema) instead of text.")
@click.option("--fix", is_flag=True, help="Repair what can be repaired, after showing a diff and asking.")
@click.option("--yes", is_flag=True, help="With --fix: apply without asking.")
@click.option("--from-nginx", is_flag=True, help="With --fix: adopt nginx.conf's worker count into .env instead.")
@click.option("--no-restart", is_flag=True, help="With --fix: do not recreate the api and nginx containers.")
@click.option("--live", is_flag=True, help="Also check the running stack, including the WebSocket fan-out check.")
@click.option("--url", metavar="URL", help="With --live: base URL of nginx [default https://PUBLIC_HOST].")
@click.option("--connections", type=click.IntRange(1, 100000), metavar="K",
              help="With --live: WebSockets the fan-out check opens [default 4 x workers, at least 8].")
@click.option("--ws-path", metavar="PATH", help="With --live: WebSocket path under /api/v1/ for the fan-out check.")
@click.option("--concurrency", type=click.IntRange(1, 100000), metavar="N",
              help="With --live: fan-out handshakes in flight at once [default: all, a burst]; 1 is sequential.")
@click.option("--hold", type=click.FloatRange(0, 3600), metavar="SECONDS",
              help="With --live: seconds the fan-out check holds its connections open.")
@click.option("--idle-check", type=click.FloatRange(1, 7200), metavar="SECONDS",
              help="With --live: hold one WebSocket idle this long to catch a short proxy_read_timeout.")
@click.option("--timeout", "live_timeout", type=click.FloatRange(1, 86400), metavar="SECONDS",
              help="With --live: upper bound for the whole live run.")
def doctor(directory: Optional[str], as_json: bool, fix: bool, yes: bool, from_nginx: bool, no_restart: bool,
           live: bool, url: Optional[str], connections: Optional[int], ws_path: Optional[str],
           concurrency: Optional[int], hold: Optional[float], idle_check: Optional[float],
           live_timeout: Optional[float]) -> None:
    """Find drift in an install directory and print the fix for each problem.

    Exit codes: 0 healthy (warnings allowed), 1 problems found, 2 could not run.
    """
    from dograh_installer.commands.doctor import doctor_command
    from dograh_installer.live.options import LiveOptions

    live_options = LiveOptions(url=url, connections=connections, ws_path=ws_path, concurrency=concurrency,
                               hold=hold, idle_check=idle_check, timeout=live_timeout)
    sys.exit(doctor_command(
        directory=resolve_directory(directory), as_json=as_json, fix=fix, yes=yes, from_nginx=from_nginx,
        restart=not no_restart, live=live_options if live else None, interactive=is_interactive(),
        unused_live=None if live else live_options,
    ))


@main.command()
@click.argument("count", metavar="N")
@click.option("--dir", "directory", metavar="PATH", help=DIR_HELP)
@click.option("--yes", is_flag=True, help="Apply without asking.")
@click.option("--no-restart", is_flag=True, help="Do not recreate the api and nginx containers.")
def workers(count: str, directory: Optional[str], yes: bool, no_restart: bool) -> None:
    """Set the API worker count: FASTAPI_WORKERS in .env and the nginx upstream together."""
    from dograh_installer.commands.workers import workers_command

    sys.exit(workers_command(count, directory=resolve_directory(directory), yes=yes, restart=not no_restart,
                             interactive=is_interactive()))


def resolve_directory(flag: Optional[str]) -> Path:
    return Path(flag or os.environ.get("DOGRAH_DIR") or "./dograh").expanduser().absolute()


def run() -> int:
    """Run the CLI; known failures become one line on stderr and their exit code."""
    try:
        main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except DograhError as exc:
        click.echo(f"dograh: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_PROBLEMS
    except Exception:
        # An unexpected failure is a bug: keep the traceback, but in a file.
        log_path = _write_crash_log()
        click.echo(f"dograh: internal error; the traceback is in {log_path}. Please report it.", err=True)
        return EXIT_BUG
    return 0


def _write_crash_log() -> str:
    import tempfile
    import traceback

    fd, path = tempfile.mkstemp(prefix="dograh-crash-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(traceback.format_exc())
    return path
