"""``doctor --live`` against a real stand-in stack: uvicorn workers behind nginx over TLS.

Every test starts its own stack inside a private network namespace (see
tests/support/live_stack.py), so the fixed upstream ports 8000.. never
collide with other tests, and runs the checks inside the same namespace.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from dograh_installer.install import InstallSettings, run_install
from tests.conftest import EXAMPLE_IP, base_env
from tests.support.live_stack import NGINX_URL, ROOT, namespace_unavailable_reason, python_env, run_in_namespace

_NAMESPACE_PROBLEM = namespace_unavailable_reason()
pytestmark = pytest.mark.skipif(_NAMESPACE_PROBLEM is not None,
                                reason=f"needs a private network namespace: {_NAMESPACE_PROBLEM}")

FOUR = list(range(8000, 8004))


def make_install(directory: Path, workers: int, public_host: str = EXAMPLE_IP) -> Path:
    settings = InstallSettings(directory=directory, server_ip=EXAMPLE_IP, public_host=public_host, turn_secret=None,
                               workers=workers, enable_telemetry=False, force_turn_relay=False)
    run_install(settings, {}, lambda note: None)
    return directory


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def run_checks(stack_dir: Path, workers: List[int], check_dir: Optional[Path] = None, prefork: int = 0,
               kill_port: Optional[int] = None, kill_after: int = 0, stop_port: Optional[int] = None,
               **options) -> Dict[str, dict]:
    """Run run_live_checks in the stack's namespace; return the findings by id."""
    options.setdefault("url", NGINX_URL)
    options.setdefault("hold", 1.0)
    command = [sys.executable, "-m", "tests.live.run_checks", str(check_dir or stack_dir), json.dumps(options)]
    result = run_in_namespace(stack_dir, command, workers=workers, prefork=prefork, kill_port=kill_port,
                              kill_after=kill_after, stop_port=stop_port)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    return {finding["id"]: finding for finding in json.loads(result.stdout)["findings"]}


def errors(findings: Dict[str, dict]) -> List[str]:
    return sorted(key for key, finding in findings.items() if finding["status"] == "error")


def test_healthy_burst_then_sequential(tmp_path):
    install = make_install(tmp_path / "dograh", 4)
    findings = run_checks(install, FOUR, idle_check=2)
    assert errors(findings) == []
    assert findings["live.health"]["status"] == "ok"
    fanout = findings["live.fanout"]
    assert fanout["status"] == "ok"
    assert fanout["data"]["mode"] == "burst"
    assert fanout["data"]["connections"] == 16
    assert fanout["data"]["per_worker"] == {f"api:{port}": 4 for port in FOUR}
    assert "counts only its own connections" in fanout["message"]
    assert len(fanout["details"]) == 5
    sequential = findings["live.fanout.sequential"]
    assert sequential["status"] == "ok"
    assert sequential["data"]["concurrency"] == 1
    assert sequential["data"]["per_worker"] == {f"api:{port}": 4 for port in FOUR}
    assert findings["live.idle"]["status"] == "ok"
    assert findings["live.workers.processes"]["status"] == "skipped"


def test_healthy_sequential_spreads_evenly(tmp_path):
    install = make_install(tmp_path / "dograh", 4)
    findings = run_checks(install, FOUR, concurrency=1, connections=10)
    assert errors(findings) == []
    fanout = findings["live.fanout"]
    assert fanout["data"]["mode"] == "sequential"
    assert sorted(fanout["data"]["per_worker"].values()) == [2, 2, 3, 3]
    assert "live.fanout.spread" not in findings


def test_env_workers_missing_from_upstream(tmp_path):
    install = make_install(tmp_path / "dograh", 4)
    edit(install / ".env", "FASTAPI_WORKERS=4", "FASTAPI_WORKERS=6")
    findings = run_checks(install, list(range(8000, 8006)))
    idle = findings["live.fanout.idle_worker"]
    assert idle["status"] == "error"
    assert idle["data"]["unlisted_ports"] == [8004, 8005]
    assert idle["data"]["idle_upstream_ports"] == []
    assert "8004, 8005" in idle["message"]
    assert idle["fix"].endswith(f"dograh workers --dir {install} 6")
    assert "live.fanout.proxy_failure" not in findings


def test_upstream_lists_dead_workers(tmp_path):
    install = make_install(tmp_path / "dograh", 6)
    findings = run_checks(install, FOUR)
    idle = findings["live.fanout.idle_worker"]
    assert idle["data"]["idle_upstream_ports"] == [8004, 8005]
    failure = findings["live.fanout.proxy_failure"]
    assert failure["status"] == "error"
    assert set(failure["data"]["failed_upstreams"]) <= {"127.0.0.1:8004", "127.0.0.1:8005"}
    assert failure["data"]["failed_upstreams"]
    # FASTAPI_WORKERS=6 names these workers, so the configuration is right and the processes are not.
    for fix in (idle["fix"], failure["fix"]):
        assert fix.startswith("the API worker"), fix
        assert " not running: " in fix, fix
        assert f"cd {install} && docker compose --profile remote up -d --force-recreate api nginx" in fix
        assert "dograh workers" not in fix
    fanout = findings["live.fanout"]
    assert fanout["data"]["accepted"] == fanout["data"]["connections"] == 24
    assert all(fanout["data"]["per_worker"][f"api:{port}"] > 0 for port in FOUR)


def test_no_worker_running(tmp_path):
    install = make_install(tmp_path / "dograh", 4)
    findings = run_checks(install, [], connections=8)
    health = findings["live.health"]
    assert health["status"] == "error"
    assert health["data"]["status_code"] == 502
    failure = findings["live.fanout.proxy_failure"]
    assert failure["data"]["statuses"] == {"502": 8}
    # Every worker was tried and refused before max_fails marked it failed.
    assert {f"127.0.0.1:{port}" for port in FOUR} <= set(failure["data"]["failed_upstreams"])
    assert findings["live.fanout"]["data"]["accepted"] == 0
    # With nothing accepted, the proxy failure is the finding; no idle-worker finding repeats it.
    assert "live.fanout.idle_worker" not in findings


def test_probe_header_removed(tmp_path):
    install = make_install(tmp_path / "dograh", 4)
    edit(install / "nginx.conf", "        add_header X-Dograh-Upstream $dograh_probe_upstream always;\n", "")
    findings = run_checks(install, FOUR)
    assert findings["live.fanout.no_attribution"]["status"] == "warning"
    assert errors(findings) == []


def test_upgrade_headers_removed(tmp_path):
    install = make_install(tmp_path / "dograh", 4)
    edit(install / "nginx.conf", "        proxy_set_header Upgrade $http_upgrade;\n", "")
    edit(install / "nginx.conf", "        proxy_set_header Connection $connection_upgrade;\n", "")
    findings = run_checks(install, FOUR)
    no_upgrade = findings["live.fanout.no_upgrade"]
    assert no_upgrade["status"] == "error"
    assert "proxy_set_header Upgrade" in no_upgrade["message"]
    assert "HTTP 404" in no_upgrade["message"]
    assert findings["live.health"]["status"] == "ok"
    assert findings["live.fanout"]["data"]["accepted"] == 0


def test_api_rejects_handshakes(tmp_path):
    install = make_install(tmp_path / "dograh", 4)
    edit(install / ".env", "FASTAPI_WORKERS=4", "FASTAPI_WORKERS=5")
    findings = run_checks(install, list(range(8000, 8005)), ws_path="/api/v1/ws/private/call", connections=8,
                          concurrency=1)
    rejected = findings["live.fanout.rejected"]
    assert rejected["status"] == "warning"
    assert "HTTP 403 x8" in rejected["message"]
    fanout = findings["live.fanout"]
    assert fanout["data"]["held"] is False
    # Nothing is held, so least_conn has no open connections to balance and
    # the placement need not be even, but every handshake is attributed.
    placed = fanout["data"]["per_worker"]
    assert set(placed) == {f"api:{port}" for port in FOUR}
    assert sum(placed.values()) == 8
    assert len([count for count in placed.values() if count]) > 1
    assert "handshakes" in fanout["details"][0]
    # Placement alone still shows the worker nginx does not list.
    assert findings["live.fanout.idle_worker"]["data"]["unlisted_ports"] == [8004]
    assert "live.fanout.no_upgrade" not in findings


def test_worker_killed_during_hold(tmp_path):
    install = make_install(tmp_path / "dograh", 4)
    findings = run_checks(install, FOUR, kill_port=8001, kill_after=16, hold=3.0)
    dropped = findings["live.fanout.dropped"]
    assert dropped["status"] == "error"
    assert dropped["message"].startswith("burst pass: ")
    assert "port 8001: 4" in dropped["message"]
    assert dropped["data"]["dropped"] == 4
    assert f"cd {install} && docker compose --profile remote logs api" in dropped["fix"]
    burst = findings["live.fanout"]
    assert burst["data"]["accepted"] == 16
    assert burst["data"]["held_to_end"] == 12
    assert "so 12 were held to the end" in burst["message"]
    assert "accepted and held" not in burst["message"]
    # The sequential pass runs after the kill and finds the worker gone.
    idle = findings["live.fanout.idle_worker"]
    assert 8001 in idle["data"]["idle_upstream_ports"]
    assert "the API worker on port 8001 is not running" in idle["fix"]
    assert "dograh workers" not in idle["fix"]
    # The least_conn note is said once per run, not again for the sequential pass.
    assert "least_conn" in burst["message"]
    assert "least_conn" not in findings["live.fanout.sequential"]["message"]


def test_prefork_single_upstream(tmp_path):
    install = make_install(tmp_path / "dograh", 1)
    findings = run_checks(install, [], prefork=4, connections=64)
    prefork = findings["live.fanout.prefork"]
    assert prefork["status"] == "error"
    assert len(prefork["data"]["pids"]["8000"]) > 1
    assert "uvicorn --workers" in prefork["message"]


def test_run_bound_stops_stalled_handshake(tmp_path):
    # The paused worker accepts the TCP connection but never answers, so one
    # handshake would wait for its own 10 s limit; the run's bound is shorter.
    install = make_install(tmp_path / "dograh", 4)
    findings = run_checks(install, FOUR, stop_port=8003, hold=1.0, concurrency=16, connections=16, timeout=5)
    assert findings["live.fanout"]["status"] == "error"
    assert findings["live.fanout"]["message"] == "the fan-out check did not finish within 5 s"


def test_idle_timeout_too_short(tmp_path):
    install = make_install(tmp_path / "dograh", 4)
    edit(install / "nginx.conf", "proxy_read_timeout 3600s;", "proxy_read_timeout 2s;")
    findings = run_checks(install, FOUR, idle_check=4, connections=4, hold=0)
    idle = findings["live.idle"]
    assert idle["status"] == "error"
    assert "proxy_read_timeout" in idle["fix"]
    assert idle["data"]["closed_after_seconds"] < 4


def test_certificate_not_the_installs(tmp_path):
    served = make_install(tmp_path / "served", 4)
    other = make_install(tmp_path / "other", 4)
    findings = run_checks(served, FOUR, check_dir=other)
    certificate = findings["live.health.certificate"]
    assert certificate["status"] == "error"
    assert "not the install's" in certificate["message"]
    assert findings["live.fanout.certificate"]["status"] == "error"
    assert "live.fanout.handshake_error" not in findings


def test_certificate_not_for_public_host(tmp_path):
    install = make_install(tmp_path / "dograh", 4)
    edit(install / ".env", f"PUBLIC_HOST={EXAMPLE_IP}", "PUBLIC_HOST=dograh.example.test")
    findings = run_checks(install, FOUR)
    certificate = findings["live.health.certificate"]
    assert "not valid for PUBLIC_HOST dograh.example.test" in certificate["message"]


def test_unreachable_stack_is_one_finding(tmp_path):
    install = make_install(tmp_path / "dograh", 4)
    command = [sys.executable, "-m", "tests.live.run_checks", str(install), json.dumps({"url": NGINX_URL})]
    result = subprocess.run(["unshare", "-n", *command], cwd=ROOT, env=python_env(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    findings = {finding["id"]: finding for finding in json.loads(result.stdout)["findings"]}
    assert errors(findings) == ["live.unreachable"]
    assert "127.0.0.1:18443 cannot be reached" in findings["live.unreachable"]["message"]


def test_zipapp_doctor_live_json(tmp_path, pyz, shiv_root):
    install = make_install(tmp_path / "dograh", 4)
    command = [sys.executable, str(pyz), "doctor", "--live", "--json", "--dir", str(install), "--url", NGINX_URL,
               "--hold", "1", "--concurrency", "1"]
    result = run_in_namespace(install, ["env", *(f"{k}={v}" for k, v in base_env(shiv_root).items()), *command],
                              workers=FOUR)
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    live = {finding["id"]: finding for finding in report["findings"] if finding["id"].startswith("live.")}
    assert live["live.fanout"]["data"]["per_worker"] == {f"api:{port}": 4 for port in FOUR}
    assert live["live.health"]["status"] == "ok"
    assert result.returncode == 0, result.stdout
    for secret in re.findall(r"^(?:TURN_SECRET|OSS_JWT_SECRET|POSTGRES_PASSWORD)=(\S+)$",
                             (install / ".env").read_text(), re.M):
        assert secret not in result.stdout


def find_python39() -> Optional[str]:
    """Return a Python 3.9 that runs: DOGRAH_TEST_PYTHON39, else python3.9 on PATH."""
    for candidate in (os.environ.get("DOGRAH_TEST_PYTHON39"), shutil.which("python3.9")):
        if not candidate:
            continue
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 9))"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return candidate
    return None


PYTHON39 = find_python39()


@pytest.mark.skipif(PYTHON39 is None, reason="no Python 3.9 runs here; set DOGRAH_TEST_PYTHON39 to one")
def test_zipapp_doctor_live_on_python39(tmp_path, pyz, shiv_root):
    # The zipapp's libraries are resolved for 3.9, the oldest Python it supports.
    install = make_install(tmp_path / "dograh", 4)
    command = [PYTHON39, str(pyz), "doctor", "--live", "--json", "--dir", str(install),
               "--url", NGINX_URL, "--hold", "0", "--concurrency", "1"]
    env = base_env(shiv_root / "py39")
    result = run_in_namespace(install, ["env", *(f"{k}={v}" for k, v in env.items()), *command], workers=FOUR)
    assert "internal error" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    live = {finding["id"]: finding for finding in json.loads(result.stdout)["findings"]}
    assert live["live.health"]["status"] == "ok"
    assert live["live.fanout"]["data"]["accepted"] == 16


def test_zipapp_doctor_live_text_shows_table(tmp_path, pyz, shiv_root):
    install = make_install(tmp_path / "dograh", 4)
    edit(install / "nginx.conf", "    server api:8003 max_fails=3 fail_timeout=10s;\n", "")
    command = [sys.executable, str(pyz), "doctor", "--live", "--dir", str(install), "--url", NGINX_URL,
               "--hold", "1"]
    result = run_in_namespace(install, ["env", *(f"{k}={v}" for k, v in base_env(shiv_root).items()), *command],
                              workers=FOUR)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stdout
    # 16 connections (4 per FASTAPI_WORKERS) over the 3 listed workers.
    counts = [int(re.search(rf"^\s+api:{port}\s+(\d+)\b", result.stdout, re.M).group(1)) for port in (8000, 8001, 8002)]
    assert sorted(counts) == [5, 5, 6]
    assert "worker(s) on port 8003 that nginx's upstream does not list" in result.stdout
    # The fix names the install directory once and the FASTAPI_WORKERS count, ready to paste.
    assert f"workers --dir {install} 4\n" in result.stdout
    assert f"--dir {install} --dir" not in result.stdout
