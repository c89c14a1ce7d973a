""".env checks: required keys, the worker count, and what compose reads but an editor does not show."""

from __future__ import annotations

import re
from typing import List, Optional

from dograh_installer.doctor.dograh_command import dograh_command
from dograh_installer.doctor.install_files import InstallFiles
from dograh_installer.envfile import ENV_KEYS
from dograh_installer.findings import ERROR, OK, WARNING, Finding
from dograh_installer.inputs import MAX_WORKERS
from dograh_installer.nginx_conf import UPSTREAM_NAME

GROUP = ".env"
# A $ that compose expands: $NAME, ${...}, $$, and $( or $1, which compose
# releases treat differently. A $ before other characters stays literal.
_REFERENCE_START = re.compile(r"\$[A-Za-z0-9_{($]")


def _lines(numbers: List[int]) -> str:
    return ", ".join(str(number) for number in numbers)


def parse_workers(value: Optional[str]) -> Optional[int]:
    """Return FASTAPI_WORKERS as an integer from 1 to MAX_WORKERS, or None when it is not one."""
    if value is None or not value.strip().isdigit():
        return None
    workers = int(value.strip())
    return workers if 0 < workers <= MAX_WORKERS else None


def _workers_finding(files: InstallFiles, raw_workers: str) -> Finding:
    if raw_workers.strip().isdigit() and int(raw_workers.strip()) > MAX_WORKERS:
        # dograh workers accepts at most MAX_WORKERS, so the fix names a count it accepts.
        adopt = dograh_command(files.directory, "doctor", "--fix", "--from-nginx")
        return Finding(
            "env.workers", ERROR,
            f"FASTAPI_WORKERS={raw_workers.strip()} is above {MAX_WORKERS}, the most dograh supports: "
            f"the upstream checks cannot run and 'dograh workers' rejects this count",
            f"{dograh_command(files.directory, 'workers', str(MAX_WORKERS))}, or {adopt} to adopt the count "
            f"of upstream {UPSTREAM_NAME}", GROUP)
    return Finding(
        "env.workers", ERROR,
        f"FASTAPI_WORKERS={raw_workers!r} is not a positive integer: the api cannot start its workers",
        f"{dograh_command(files.directory, 'workers', 'N')} (N from 1 to {MAX_WORKERS})", GROUP)


def check_env(files: InstallFiles) -> List[Finding]:
    env = files.env
    findings: List[Finding] = []

    if env.error_lines:
        findings.append(Finding(
            "env.syntax", ERROR,
            f".env line(s) {_lines(env.error_lines)} are not KEY=VALUE bindings: compose rejects the file",
            "edit those lines into KEY=VALUE form or remove them", GROUP, data={"lines": env.error_lines}))
    else:
        findings.append(Finding("env.syntax", OK, "every line of .env is a comment or a KEY=VALUE binding",
                                group=GROUP))

    missing = [key for key in ENV_KEYS if not files.values.get(key)]
    if missing:
        findings.append(Finding(
            "env.keys", ERROR,
            f".env lacks {', '.join(missing)} (or leaves it empty): compose passes an empty value to the services",
            f"add {', '.join(missing)} to .env, each as KEY=value",
            GROUP, data={"missing": missing}))
    else:
        findings.append(Finding("env.keys", OK, f"all {len(ENV_KEYS)} keys of a remote install are set", group=GROUP))

    raw_workers = files.values.get("FASTAPI_WORKERS")
    if raw_workers is not None and parse_workers(raw_workers) is None:
        findings.append(_workers_finding(files, raw_workers))
    elif raw_workers is not None:
        findings.append(Finding("env.workers", OK, f"FASTAPI_WORKERS={raw_workers.strip()}", group=GROUP))

    findings.extend(_invisible(files))
    return findings


def _invisible(files: InstallFiles) -> List[Finding]:
    """Report what changes compose's reading of .env but does not show in an editor."""
    env = files.env
    findings: List[Finding] = []
    fix = dograh_command(files.directory, "doctor", "--fix")

    if env.has_bom:
        findings.append(Finding(
            "env.bom", WARNING,
            ".env starts with a UTF-8 byte-order mark, which editors hide: a reader that does not strip it "
            "takes it as part of the first line",
            fix, GROUP))
    else:
        findings.append(Finding("env.bom", OK, ".env has no byte-order mark", group=GROUP))

    if env.has_crlf:
        findings.append(Finding(
            "env.crlf", ERROR,
            ".env has CRLF (Windows) line endings: compose can keep the \\r at the end of each value, "
            "so FASTAPI_WORKERS, hosts and secrets no longer match",
            fix, GROUP))
    else:
        findings.append(Finding("env.crlf", OK, ".env has LF line endings", group=GROUP))

    duplicates = env.duplicates()
    if duplicates:
        for key, lines in duplicates.items():
            findings.append(Finding(
                "env.duplicate_key", WARNING,
                f"{key} is set on lines {_lines(lines)}: compose uses line {lines[-1]}, "
                f"so an edit to line {lines[0]} has no effect",
                f"{fix} (keeps line {lines[-1]}), or delete all but one {key} line", GROUP,
                data={"key": key, "lines": lines}))
    else:
        findings.append(Finding("env.duplicate_key", OK, "no key is set twice in .env", group=GROUP))

    interpolated = [binding for binding in env.bindings if binding.interpolated()]
    if interpolated:
        for binding in interpolated:
            if _REFERENCE_START.search(binding.value or ""):
                consequence = ("compose replaces $NAME or ${NAME} with another variable's value, so the "
                               "services get a different value than the file shows")
                dollar_fix = f"decide which value {binding.key} should have and write it in single quotes in .env"
            else:
                consequence = ("compose keeps this one as written, but expands any '$' that a name "
                               "follows, so an edit can change the value unnoticed")
                dollar_fix = f"{fix} (puts {binding.key} in single quotes)"
            findings.append(Finding(
                "env.dollar", WARNING,
                f"{binding.key} (line {binding.line}) contains '$' outside single quotes: {consequence}",
                dollar_fix, GROUP, data={"key": binding.key, "line": binding.line}))
    else:
        findings.append(Finding("env.dollar", OK, "no value contains a '$' that compose would interpolate",
                                group=GROUP))
    return findings
