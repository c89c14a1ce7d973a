"""Validation of install inputs; every error names the variable and the rule."""

from __future__ import annotations

import ipaddress
import re
from typing import List

from dograh_installer.errors import InputError

MIN_WORKERS = 1
MAX_WORKERS = 64
DEFAULT_WORKERS = 4
MIN_SECRET_LENGTH = 16
# Above this, the stack's guidance is to profile the workload first.
PROFILE_FIRST_WORKERS = 8
# Rough per-worker memory and the base for postgres, redis and minio.
WORKER_MEMORY_BYTES = 500 * 1024**2
BASE_MEMORY_BYTES = 2 * 1024**3

_NON_PUBLIC_NETWORKS = [
    ipaddress.IPv4Network(net)
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10")
]
# Ranges no browser on the public internet reaches: documentation (RFC 5737)
# and the reserved 240.0.0.0/4 (RFC 1112).
_UNREACHABLE_NETWORKS = [
    (ipaddress.IPv4Network("192.0.2.0/24"), "reserved for documentation (RFC 5737)"),
    (ipaddress.IPv4Network("198.51.100.0/24"), "reserved for documentation (RFC 5737)"),
    (ipaddress.IPv4Network("203.0.113.0/24"), "reserved for documentation (RFC 5737)"),
    (ipaddress.IPv4Network("240.0.0.0/4"), "reserved for future use (RFC 1112)"),
]
_DOTTED_QUAD = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}")
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_WORKERS = re.compile(r"[0-9]+")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_server_ip(value: str, variable: str = "SERVER_IP") -> ipaddress.IPv4Address:
    """Return the address for a dotted IPv4 string, or raise InputError."""
    if value == "":
        raise InputError(variable, "is empty; set it to this server's public IPv4 address, e.g. 203.0.113.10")
    if value != value.strip():
        raise InputError(variable, f"{value!r} has leading or trailing whitespace; remove it")
    if ":" in value:
        raise InputError(variable, f"{value!r} looks like an IPv6 address; only dotted IPv4 (a.b.c.d) is supported")
    if not _DOTTED_QUAD.fullmatch(value):
        raise InputError(variable, f"{value!r} is not a dotted IPv4 address of four numbers (a.b.c.d)")
    octets = value.split(".")
    for octet in octets:
        if int(octet) > 255:
            raise InputError(variable, f"{value!r} has the octet {octet}, but each octet must be 0-255")
        if len(octet) > 1 and octet.startswith("0"):
            raise InputError(variable, f"{value!r} has the octet {octet} with a leading zero; write it without")
    address = ipaddress.IPv4Address(value)
    if address.is_unspecified or address.is_multicast or address == ipaddress.IPv4Address("255.255.255.255"):
        raise InputError(variable, f"{value} cannot be a server's address; use the IPv4 address clients connect to")
    return address


def server_ip_warnings(address: ipaddress.IPv4Address) -> List[str]:
    for network in _NON_PUBLIC_NETWORKS:
        if address in network:
            return [
                f"SERVER_IP {address} is in the non-public range {network}: browsers outside that "
                "network will not reach it, and the certificate will be self-signed"
            ]
    for network, purpose in _UNREACHABLE_NETWORKS:
        if address in network:
            return [
                f"SERVER_IP {address} is in {network}, {purpose}: no browser will reach it; "
                "use this server's public IPv4 address for a real install"
            ]
    return []


def parse_public_host(value: str, server_ip: str) -> str:
    """Return a lower-case host name or IPv4 address for PUBLIC_HOST."""
    if value == "":
        return server_ip
    if value != value.strip():
        raise InputError("PUBLIC_HOST", f"{value!r} has leading or trailing whitespace; remove it")
    if _DOTTED_QUAD.fullmatch(value):
        return str(parse_server_ip(value, "PUBLIC_HOST"))
    host = value.lower().rstrip(".")
    if "://" in host or "/" in host or ":" in host:
        raise InputError("PUBLIC_HOST", f"{value!r} must be a bare host name such as dograh.example.com, without scheme, port or path")
    labels = host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise InputError("PUBLIC_HOST", f"{value!r} is not a valid DNS host name (letters, digits and '-' per label)")
    if labels[-1].isdigit():
        raise InputError("PUBLIC_HOST", f"{value!r} ends in a numeric label; use a DNS name or a dotted IPv4 address")
    return host


def check_turn_secret(value: str) -> str:
    """Reject a TURN secret that would not survive .env, turnserver.conf or a shell.

    The messages describe the rule that failed, never the secret itself.
    """
    rules = [
        (lambda c: c.isspace(), "contains whitespace"),
        (lambda c: c in "'\"`", "contains a quote character"),
        (lambda c: c == "$", "contains '$', which docker compose would interpolate"),
        (lambda c: c == "#", "contains '#', which starts a comment in .env and turnserver.conf"),
        (lambda c: c == "\\", "contains a backslash"),
        (lambda c: ord(c) < 32 or ord(c) == 127, "contains a control character"),
        (lambda c: not c.isascii() or not c.isprintable(), "contains a non-ASCII character"),
    ]
    for matches, reason in rules:
        if any(matches(char) for char in value):
            raise InputError("TURN_SECRET", f"the given secret {reason}; leave TURN_SECRET empty to generate one")
    if len(value) < MIN_SECRET_LENGTH:
        raise InputError(
            "TURN_SECRET",
            f"the given secret is {len(value)} characters long, but at least {MIN_SECRET_LENGTH} are required; "
            "leave TURN_SECRET empty to generate one",
        )
    return value


def parse_workers(value: str, variable: str = "FASTAPI_WORKERS") -> int:
    if value != value.strip():
        raise InputError(variable, f"{value!r} has leading or trailing whitespace; remove it")
    if value.startswith("-") and _WORKERS.fullmatch(value[1:]):
        raise InputError(variable, f"{value} is out of range; use an integer from {MIN_WORKERS} to {MAX_WORKERS}")
    if not _WORKERS.fullmatch(value):
        raise InputError(
            variable, f"{value!r} is not a whole number; use an integer from {MIN_WORKERS} to {MAX_WORKERS}"
        )
    workers = int(value)
    if not MIN_WORKERS <= workers <= MAX_WORKERS:
        raise InputError(variable, f"{workers} is out of range; use an integer from {MIN_WORKERS} to {MAX_WORKERS}")
    return workers


def worker_warnings(workers: int, cpu_count: int, memory_bytes: int) -> List[str]:
    """Return the sizing warnings for ``workers`` on a machine of this size."""
    warnings = []
    if cpu_count and workers > cpu_count:
        warnings.append(
            f"FASTAPI_WORKERS={workers} is more than the {cpu_count} vCPUs of this machine; "
            "one worker per vCPU is a safe start"
        )
    if workers > PROFILE_FIRST_WORKERS:
        warnings.append(
            f"FASTAPI_WORKERS={workers} is above {PROFILE_FIRST_WORKERS}: profile your workload first"
        )
    needed = workers * WORKER_MEMORY_BYTES + BASE_MEMORY_BYTES
    if memory_bytes and needed > memory_bytes:
        warnings.append(
            f"FASTAPI_WORKERS={workers} needs about {needed / 1024**3:.1f} GiB "
            f"({workers} x 500 MB + 2 GB for postgres, redis and minio), but this machine has "
            f"{memory_bytes / 1024**3:.1f} GiB; lower the worker count if the API runs out of memory"
        )
    return warnings


def parse_bool(value: str, variable: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InputError(variable, f"{value!r} is not a boolean; use true or false")
