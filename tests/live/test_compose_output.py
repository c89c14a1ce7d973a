"""The docker compose parts of ``doctor --live`` against output in the layout compose prints.

The files under tests/fixtures/compose are described in their README: the
exact layouts of ``docker compose top`` (both releases) and ``logs``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dograh_installer.findings import ERROR, OK, SKIPPED
from dograh_installer.live.compose_checks import check_compose_workers, evaluate_logs, evaluate_top
from dograh_installer.live.compose_output import parse_top, running_ports, uvicorn_layout
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "compose"
FOUR_PORTS = [8000, 8001, 8002, 8003]
INSTALL = Path("/srv/dograh install")


def read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["top-per-container-4-workers.txt", "top-table-4-workers.txt"])
def test_top_parses_both_layouts(name):
    processes = parse_top(read(name))
    assert len(processes) == 8
    assert processes[0].pid == 24811
    assert processes[0].command == "/bin/bash /app/scripts/start_services.sh"
    assert processes[-1].ppid == 24811
    assert processes[-1].command.endswith("--port 8003")
    assert {process.container for process in processes} == {"dograh-api-1" if "per-container" in name else "api-1"}


def test_top_layouts_give_same_processes():
    old = parse_top(read("top-per-container-4-workers.txt"))
    new = parse_top(read("top-table-4-workers.txt"))
    assert [(p.pid, p.ppid, p.command) for p in old] == [(p.pid, p.ppid, p.command) for p in new]


def test_uvicorn_layout_counts_one_server_per_port():
    layout = uvicorn_layout(parse_top(read("top-table-4-workers.txt")))
    assert layout.ports() == FOUR_PORTS
    assert layout.prefork_children == {}


@pytest.mark.parametrize("name", ["top-per-container-4-workers.txt", "top-table-4-workers.txt"])
def test_top_matching_workers_is_ok(name):
    finding = evaluate_top(read(name), FOUR_PORTS, INSTALL)
    assert finding.status == OK, finding.message
    assert finding.data["uvicorn_processes"] == 4


def test_top_names_missing_port():
    finding = evaluate_top(read("top-table-3-of-4-workers.txt"), FOUR_PORTS, INSTALL)
    assert finding.status == ERROR
    assert "runs 3 uvicorn process(es)" in finding.message
    assert "missing port 8002" in finding.message


def test_top_names_extra_port():
    finding = evaluate_top(read("top-table-4-workers.txt"), [8000, 8001, 8002], INSTALL)
    assert finding.status == ERROR
    assert "extra port 8003" in finding.message


@pytest.mark.parametrize("name", ["top-per-container-prefork.txt", "top-table-prefork.txt"])
def test_top_recognises_prefork(name):
    layout = uvicorn_layout(parse_top(read(name)))
    assert len(layout.servers) == 1
    # The resource tracker is a child of uvicorn too, but not a worker.
    assert [len(children) for children in layout.prefork_children.values()] == [4]
    finding = evaluate_top(read(name), FOUR_PORTS, INSTALL)
    assert finding.status == ERROR
    assert "uvicorn --workers" in finding.message
    assert finding.data["prefork_workers"] == 4


def test_logs_ports_from_running_lines():
    assert running_ports(read("logs-4-workers.txt")) == set(FOUR_PORTS)
    assert running_ports(read("logs-container-name-3-of-4-workers.txt")) == {8000, 8001, 8003}


def test_logs_matching_workers_is_ok():
    assert evaluate_logs(read("logs-4-workers.txt"), FOUR_PORTS, INSTALL).status == OK


def test_logs_name_missing_port():
    finding = evaluate_logs(read("logs-container-name-3-of-4-workers.txt"), FOUR_PORTS, INSTALL)
    assert finding.status == ERROR
    assert "missing port 8002" in finding.message
    # The commands paste from any directory: each starts in the install directory.
    assert finding.fix.count("cd '/srv/dograh install' && docker compose --profile remote") == 2


def test_compose_checks_skipped_without_docker(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    findings = asyncio.run(check_compose_workers(tmp_path, FOUR_PORTS, 5))
    assert [finding.status for finding in findings] == [SKIPPED, SKIPPED]
    assert all("docker is not installed" in finding.message for finding in findings)
