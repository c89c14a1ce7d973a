"""Findings from fan-out handshakes, for cases a healthy stand-in stack does not produce."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from dograh_installer.live.fanout_probe import Handshake, split_upstream_header
from dograh_installer.live.fanout_report import FanoutPlan, build_findings, merge_later_pass
from dograh_installer.nginx_conf import parse_nginx_text, render_nginx_conf


INSTALL = Path("/srv/dograh")
LOGS = "cd /srv/dograh && docker compose --profile remote logs api"
RECREATE = "cd /srv/dograh && docker compose --profile remote up -d --force-recreate api nginx"


def plan_for(workers: int, connections: int, env_workers: Optional[int] = None) -> FanoutPlan:
    """Return a plan for an upstream of ``workers`` servers and FASTAPI_WORKERS=env_workers (default: the same)."""
    upstream = parse_nginx_text(render_nginx_conf(workers, "203.0.113.10")).upstream()
    env = workers if env_workers is None else env_workers
    return FanoutPlan(path="/api/v1/ws/probe", connections=connections, concurrency=connections, hold=1.0,
                      servers=upstream.servers, env_ports=[8000 + i for i in range(env)], upgrade_missing=[],
                      directory=INSTALL)


def accepted(*upstreams: str) -> List[Handshake]:
    return [Handshake(upstreams=split_upstream_header(value), status=101) for value in upstreams]


def assert_pasteable(fix: str) -> None:
    assert " N " not in f"{fix} "
    assert "dograh workers N" not in fix


def by_id(findings):
    return {finding.id: finding for finding in findings}


def test_upstream_header_lists_retries():
    assert split_upstream_header("172.18.0.5:8004, 172.18.0.5:8001") == ["172.18.0.5:8004", "172.18.0.5:8001"]
    assert split_upstream_header("10.0.0.2:8000 : 10.0.0.2:8001") == ["10.0.0.2:8000", "10.0.0.2:8001"]
    assert split_upstream_header("") == []


def test_uneven_spread_is_a_warning():
    results = accepted(*["172.18.0.5:8000"] * 5, "172.18.0.5:8001", "172.18.0.5:8002", "172.18.0.5:8003")
    findings = by_id(build_findings(plan_for(4, 8), results))
    spread = findings["live.fanout.spread"]
    assert spread.status == "warning"
    assert spread.data == {"max": 5, "min": 1}
    assert findings["live.fanout"].data["per_worker"]["api:8000"] == 5


def test_retried_upstream_is_a_proxy_failure():
    results = accepted("172.18.0.5:8003, 172.18.0.5:8000", "172.18.0.5:8001", "172.18.0.5:8002")
    findings = by_id(build_findings(plan_for(4, 3), results))
    failure = findings["live.fanout.proxy_failure"]
    assert failure.status == "error"
    assert failure.data["failed_upstreams"] == {"172.18.0.5:8003": 1}
    assert findings["live.fanout"].data["per_worker"]["api:8000"] == 1


def test_missing_probe_header_is_no_attribution():
    results = accepted("", "", "")
    findings = by_id(build_findings(plan_for(2, 3), results))
    assert findings["live.fanout.no_attribution"].status == "warning"
    assert findings["live.fanout.no_attribution"].fix.startswith("dograh doctor --dir /srv/dograh --fix ")
    assert "live.fanout.idle_worker" not in findings
    assert findings["live.fanout"].data["unattributed"] == 3


def test_gateway_errors_are_proxy_failures():
    results = [Handshake(upstreams=["172.18.0.5:8000"], status=502), Handshake(status=504)]
    findings = by_id(build_findings(plan_for(1, 2), results))
    failure = findings["live.fanout.proxy_failure"]
    assert failure.data["statuses"] == {"502": 1, "504": 1}
    assert "live.fanout.rejected" not in findings


def test_refused_worker_gets_a_process_fix():
    results = accepted("172.18.0.5:8003, 172.18.0.5:8000", "172.18.0.5:8001", "172.18.0.5:8002")
    failure = by_id(build_findings(plan_for(4, 3), results))["live.fanout.proxy_failure"]
    assert failure.fix.startswith("the API worker on port 8003 is not running: ")
    assert LOGS in failure.fix
    assert RECREATE in failure.fix
    assert "dograh workers" not in failure.fix


def test_idle_listed_worker_gets_a_process_fix():
    results = accepted("172.18.0.5:8000", "172.18.0.5:8001", "172.18.0.5:8002", "172.18.0.5:8000")
    idle = by_id(build_findings(plan_for(4, 4), results))["live.fanout.idle_worker"]
    assert idle.data["not_running_ports"] == [8003]
    assert idle.fix.startswith("the API worker on port 8003 is not running: ")
    assert RECREATE in idle.fix
    assert "dograh workers" not in idle.fix


def test_extra_upstream_ports_get_workers_count():
    # nginx lists 8000-8005, FASTAPI_WORKERS=4 runs 8000-8003.
    results = accepted("172.18.0.5:8004, 172.18.0.5:8000", "172.18.0.5:8005, 172.18.0.5:8001",
                       "172.18.0.5:8002", "172.18.0.5:8003")
    findings = by_id(build_findings(plan_for(6, 4, env_workers=4), results))
    for finding_id in ("live.fanout.proxy_failure", "live.fanout.idle_worker"):
        fix = findings[finding_id].fix
        assert fix == "make the upstream list the 4 worker(s) that FASTAPI_WORKERS=4 runs: " \
                      "dograh workers --dir /srv/dograh 4", fix
        assert_pasteable(fix)
    assert findings["live.fanout.idle_worker"].data["not_running_ports"] == []


def test_prefork_fix_names_the_process_count():
    results = [Handshake(upstreams=["172.18.0.5:8000"], status=101, worker_pid=str(pid)) for pid in (11, 12, 13, 11)]
    prefork = by_id(build_findings(plan_for(1, 4), results))["live.fanout.prefork"]
    assert prefork.fix.endswith("dograh workers --dir /srv/dograh 3")
    assert_pasteable(prefork.fix)


def test_closed_during_hold_is_not_called_held():
    results = accepted(*[f"172.18.0.5:{8000 + i % 4}" for i in range(8)])
    for result in results[:2]:
        result.dropped = True
    findings = by_id(build_findings(plan_for(4, 8), results))
    summary = findings["live.fanout"]
    assert "accepted and held" not in summary.message
    assert "8 of 8 connections to /api/v1/ws/probe accepted; 2 of them were closed by the stack during the " \
           "1 s hold, so 6 were held to the end" in summary.message
    assert summary.data["accepted"] == 8
    assert summary.data["held_to_end"] == 6
    assert findings["live.fanout.dropped"].data["dropped"] == 2


def test_all_held_says_held():
    summary = by_id(build_findings(plan_for(2, 2), accepted("172.18.0.5:8000", "172.18.0.5:8001")))["live.fanout"]
    assert "2 of 2 connections to /api/v1/ws/probe accepted and held 1 s." in summary.message
    assert summary.data["held_to_end"] == 2


def test_least_conn_note_once_per_run():
    notes: set = set()
    results = accepted("172.18.0.5:8000", "172.18.0.5:8001")
    first = by_id(build_findings(plan_for(2, 2), results, notes))["live.fanout"]
    second = by_id(build_findings(plan_for(2, 2), results, notes))["live.fanout"]
    assert "least_conn places new connections" in first.message
    assert "least_conn" not in second.message


def test_pids_column_only_with_pids():
    plain = by_id(build_findings(plan_for(2, 2), accepted("172.18.0.5:8000", "172.18.0.5:8001")))["live.fanout"]
    assert "pids" not in plain.details[0]
    with_pids = [Handshake(upstreams=[f"172.18.0.5:{port}"], status=101, worker_pid=str(port - 7000))
                 for port in (8000, 8001)]
    shown = by_id(build_findings(plan_for(2, 2), with_pids))["live.fanout"]
    assert shown.details[0].endswith("pids")
    assert shown.details[1].split()[-1] == "1000"


def test_later_pass_widens_the_fix():
    # 8003 refused in the burst pass; 8001 died before the sequential pass.
    plan = plan_for(4, 3)
    burst = by_id(build_findings(plan, accepted("172.18.0.5:8003, 172.18.0.5:8000", "172.18.0.5:8001",
                                                "172.18.0.5:8002")))
    sequential = by_id(build_findings(plan, accepted("172.18.0.5:8001, 172.18.0.5:8000", "172.18.0.5:8002",
                                                     "172.18.0.5:8000")))
    for finding_id in ("live.fanout.proxy_failure", "live.fanout.idle_worker"):
        merge_later_pass(burst[finding_id], sequential[finding_id], plan)
        merged = burst[finding_id]
        assert merged.details[-1] == sequential[finding_id].message
        assert merged.fix.startswith("the API workers on port 8001, 8003 are not running: "), merged.fix
