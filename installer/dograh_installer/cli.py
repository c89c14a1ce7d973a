"""The ``dograh`` command line: parse options, call a command module, pick the exit code."""

from __future__ import annotations

import os
import sys
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
