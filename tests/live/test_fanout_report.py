"""Findings from fan-out handshakes, for cases a healthy stand-in stack does not produce."""

from __future__ import annotations

from typing import List

from dograh_installer.live.fanout_probe import Handshake, split_upstream_header
from dograh_installer.live.fanout_report import FanoutPlan, build_findings
from dograh_installer.nginx_conf import parse_nginx_text, render_nginx_conf


def plan_for(workers: int, connections: int) -> FanoutPlan:
    upstream = parse_nginx_text(render_nginx_conf(workers, "203.0.113.10")).upstream()
    return FanoutPlan(path="/api/v1/ws/probe", connections=connections, concurrency=connections, hold=1.0,
                      servers=upstream.servers, env_ports=[8000 + i for i in range(workers)], upgrade_missing=[])


def accepted(*upstreams: str) -> List[Handshake]:
    return [Handshake(upstreams=split_upstream_header(value), status=101) for value in upstreams]


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
    assert "doctor --fix" in findings["live.fanout.no_attribution"].fix
    assert "live.fanout.idle_worker" not in findings
    assert findings["live.fanout"].data["unattributed"] == 3


def test_gateway_errors_are_proxy_failures():
    results = [Handshake(upstreams=["172.18.0.5:8000"], status=502), Handshake(status=504)]
    findings = by_id(build_findings(plan_for(1, 2), results))
    failure = findings["live.fanout.proxy_failure"]
    assert failure.data["statuses"] == {"502": 1, "504": 1}
    assert "live.fanout.rejected" not in findings
