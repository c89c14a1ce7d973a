"""SIGKILL at random moments: an install is either absent (and a re-run completes it) or complete.

The install runs from the source tree (``python -m dograh_installer.entry``)
rather than the zipapp, which keeps each trial cheap. Failure messages name the
random seed; set DOGRAH_KILL_SEED to replay a run.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Tuple

from tests.conftest import EXAMPLE_IP, ROOT
from dograh_installer.install_commit import pending_commit
from tests.support.install_checks import assert_complete_install, tree_snapshot

TRIALS = 60
OVERWRITE_TRIALS = 24
CALIBRATION_RUNS = 3
RUN_TIMEOUT = 60


def install_env(target: Path, **extra: str) -> Dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT / "installer"),
        "LANG": "C.UTF-8",
        "SERVER_IP": EXAMPLE_IP,
        "FASTAPI_WORKERS": "2",
        "DOGRAH_DIR": str(target),
    }
    env.update(extra)
    return env


def start_install(target: Path, **extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dograh_installer.entry", "install"],
                            env=install_env(target, **extra), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def run_install(target: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dograh_installer.entry", "install"], env=install_env(target, **extra),
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


def assert_complete_after(target: Path, context: str) -> Dict[str, str]:
    try:
        return assert_complete_install(target)
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


def without_leftovers(snapshot: Dict[str, tuple]) -> Dict[str, tuple]:
    """Drop temp files and backup copies, which a killed overwrite may leave beside the old files."""
    kept = {}
    for path, entry in snapshot.items():
        top = Path(path).parts[0] if Path(path).parts else ""
        if not top.endswith(".tmp") and ".bak." not in top:
            kept[path] = entry
    return kept


def test_kill_during_overwrite_keeps_old_or_new(tmp_path):
    seed = int(os.environ.get("DOGRAH_KILL_SEED") or time.time_ns() % 2**32)
    rng = random.Random(seed)
    writes_start, duration = calibrate(tmp_path)
    original = tmp_path / "original"
    assert run_install(original).returncode == 0
    old_values = assert_complete_install(original)
    outcomes = {"old install": 0, "new install": 0, "killed during renames": 0}

    for trial in range(OVERWRITE_TRIALS):
        target = tmp_path / f"overwrite-{trial}"
        shutil.copytree(original, target, symlinks=True)
        # Taken from the copy, because copytree does not keep owners or groups.
        old_snapshot = without_leftovers(tree_snapshot(target))
        delay = rng.uniform(0.0, duration)
        context = f"seed {seed}, overwrite trial {trial}, killed {delay:.4f} s after start"

        process = start_install(target, FASTAPI_WORKERS="3", DOGRAH_FORCE_OVERWRITE="1")
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.communicate()

        if pending_commit(target):
            outcomes["killed during renames"] += 1
            # The next install, even one that is then rejected, finishes the renames.
            rerun = run_install(target)
            assert rerun.returncode == 1, f"{context}: {rerun.stderr}"
            assert "Finished replacing the install" in rerun.stdout, context
        if without_leftovers(tree_snapshot(target)) == old_snapshot:
            outcomes["old install"] += 1
        else:
            outcomes["new install"] += 1
            values = assert_complete_after(target, context)
            assert values["FASTAPI_WORKERS"] == "3", context
            assert values["TURN_SECRET"] != old_values["TURN_SECRET"], context
            assert values["POSTGRES_PASSWORD"] == old_values["POSTGRES_PASSWORD"], context

        rerun = run_install(target, DOGRAH_FORCE_OVERWRITE="1")
        assert rerun.returncode == 0, f"{context}: forced re-run failed: {rerun.stderr}"
        values = assert_complete_after(target, context + ", then forced re-run")
        assert values["POSTGRES_PASSWORD"] == old_values["POSTGRES_PASSWORD"], context

    print(f"overwrite kill trials (seed {seed}, writes from {writes_start:.3f} s of {duration:.3f} s): {outcomes}")
    assert outcomes["old install"] > 0, f"no kill landed before the overwrite completed: {outcomes}"
