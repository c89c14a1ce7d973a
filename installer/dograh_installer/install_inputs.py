"""Resolving install inputs: flag, then environment variable, then prompt, then default."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Mapping, Optional, Tuple

from dograh_installer import inputs, machine
from dograh_installer.errors import InputError
from dograh_installer.install import InstallSettings, check_target

# prompt(text, default, hide_input, check) -> an answer that ``check`` accepted
Prompter = Callable[[str, Optional[str], bool, Callable[[str], object]], str]


def _check_optional_secret(answer: str) -> object:
    return inputs.check_turn_secret(answer) if answer else None


def _pick(flag: Optional[str], environ: Mapping[str, str], variable: str) -> Optional[str]:
    if flag is not None:
        return flag
    return environ.get(variable)


def resolve_install_settings(
    flags: Mapping[str, Optional[str]],
    environ: Mapping[str, str],
    prompt: Optional[Prompter],
) -> Tuple[InstallSettings, List[str]]:
    """Return validated settings and the warnings to show.

    ``prompt`` is None when stdin is not a TTY; then a missing required
    value is an InputError naming its variable. Nothing is written here.
    """
    warnings: List[str] = []

    # Directory and overwrite first, so an existing install is rejected
    # before the user answers any prompt or reads any warning.
    raw_force = environ.get("DOGRAH_FORCE_OVERWRITE", "")
    force = inputs.parse_bool(raw_force, "DOGRAH_FORCE_OVERWRITE") if raw_force else False

    raw_dir = _pick(flags.get("directory"), environ, "DOGRAH_DIR") or "./dograh"
    if "\0" in raw_dir:
        raise InputError("DOGRAH_DIR", "contains a NUL byte")

    directory = Path(raw_dir).expanduser().absolute()
    check_target(directory, force)

    raw_ip = _pick(flags.get("server_ip"), environ, "SERVER_IP")
    if raw_ip is None:
        if prompt is None:
            raise InputError(
                "SERVER_IP", "is required: set the SERVER_IP environment variable or pass --server-ip "
                "(no prompt without a terminal)"
            )
        raw_ip = prompt("Public IPv4 address of this server (SERVER_IP)", None, False, inputs.parse_server_ip)
    server_ip = inputs.parse_server_ip(raw_ip)
    warnings += inputs.server_ip_warnings(server_ip)

    raw_secret = _pick(flags.get("turn_secret"), environ, "TURN_SECRET")
    if raw_secret is None and prompt is not None:
        raw_secret = prompt(
            "TURN shared secret (TURN_SECRET; leave empty to generate one)", "", True, _check_optional_secret
        )
    turn_secret = inputs.check_turn_secret(raw_secret) if raw_secret else None

    raw_workers = _pick(flags.get("workers"), environ, "FASTAPI_WORKERS")
    if raw_workers is None and prompt is not None:
        raw_workers = prompt(
            "Number of API workers, uvicorn processes nginx balances (FASTAPI_WORKERS)",
            str(inputs.DEFAULT_WORKERS), False, inputs.parse_workers,
        )
    workers = inputs.parse_workers(raw_workers) if raw_workers is not None else inputs.DEFAULT_WORKERS
    warnings += inputs.worker_warnings(workers, machine.cpu_count(), machine.memory_bytes())

    raw_host = _pick(flags.get("public_host"), environ, "PUBLIC_HOST")
    public_host = inputs.parse_public_host(raw_host or "", str(server_ip))

    raw_telemetry = _pick(flags.get("enable_telemetry"), environ, "ENABLE_TELEMETRY")
    telemetry = inputs.parse_bool(raw_telemetry, "ENABLE_TELEMETRY") if raw_telemetry else True
    raw_relay = _pick(flags.get("force_turn_relay"), environ, "FORCE_TURN_RELAY")
    relay = inputs.parse_bool(raw_relay, "FORCE_TURN_RELAY") if raw_relay else False
    settings = InstallSettings(
        directory=directory,
        server_ip=str(server_ip),
        public_host=public_host,
        turn_secret=turn_secret,
        workers=workers,
        enable_telemetry=telemetry,
        force_turn_relay=relay,
        force_overwrite=force,
    )
    return settings, warnings
