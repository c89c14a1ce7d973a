"""The shell commands that live findings suggest, each ready to paste as it is.

Every ``dograh …`` line comes from ``doctor.dograh_command``, and every
``docker compose`` line starts with ``cd DIR &&``, because the operator
may paste it from any directory.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from dograh_installer.docker_compose import compose_argv, shell_command
from dograh_installer.doctor.dograh_command import dograh_command


def compose(directory: Path, *args: str) -> str:
    """Return ``cd DIR && docker compose --profile remote ARGS…``."""
    return f"cd {shlex.quote(str(directory))} && {shell_command(compose_argv(*args))}"


def recreate(directory: Path) -> str:
    return compose(directory, "up", "-d", "--force-recreate", "api", "nginx")


def api_logs(directory: Path) -> str:
    return compose(directory, "logs", "api")


def doctor_fix(directory: Path) -> str:
    return dograh_command(directory, "doctor", "--fix")


def set_workers(directory: Path, count: int) -> str:
    return dograh_command(directory, "workers", str(count))
