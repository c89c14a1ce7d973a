"""Benchmark of the live fan-out check against the loopback stand-in stack.

Measures, inside a private network namespace (tests/support/live_stack.py):
  1. the fan-out check with CONNECTIONS concurrent WebSockets over WORKERS
     workers through nginx: wall time, peak RSS of the checking process, and
     the connections each worker received;
  2. the spread of 200 held WebSockets over 4 workers behind nginx least_conn,
     next to one upstream line pointing at ``uvicorn --workers 4`` (pre-fork),
     where the kernel places the connections.

Run from the repository root:  python3 bench/bench_fanout.py [--connections 1000 --workers 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "installer")]

EXAMPLE_IP = "203.0.113.10"


def resident_mb() -> float:
    """Return this process's current resident set size (VmRSS) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def measure_inside(directory: str, options_json: str) -> int:
    """Run the live checks once in this process and print wall time, peak RSS and the fan-out data."""
    from dograh_installer.live import run_live_checks
    from dograh_installer.live.options import LiveOptions

    import httpx  # noqa: F401  (loaded before the baseline, as the check loads it)
    import websockets  # noqa: F401

    baseline_mb = resident_mb()
    started = time.monotonic()
    findings = run_live_checks(Path(directory), LiveOptions(**json.loads(options_json)))
    wall = time.monotonic() - started
    fanout = next(finding for finding in findings if finding.id == "live.fanout")
    print(json.dumps({
        "wall_seconds": round(wall, 2),
        # ru_maxrss is in kilobytes on Linux.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "baseline_rss_mb": baseline_mb,
        "fanout": fanout.data,
        "details": fanout.details,
        "problems": [f"{finding.id}: {finding.message}" for finding in findings
                     if finding.status in ("error", "warning")],
    }))
    return 0


def make_install(directory: Path, workers: int) -> Path:
    from dograh_installer.install import InstallSettings, run_install

    run_install(InstallSettings(directory=directory, server_ip=EXAMPLE_IP, public_host=EXAMPLE_IP, turn_secret=None,
                                workers=workers, enable_telemetry=False, force_turn_relay=False), {}, lambda note: None)
    return directory


def run_case(directory: Path, options: dict, workers=(), prefork: int = 0) -> dict:
    from tests.support.live_stack import NGINX_URL, run_in_namespace

    options = {"url": NGINX_URL, **options}
    command = [sys.executable, str(Path(__file__).resolve()), "--inside", str(directory), json.dumps(options)]
    result = run_in_namespace(directory, command, workers=workers, prefork=prefork, timeout=900)
    if result.returncode != 0:
        raise SystemExit(f"benchmark case failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def spread_text(counts) -> str:
    counts = sorted(counts, reverse=True)
    return "/".join(map(str, counts)) + f" (max-min {counts[0] - counts[-1]})"


def pid_counts(details) -> list:
    """Return the connections per PID from the pre-fork row of the table ("PID xN, ...")."""
    row = details[1]
    return [int(part.split(" x")[1]) for part in row.split("  ")[-1].split(", ")]


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--inside":
        return measure_inside(sys.argv[2], sys.argv[3])
    parser = argparse.ArgumentParser(description="Benchmark the doctor --live fan-out check on loopback.")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--hold", type=float, default=3.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dograh-bench-fanout-") as tmp:
        base = Path(tmp)
        big = make_install(base / "big", args.workers)
        ports = list(range(8000, 8000 + args.workers))
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
              f"1-minute load average {os.getloadavg()[0]:.1f}")

        for label, concurrency in (("burst", args.connections), ("sequential", 1)):
            result = run_case(big, {"connections": args.connections, "concurrency": concurrency,
                                    "hold": args.hold}, workers=ports)
            fanout = result["fanout"]
            print(f"{args.connections} WebSockets over {args.workers} workers, {label}: "
                  f"{result['wall_seconds']} s wall including the {args.hold:g} s hold, {result['peak_rss_mb']} MB peak "
                  f"RSS ({result['baseline_rss_mb']} MB before the check), "
                  f"{fanout['accepted']} accepted, spread {spread_text(fanout['per_worker'].values())}")
            for problem in result["problems"]:
                print(f"    {problem}")

        four = make_install(base / "four", 4)
        balanced = run_case(four, {"connections": 200, "concurrency": 200, "hold": 1.0}, workers=range(8000, 8004))
        print("200 held WebSockets, nginx least_conn over 4 single-process workers: "
              f"{spread_text(balanced['fanout']['per_worker'].values())}")
        prefork_install = make_install(base / "prefork", 1)
        prefork = run_case(prefork_install, {"connections": 200, "concurrency": 200, "hold": 1.0}, prefork=4)
        print("200 held WebSockets, one upstream line to uvicorn --workers 4: "
              f"{spread_text(pid_counts(prefork['details']))} per process")
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
