#!/usr/bin/env python3
"""Measure dograh.pyz on this machine: size, start-up, install time and memory.

Figures printed:
  * the zipapp's size;
  * first run: `dograh --version` into a fresh, empty SHIV_ROOT, so shiv
    extracts its libraries (the cost a new server pays once);
  * warm run: `dograh --version` with the libraries already extracted;
  * `dograh install` into a fresh directory (warm SHIV_ROOT): wall time and
    peak resident memory;
  * scripts/setup_remote.sh with DOGRAH_PYZ set: the same install through
    the shim, which adds two copies of the zipapp (one becomes the `dograh`
    command) and its probes; cold (a fresh HOME, so shiv extracts again)
    and warm.

Each figure is the median of --runs runs (peak memory: the median and the
maximum). Peak memory comes from os.wait4, which reports ru_maxrss of that
one child (and of any children it waited for), in KiB on Linux. Every run
writes only into a temporary directory that is removed afterwards.

Usage: python3 bench/bench_install.py [--pyz dist/dograh.pyz] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

ROOT = Path(__file__).resolve().parents[1]
SHIM = ROOT / "scripts" / "setup_remote.sh"
# TEST-NET-3, reserved for documentation: written into files, never contacted.
EXAMPLE_IP = "203.0.113.10"


@dataclass
class RunResult:
    seconds: float
    peak_rss_kib: int


def run_measured(argv: Sequence[str], env: Dict[str, str], cwd: Path) -> RunResult:
    """Run ``argv`` with stdin not a TTY and return its wall time and peak RSS.

    Raises SystemExit with the child's stderr when it exits non-zero.
    """
    # stderr goes to a file, not a pipe, so a child that writes a lot to
    # stderr cannot block on a full pipe before wait4 returns.
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=errors)
        # Popen.wait() would discard the child's resource usage; wait4 returns it.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace")
            raise SystemExit(f"{' '.join(argv)} exited with {process.returncode}:\n{message}")
    return RunResult(seconds, usage.ru_maxrss)


def base_env(**extra: str) -> Dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def bench_first_run(python: str, pyz: Path, work: Path, runs: int) -> List[RunResult]:
    results = []
    for index in range(runs):
        root = work / f"cold-root-{index}"
        results.append(run_measured([python, str(pyz), "--version"], base_env(SHIV_ROOT=str(root)), work))
    return results


def bench_warm_run(python: str, pyz: Path, work: Path, root: Path, runs: int) -> List[RunResult]:
    env = base_env(SHIV_ROOT=str(root))
    run_measured([python, str(pyz), "--version"], env, work)
    return [run_measured([python, str(pyz), "--version"], env, work) for _ in range(runs)]


def bench_install(python: str, pyz: Path, work: Path, root: Path, runs: int) -> List[RunResult]:
    env = base_env(SHIV_ROOT=str(root), SERVER_IP=EXAMPLE_IP)
    results = []
    for index in range(runs):
        target = work / f"install-{index}"
        results.append(run_measured([python, str(pyz), "install", "--dir", str(target)], env, work))
    return results


def bench_shim(pyz: Path, work: Path, runs: int, cold: bool) -> List[RunResult]:
    """Install through the shim; ``cold`` gives each run a fresh HOME, so shiv extracts again."""
    results = []
    for index in range(runs if cold else runs + 1):
        # HOME points into the work directory, so the shim's default root
        # ($HOME/.shiv) stays there. DOGRAH_BIN_DIR does the same for the
        # `dograh` command, which root would otherwise get in /usr/local/bin.
        home = work / (f"shim-home-{index}" if cold else "shim-home")
        home.mkdir(exist_ok=True)
        env = base_env(HOME=str(home), SERVER_IP=EXAMPLE_IP, DOGRAH_PYZ=str(pyz), TMPDIR=str(work),
                       DOGRAH_BIN_DIR=str(work / "bin"))
        target = work / f"shim-{'cold' if cold else 'warm'}-{index}"
        results.append(run_measured(["bash", str(SHIM), "--dir", str(target)], env, work))
    # The first warm run extracted the libraries; it is not a warm figure.
    return results if cold else results[1:]


def describe_machine(python: str) -> str:
    model = "unknown CPU"
    memory = "unknown memory"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
        if found:
            model = found.group(1).strip()
        meminfo = Path("/proc/meminfo").read_text()
        total = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.M)
        if total:
            memory = f"{int(total.group(1)) / 1024**2:.1f} GiB RAM"
    except OSError:
        pass
    version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True).stdout.strip() or "unknown"
    nginx = "nginx not found"
    nginx_binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx_binary:
        # nginx -v prints "nginx version: nginx/1.22.1" on stderr.
        output = subprocess.run([nginx_binary, "-v"], capture_output=True, text=True).stderr.strip()
        nginx = output.replace("nginx version: ", "")
    return (f"{os.cpu_count()} vCPU ({model}), {memory}, {platform.system()} {platform.release()}, "
            f"Python {version}, {nginx}")


def median_seconds(results: List[RunResult]) -> str:
    return f"{statistics.median(result.seconds for result in results) * 1000:.0f} ms"


def memory_text(results: List[RunResult]) -> str:
    peaks = [result.peak_rss_kib / 1024 for result in results]
    return f"{statistics.median(peaks):.1f} MiB median, {max(peaks):.1f} MiB max"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyz", type=Path, default=ROOT / "dist" / "dograh.pyz",
                        help="zipapp to measure [default: dist/dograh.pyz]")
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs it [default: this one]")
    parser.add_argument("--runs", type=int, default=7, help="runs per figure [default: 7]")
    args = parser.parse_args()
    if not args.pyz.is_file():
        parser.error(f"--pyz {args.pyz} not found; build it with: python3 scripts/build_pyz.py")
    if args.runs < 1:
        parser.error(f"--runs must be 1 or more, got {args.runs}")

    pyz = args.pyz.resolve()
    print(f"machine: {describe_machine(args.python)}")
    print(f"zipapp:  {pyz} ({pyz.stat().st_size / 1024**2:.2f} MiB, {pyz.stat().st_size} bytes)")
    print(f"runs:    {args.runs} per figure, median")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="dograh-bench-") as temporary:
        work = Path(temporary)
        first = bench_first_run(args.python, pyz, work, args.runs)
        warm_root = work / "cold-root-0"
        warm = bench_warm_run(args.python, pyz, work, warm_root, args.runs)
        install = bench_install(args.python, pyz, work, warm_root, args.runs)
        shim_cold = bench_shim(pyz, work, args.runs, cold=True)
        shim_warm = bench_shim(pyz, work, args.runs, cold=False)
    load_after = os.getloadavg()
    print(f"first run, dograh --version (cold extraction): {median_seconds(first)}")
    print(f"warm run, dograh --version:                    {median_seconds(warm)}")
    print(f"dograh install, wall time:                     {median_seconds(install)}")
    print(f"dograh install, peak RSS:                      {memory_text(install)}")
    print(f"setup_remote.sh first run (cold), wall time:   {median_seconds(shim_cold)}")
    print(f"setup_remote.sh install (warm), wall time:     {median_seconds(shim_warm)}")
    print(f"setup_remote.sh install (warm), peak RSS:      {memory_text(shim_warm)}")
    # Other work on the machine inflates the times; the load average shows how busy it was.
    print(f"load average (1 min) before and after: {load_before[0]:.2f}, {load_after[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
