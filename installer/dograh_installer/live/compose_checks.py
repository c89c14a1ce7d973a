"""The two worker checks that read the api container through ``docker compose``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import List, Optional, Tuple

from dograh_installer.docker_compose import compose_argv, engine_unavailable_reason, shell_command
from dograh_installer.findings import ERROR, OK, SKIPPED, Finding
from dograh_installer.live import commands
from dograh_installer.live.compose_output import parse_top, running_ports, uvicorn_layout

GROUP = "live"
TOP_ID = "live.workers.processes"
LOGS_ID = "live.workers.logs"


def skipped_findings(reason: str) -> List[Finding]:
    return [
        Finding(id=TOP_ID, status=SKIPPED, group=GROUP, message=f"uvicorn processes not counted: {reason}"),
        Finding(id=LOGS_ID, status=SKIPPED, group=GROUP, message=f"api logs not read: {reason}"),
    ]


async def _run(directory: Path, argv: List[str], timeout: float) -> Tuple[Optional[str], str]:
    """Run ``argv``; return (stdout, "") or (None, why it failed)."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=str(directory), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        return None, f"'{shell_command(argv)}' could not start: {exc}"
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        return None, f"'{shell_command(argv)}' timed out after {timeout:g} s"
    if process.returncode != 0:
        last = (stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        return None, f"'{shell_command(argv)}' failed: {last}"
    return stdout.decode(errors="replace"), ""


def _port_difference(expected: List[int], found: List[int]) -> str:
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    parts = []
    if missing:
        parts.append("missing port " + ", ".join(map(str, missing)))
    if extra:
        parts.append("extra port " + ", ".join(map(str, extra)))
    return "; ".join(parts)


def evaluate_top(text: str, expected_ports: List[int], directory: Path) -> Finding:
    layout = uvicorn_layout(parse_top(text))
    workers = len(expected_ports)
    if layout.prefork_children:
        children = sum(len(found) for found in layout.prefork_children.values())
        return Finding(
            id=TOP_ID, status=ERROR, group=GROUP,
            data={"servers": len(layout.servers), "prefork_workers": children},
            message=f"the api container runs uvicorn --workers (pre-fork, {children} worker process(es) behind "
                    f"{len(layout.prefork_children)} port(s)): the kernel, not nginx's least_conn, places "
                    "WebSockets, and they pile up on a few processes",
            fix="run one single-process uvicorn per port (the Dograh image does this for FASTAPI_WORKERS), "
                "then " + commands.recreate(directory),
        )
    ports = [port for port in layout.ports() if port is not None]
    data = {"uvicorn_processes": len(layout.servers), "ports": sorted(ports), "expected": workers}
    difference = _port_difference(expected_ports, ports)
    if len(layout.servers) != workers or difference:
        return Finding(
            id=TOP_ID, status=ERROR, group=GROUP, data=data,
            message=f"the api container runs {len(layout.servers)} uvicorn process(es), FASTAPI_WORKERS is "
                    f"{workers}" + (f" ({difference})" if difference else ""),
            fix=commands.recreate(directory),
        )
    return Finding(id=TOP_ID, status=OK, group=GROUP, data=data,
                   message=f"{workers} uvicorn process(es) in the api container, matching FASTAPI_WORKERS={workers}")


def evaluate_logs(text: str, expected_ports: List[int], directory: Path) -> Finding:
    ports = sorted(running_ports(text))
    data = {"ports": ports, "expected": len(expected_ports)}
    difference = _port_difference(expected_ports, ports)
    if difference:
        return Finding(
            id=LOGS_ID, status=ERROR, group=GROUP, data=data,
            message=f"the api logs show 'Uvicorn running' for {len(ports)} port(s), FASTAPI_WORKERS is "
                    f"{len(expected_ports)} ({difference})",
            fix=f"{commands.recreate(directory)}, then read '{commands.api_logs(directory)}' for workers that "
                "failed",
        )
    return Finding(id=LOGS_ID, status=OK, group=GROUP, data=data,
                   message=f"the api logs show 'Uvicorn running' on every expected port ({len(ports)})")


async def check_compose_workers(directory: Path, expected_ports: List[int], timeout: float) -> List[Finding]:
    reason = await asyncio.get_running_loop().run_in_executor(None, engine_unavailable_reason)
    if reason is not None:
        return skipped_findings(reason)
    (top, top_error), (logs, logs_error) = await asyncio.gather(
        _run(directory, compose_argv("top", "api"), timeout),
        _run(directory, compose_argv("logs", "--no-color", "api"), timeout),
    )
    findings = []
    if top is None:
        findings.append(Finding(id=TOP_ID, status=ERROR, group=GROUP, message=top_error))
    else:
        findings.append(evaluate_top(top, expected_ports, directory))
    if logs is None:
        findings.append(Finding(id=LOGS_ID, status=ERROR, group=GROUP, message=logs_error))
    else:
        findings.append(evaluate_logs(logs, expected_ports, directory))
    return findings
