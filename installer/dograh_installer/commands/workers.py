"""``dograh workers N``: set FASTAPI_WORKERS and the nginx upstream together."""

from __future__ import annotations

from pathlib import Path

import click

from dograh_installer import machine
from dograh_installer.doctor.fix import execute_plan
from dograh_installer.doctor.fix_plan import plan_workers, require_install
from dograh_installer.inputs import parse_workers, worker_warnings


def workers_command(count: str, *, directory: Path, yes: bool, restart: bool, interactive: bool) -> int:
    workers = parse_workers(count, "N")
    # A missing install is the error to fix first; sizing warnings would bury it.
    require_install(directory)
    for message in worker_warnings(workers, machine.cpu_count(), machine.memory_bytes()):
        click.echo(f"warning: {message}", err=True)
    plan = plan_workers(directory, workers)
    return execute_plan(
        plan, yes=yes, restart=restart, interactive=interactive, as_json=False, command=f"workers {workers}",
        all_or_nothing=True,
        empty_message=f"FASTAPI_WORKERS is already {workers} and the upstream lists ports "
                      f"8000-{8000 + workers - 1}: nothing to change.",
    )
