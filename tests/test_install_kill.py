"""SIGKILL at random moments: an install is either absent (and a re-run completes it) or complete.

The install runs from the source tree (``python -m dograh_installer.entry``)
rather than the zipapp, which keeps each trial cheap. Failure messages name the
random seed; set DOGRAH_KILL_SEED to replay a run.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Tuple

from tests.conftest import EXAMPLE_IP, ROOT
from tests.support.install_checks import assert_complete_install

TRIALS = 60
CALIBRATION_RUNS = 3
RUN_TIMEOUT = 60


def install_env(target: Path) -> Dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT / "installer"),
        "LANG": "C.UTF-8",
        "SERVER_IP": EXAMPLE_IP,
        "FASTAPI_WORKERS": "2",
        "DOGRAH_DIR": str(target),
    }


def start_install(target: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dograh_installer.entry", "install"], env=install_env(target),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def run_install(target: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dograh_installer.entry", "install"], env=install_env(target),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=RUN_TIMEOUT)


def calibrate(workdir: Path) -> Tuple[float, float]:
    """Return the median seconds until the install directory appears, and until the install exits."""
    appear_times, total_times = [], []
    for run in range(CALIBRATION_RUNS):
        target = workdir / f"calibration-{run}"
        started = time.monotonic()
        process = start_install(target)
        appeared = None
        while process.poll() is None:
            if appeared is None and target.exists():
                appeared = time.monotonic() - started
            time.sleep(0.0005)
        total = time.monotonic() - started
        _, stderr = process.communicate()
        assert process.returncode == 0, stderr.decode()
        assert_complete_install(target, run_nginx_check=False)
        appear_times.append(appeared if appeared is not None else total)
        total_times.append(total)
    return statistics.median(appear_times), statistics.median(total_times)


def assert_complete_after(target: Path, context: str) -> None:
    try:
        assert_complete_install(target)
    except AssertionError as exc:
        raise AssertionError(f"{context}: {exc}") from exc


def test_kill_leaves_absent_or_complete(tmp_path):
    seed = int(os.environ.get("DOGRAH_KILL_SEED") or time.time_ns() % 2**32)
    rng = random.Random(seed)
    writes_start, duration = calibrate(tmp_path)
    outcomes = {"killed before the directory": 0, "killed mid-write": 0, "complete": 0}

    for trial in range(TRIALS):
        target = tmp_path / f"trial-{trial}"
        process = start_install(target)
        if trial % 2 == 0:
            delay = rng.uniform(0.0, duration)
            context = f"seed {seed}, trial {trial}, killed {delay:.4f} s after start"
        else:
            # Start-up time varies with load, so these kills count from the
            # moment the directory appears, to land while files are written.
            while not target.exists() and process.poll() is None:
                time.sleep(0.0005)
            delay = rng.uniform(0.0, duration - writes_start)
            context = f"seed {seed}, trial {trial}, killed {delay:.4f} s after the directory appeared"
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.communicate()

        if (target / ".env").exists():
            outcomes["complete"] += 1
            assert_complete_after(target, context)
            continue
        outcomes["killed mid-write" if target.exists() else "killed before the directory"] += 1
        rerun = run_install(target)
        assert rerun.returncode == 0, f"{context}: re-run failed: {rerun.stderr}"
        assert_complete_after(target, context + ", then re-run")

    print(f"kill trials (seed {seed}, writes from {writes_start:.3f} s of {duration:.3f} s): {outcomes}")
    assert sum(outcomes.values()) == TRIALS
    assert outcomes["killed mid-write"] > 0, f"no kill landed while files were written: {outcomes}"
