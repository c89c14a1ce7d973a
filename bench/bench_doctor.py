#!/usr/bin/env python3
"""Measure ``dograh doctor`` on a healthy install directory: wall time and peak memory.

Figures printed, each the median of --runs runs after one warm-up run:
  * ``dograh doctor`` (text output) through the zipapp, with the libraries
    already extracted: wall time and peak resident memory;
  * ``dograh doctor --json``, the same;
  * in this process, ``run_checks`` with and without ``nginx -t``, which
    splits the time between reading and checking the files and the nginx
    subprocess.

Installs with 4 and with 64 workers show how the upstream size matters.
Peak memory is ru_maxrss of the child from os.wait4 (KiB on Linux), so it
includes the nginx -t child only if that was larger. Everything is written
into a temporary directory that is removed afterwards.

Usage: python3 bench/bench_doctor.py [--pyz dist/dograh.pyz] [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
# TEST-NET-3, reserved for documentation: written into files, never contacted.
EXAMPLE_IP = "203.0.113.10"


def measure(argv: Sequence[str], env: Dict[str, str]) -> Tuple[float, int]:
    """Run ``argv`` with stdin not a TTY; return wall seconds and peak RSS in KiB. Exit code 0 or 1 is fine."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=errors)
        # wait4 returns the child's resource usage, which Popen.wait() drops.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):
            errors.seek(0)
            raise SystemExit(f"{' '.join(argv)} exited with {code}:\n{errors.read().decode(errors='replace')}")
    return seconds, usage.ru_maxrss


def median_ms(values: List[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms"


def bench_cli(pyz: Path, directory: Path, env: Dict[str, str], extra: List[str], runs: int) -> str:
    argv = [sys.executable, str(pyz), "doctor", "--dir", str(directory), *extra]
    measure(argv, env)
    results = [measure(argv, env) for _ in range(runs)]
    seconds = [result[0] for result in results]
    peaks = [result[1] / 1024 for result in results]
    return f"{median_ms(seconds)}, peak RSS {statistics.median(peaks):.1f} MiB (max {max(peaks):.1f})"


def bench_in_process(directory: Path, nginx_syntax: bool, runs: int) -> str:
    sys.path.insert(0, str(ROOT / "installer"))
    from dograh_installer.doctor.checks import run_checks

    run_checks(directory, nginx_syntax=nginx_syntax)
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        run_checks(directory, nginx_syntax=nginx_syntax)
        seconds.append(time.perf_counter() - started)
    return median_ms(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyz", type=Path, default=ROOT / "dist" / "dograh.pyz")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dograh-bench-doctor-") as tmp:
        work = Path(tmp)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "SHIV_ROOT": str(work / "root")}
        print(f"zipapp {args.pyz}, {args.runs} runs, load average {os.getloadavg()[0]:.1f} at start")
        for workers in (4, 64):
            directory = work / f"install-{workers}"
            subprocess.run([sys.executable, str(args.pyz), "install", "--dir", str(directory)],
                           env=dict(env, SERVER_IP=EXAMPLE_IP, FASTAPI_WORKERS=str(workers)),
                           stdin=subprocess.DEVNULL, capture_output=True, check=True)
            print(f"{workers} workers:")
            print(f"  dograh doctor          {bench_cli(args.pyz, directory, env, [], args.runs)}")
            print(f"  dograh doctor --json   {bench_cli(args.pyz, directory, env, ['--json'], args.runs)}")
            print(f"  run_checks, nginx -t   {bench_in_process(directory, True, args.runs)}")
            print(f"  run_checks, no nginx -t {bench_in_process(directory, False, args.runs)}")
        print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
