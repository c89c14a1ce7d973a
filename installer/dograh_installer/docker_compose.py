"""Running ``docker compose`` for the stack, and saying so when it cannot run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import List, Optional, Sequence

PROFILE_ARGS = ["compose", "--profile", "remote"]
ENGINE_PROBE_TIMEOUT = 15


def compose_argv(*args: str) -> List[str]:
    return ["docker", *PROFILE_ARGS, *args]


def shell_command(argv: Sequence[str]) -> str:
    return " ".join(argv)


def engine_unavailable_reason() -> Optional[str]:
    """Return why ``docker compose`` cannot run here, or None when it can."""
    if shutil.which("docker") is None:
        return "docker is not installed (no 'docker' on PATH)"
    try:
        version = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, timeout=ENGINE_PROBE_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"'docker compose version' failed: {exc}"
    if version.returncode != 0:
        return "the docker compose plugin is not installed ('docker compose version' failed)"
    try:
        info = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True, text=True, timeout=ENGINE_PROBE_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the Docker engine did not answer: {exc}"
    if info.returncode != 0 or not info.stdout.strip():
        detail = (info.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no Docker engine is running ({detail})"
    return None


def run_streaming(directory: Path, argv: Sequence[str]) -> int:
    """Run ``argv`` in ``directory`` with its output going straight to ours."""
    return subprocess.run(list(argv), cwd=directory).returncode
