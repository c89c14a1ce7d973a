"""Plans for ``doctor --fix`` and ``dograh workers``: the desired content and mode of each file.

A plan is built from the files' current bytes alone, so running it on its
own result plans nothing, which makes the fix idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from dograh_installer.certs import KEY_NAME
from dograh_installer.doctor import edit_env
from dograh_installer.doctor.dograh_command import dograh_command
from dograh_installer.doctor.edit_nginx import (
    add_probe_header,
    add_upstream_settings,
    adoptable_worker_count,
    set_upstream_workers,
)
from dograh_installer.doctor.edit_text import EditError
from dograh_installer.doctor.edit_turn import plan_turn_edits
from dograh_installer.doctor.fix_services import services_to_recreate, touched_keys
from dograh_installer.errors import DograhError, InputError, UsageError
from dograh_installer.inputs import MAX_WORKERS, parse_server_ip, parse_workers
from dograh_installer.install import CERTS_DIR, ENV_NAME, NGINX_NAME, TURN_NAME
from dograh_installer.nginx_conf import NginxParseError, parse_nginx_text

PRIVATE_MODE = 0o600
WORKERS_KEY = "FASTAPI_WORKERS"


@dataclass
class FileChange:
    path: Path
    name: str  # relative to the install directory, for output
    old: bytes
    new: bytes
    old_mode: int
    new_mode: int
    notes: List[str] = field(default_factory=list)

    @property
    def content_changed(self) -> bool:
        return self.old != self.new

    @property
    def mode_changed(self) -> bool:
        return self.old_mode != self.new_mode


@dataclass
class FixPlan:
    directory: Path
    changes: List[FileChange] = field(default_factory=list)
    # What cannot be fixed by machine, each with the manual fix.
    skipped: List[str] = field(default_factory=list)
    # Compose services to recreate so the running stack uses the new files
    # (``fix_services.services_to_recreate``); empty when nothing they read changed.
    recreate: List[str] = field(default_factory=list)

    @property
    def restart_needed(self) -> bool:
        return bool(self.recreate)

    def add(self, change: Optional[FileChange]) -> None:
        if change is not None and (change.content_changed or change.mode_changed):
            self.changes.append(change)

    def change_for(self, name: str) -> Optional[FileChange]:
        return next((change for change in self.changes if change.name == name), None)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); fix it by hand") from exc


def _change(directory: Path, name: str, new_text: Optional[str], mode: Optional[int] = None,
            notes: Optional[List[str]] = None) -> Optional[FileChange]:
    path = directory / name
    if not path.exists():
        return None
    old = path.read_bytes()
    old_mode = _mode(path)
    new = old if new_text is None else new_text.encode("utf-8")
    return FileChange(path, name, old, new, old_mode, old_mode if mode is None else mode, list(notes or []))


def require_install(directory: Path) -> Path:
    env_path = directory / ENV_NAME
    if not directory.is_dir():
        raise UsageError(f"install directory {directory} does not exist; pass --dir or set DOGRAH_DIR")
    if not env_path.is_file():
        raise UsageError(f"{env_path} not found: {directory} is not a Dograh install; pass --dir or set DOGRAH_DIR")
    return env_path


def nginx_worker_count(directory: Path, nginx_text: str) -> int:
    """Return the worker count that nginx.conf's upstream implies, for ``--from-nginx``."""
    try:
        upstream = parse_nginx_text(nginx_text).upstream()
    except NginxParseError as exc:
        raise EditError(f"nginx.conf cannot be parsed ({exc}); fix it before adopting its worker count") from None
    workers = dograh_command(directory, "workers", "N")
    if upstream is None:
        raise EditError("nginx.conf has no 'upstream dograh_api' block, so it has no worker count to adopt; "
                        f"run '{workers}' instead")
    count = adoptable_worker_count(upstream)
    if count == 0:
        raise EditError("nginx.conf's upstream lists no server on ports 8000-8063, so it has no worker count "
                        f"to adopt; run '{workers}' instead")
    return count


def _plan_nginx(plan: FixPlan, nginx_text: str, workers: Optional[int]) -> Optional[str]:
    notes: List[str] = []
    text = nginx_text
    try:
        if workers is not None:
            text, upstream_notes = set_upstream_workers(text, workers)
            notes += upstream_notes
        text, settings_notes = add_upstream_settings(text)
        notes += settings_notes
        text, probe_notes = add_probe_header(text)
        notes += probe_notes
    except NginxParseError as exc:
        where = f" line {exc.line}" if exc.line else ""
        plan.skipped.append(f"nginx.conf{where} cannot be parsed ({exc}); fix the syntax by hand")
        return None
    except EditError as exc:
        plan.skipped.append(str(exc))
        return None
    plan.add(_change(plan.directory, NGINX_NAME, text, notes=notes))
    return text


def _turn_inputs(plan: FixPlan, values: Dict[str, str]) -> Dict[str, Optional[str]]:
    secret = values.get("TURN_SECRET")
    if secret is not None and (not secret or any(char.isspace() or char in "$#" for char in secret)):
        plan.skipped.append(
            "turnserver.conf: TURN_SECRET in .env is empty or contains whitespace, '$' or '#', so it cannot be "
            "copied to static-auth-secret as coturn reads it; set a plain TURN_SECRET by hand"
        )
        secret = None
    server_ip = values.get("SERVER_IP")
    if server_ip is not None:
        try:
            parse_server_ip(server_ip)
        except InputError as exc:
            plan.skipped.append(f"turnserver.conf: external-ip not changed because {exc}")
            server_ip = None
    return {"turn_secret": secret, "server_ip": server_ip}


def _set_workers_note(new: str, old: Optional[str]) -> str:
    was = "it was not set" if old is None else f"was {old}"
    return f"set {WORKERS_KEY} to {new} ({was})"


def _env_workers(plan: FixPlan, value: Optional[str]) -> Optional[int]:
    """Return the worker count .env sets, or None after recording why the upstream is left alone."""
    workers_n = dograh_command(plan.directory, "workers", "N")
    if value is None:
        plan.skipped.append(f".env has no {WORKERS_KEY} line, so the upstream is left as it is; "
                            f"set the count with '{workers_n}'")
        return None
    try:
        return parse_workers(value, WORKERS_KEY)
    except InputError as exc:
        if value.strip().isdigit() and int(value) > MAX_WORKERS:
            plan.skipped.append(
                f".env: {WORKERS_KEY}={value} is above {MAX_WORKERS}, the most dograh supports, so the upstream "
                f"is left as it is; run '{dograh_command(plan.directory, 'workers', str(MAX_WORKERS))}', or "
                f"'{dograh_command(plan.directory, 'doctor', '--fix', '--from-nginx')}' to adopt nginx.conf's count")
        else:
            plan.skipped.append(f".env: {exc}; the upstream is left as it is. Set the count with '{workers_n}'")
        return None


def _plan_key_mode(plan: FixPlan) -> None:
    key = plan.directory / CERTS_DIR / KEY_NAME
    if key.is_file() and _mode(key) & 0o077:
        plan.add(_change(plan.directory, f"{CERTS_DIR}/{KEY_NAME}", None, PRIVATE_MODE,
                         [f"{CERTS_DIR}/{KEY_NAME}: readable by others; set to mode 0600"]))


def plan_fix(directory: Path, from_nginx: bool) -> FixPlan:
    """Plan every repair ``doctor --fix`` makes; see the editors for what each one touches.

    Secrets and certificates are never generated and POSTGRES_PASSWORD is
    never changed; a finding that needs either stays for the person.
    """
    env_path = require_install(directory)
    plan = FixPlan(directory)
    env_text = read_text(env_path)
    nginx_path = directory / NGINX_NAME
    nginx_text = read_text(nginx_path) if nginx_path.is_file() else None

    env_values: Dict[str, str] = {}
    workers: Optional[int] = None
    if from_nginx:
        if nginx_text is None:
            raise UsageError(f"{nginx_path} not found; --from-nginx needs it")
        workers = nginx_worker_count(directory, nginx_text)
        env_values[WORKERS_KEY] = str(workers)

    env_edit = edit_env.normalise_env(env_text, env_values)
    plan.skipped += env_edit.skipped
    env_mode = PRIVATE_MODE
    notes = list(env_edit.notes)
    old_workers = edit_env.effective_values(env_text)[0].get(WORKERS_KEY)
    if from_nginx and old_workers != env_values[WORKERS_KEY]:
        notes.append(f".env: {_set_workers_note(env_values[WORKERS_KEY], old_workers)}")
    if _mode(env_path) != PRIVATE_MODE:
        notes.append(f".env: set mode 0600 (was {_mode(env_path):04o}); it contains every secret")
    plan.add(_change(directory, ENV_NAME, env_edit.text, env_mode, notes))

    values, _ = edit_env.effective_values(env_edit.text)
    if workers is None:
        workers = _env_workers(plan, values.get(WORKERS_KEY))

    if nginx_text is not None:
        planned = _plan_nginx(plan, nginx_text, workers)
        if planned is None and from_nginx:
            # FASTAPI_WORKERS alone would contradict the upstream it was
            # taken from, a new error that the next --fix cannot repair.
            raise DograhError(
                f"--from-nginx changed nothing: it sets {WORKERS_KEY}={workers} only together with the matching "
                f"upstream, which it cannot write. {plan.skipped[-1]}")
    else:
        plan.skipped.append(f"{NGINX_NAME} is missing; restore it from a fresh install's nginx.conf")

    turn_path = directory / TURN_NAME
    if turn_path.is_file():
        turn_text, turn_notes = plan_turn_edits(read_text(turn_path), **_turn_inputs(plan, values))
        plan.add(_change(directory, TURN_NAME, turn_text, notes=turn_notes))
    else:
        plan.skipped.append(f"{TURN_NAME} is missing; restore it from a fresh install's turnserver.conf")

    _plan_key_mode(plan)
    plan_recreate(plan)
    return plan


def plan_recreate(plan: FixPlan) -> None:
    """Set the services a plan's .env and nginx.conf changes require recreating."""
    env_change = plan.change_for(ENV_NAME)
    nginx_change = plan.change_for(NGINX_NAME)
    keys = set()
    if env_change is not None and env_change.content_changed:
        keys = touched_keys(env_change.old.decode("utf-8"), env_change.new.decode("utf-8"))
    nginx_changed = nginx_change is not None and nginx_change.content_changed
    upstream_changed = nginx_changed and _upstream_text(nginx_change.old) != _upstream_text(nginx_change.new)
    plan.recreate = services_to_recreate(plan.directory, keys, nginx_changed, upstream_changed)


def _upstream_text(nginx_bytes: bytes) -> Optional[str]:
    """Return the lines of the ``upstream dograh_api`` block; None without one, or when nginx.conf does not parse."""
    text = nginx_bytes.decode("utf-8", errors="replace")
    try:
        upstream = parse_nginx_text(text).upstream()
    except NginxParseError:
        return None
    if upstream is None:
        return None
    return "\n".join(text.splitlines()[upstream.line - 1:upstream.end_line])


def plan_workers(directory: Path, workers: int) -> FixPlan:
    """Plan ``dograh workers N``: FASTAPI_WORKERS on its effective line and the upstream's server lines."""
    env_path = require_install(directory)
    nginx_path = directory / NGINX_NAME
    if not nginx_path.is_file():
        raise UsageError(f"{nginx_path} not found; restore it from a fresh install before changing the worker count")
    plan = FixPlan(directory)
    env_text = read_text(env_path)
    old_value = edit_env.effective_values(env_text)[0].get(WORKERS_KEY)
    env_notes = [] if old_value == str(workers) else [f".env: {_set_workers_note(str(workers), old_value)}"]
    new_env = env_text if old_value == str(workers) else edit_env.set_value(env_text, WORKERS_KEY, str(workers))
    plan.add(_change(directory, ENV_NAME, new_env, PRIVATE_MODE, env_notes))

    try:
        nginx_text, notes = set_upstream_workers(read_text(nginx_path), workers)
    except NginxParseError as exc:
        raise DograhError(f"nginx.conf cannot be parsed ({exc}); fix it first, "
                          f"'{dograh_command(directory, 'doctor')}' shows where") from None
    plan.add(_change(directory, NGINX_NAME, nginx_text, notes=notes))
    # The api may still run a count from before a hand edit of .env, so a
    # worker change recreates both, whichever file changed.
    plan.recreate = ["api", "nginx"] if plan.changes else []
    return plan

