"""coturn's turnserver.conf against TURN_SECRET and SERVER_IP in .env."""

from __future__ import annotations

import hmac
from typing import List

from dograh_installer.doctor.dograh_command import dograh_command
from dograh_installer.doctor.install_files import InstallFiles
from dograh_installer.envfile import interpolate
from dograh_installer.findings import ERROR, OK, SKIPPED, Finding
from dograh_installer.turn_conf import last_value

GROUP = "TURN"


def check_turn(files: InstallFiles) -> List[Finding]:
    options = files.turn
    if files.turn_unreadable:
        return [Finding(
            "turn.readable", SKIPPED,
            "turnserver.conf is not readable by this user (a root install gives it to coturn's group), "
            "so the TURN checks did not run",
            f"sudo {dograh_command(files.directory, 'doctor')}", GROUP)]
    if options is None:
        return []
    findings: List[Finding] = []
    doctor = dograh_command(files.directory, "doctor")
    fix = dograh_command(files.directory, "doctor", "--fix")

    if last_value(options, "use-auth-secret") is None:
        findings.append(Finding(
            "turn.use_auth_secret", ERROR,
            "turnserver.conf lacks use-auth-secret: coturn ignores static-auth-secret and rejects the "
            "time-limited credentials the API hands out",
            f"{fix}, or add the line 'use-auth-secret' to turnserver.conf", GROUP))
    else:
        findings.append(Finding("turn.use_auth_secret", OK, "use-auth-secret is set", group=GROUP))

    secret = last_value(options, "static-auth-secret")
    # The secret the api receives: compose expands a $ outside single quotes.
    expected = interpolate(files.env, "TURN_SECRET")
    if expected:
        # Both values stay out of every message; compare_digest keeps the comparison constant-time.
        if secret is None or not secret.value:
            findings.append(Finding(
                "turn.secret", ERROR,
                "turnserver.conf sets no static-auth-secret: WebRTC calls relayed through TURN fail",
                fix, GROUP))
        elif not hmac.compare_digest(secret.value.encode("utf-8"), expected.encode("utf-8")):
            binding = files.env.effective("TURN_SECRET")
            expanded = binding is not None and binding.interpolated()
            source = "TURN_SECRET as compose expands its '$'" if expanded else "TURN_SECRET in .env"
            secret_fix = (f"write TURN_SECRET in single quotes in .env, then run {doctor} again" if expanded
                          else f"{fix} (copies TURN_SECRET into turnserver.conf)")
            findings.append(Finding(
                "turn.secret", ERROR,
                f"static-auth-secret (turnserver.conf line {secret.line}) differs from {source}: "
                "coturn rejects the credentials the API hands out, so calls relayed through TURN fail",
                secret_fix, GROUP))
        else:
            findings.append(Finding("turn.secret", OK, "static-auth-secret equals TURN_SECRET", group=GROUP))

    external = last_value(options, "external-ip")
    server_ip = files.values.get("SERVER_IP")
    if server_ip:
        # coturn accepts "public/private" for a server behind 1:1 NAT; the public part must match.
        public = external.value.split("/")[0].strip() if external is not None and external.value else None
        if public != server_ip:
            configured = f"external-ip={public}" if public else "no external-ip"
            findings.append(Finding(
                "turn.external_ip", ERROR,
                f"turnserver.conf has {configured}, but SERVER_IP={server_ip}: coturn hands clients relay "
                "addresses they cannot reach",
                f"{fix} (sets external-ip={server_ip})", GROUP))
        else:
            findings.append(Finding("turn.external_ip", OK, f"external-ip={server_ip}", group=GROUP))
    return findings
