"""Shared fixtures: the built zipapp, and running it the way cloud-init does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_IP = "203.0.113.10"  # TEST-NET-3, reserved for documentation


@pytest.fixture(scope="session")
def pyz(tmp_path_factory) -> Path:
    """The zipapp built from this checkout; DOGRAH_TEST_PYZ points at a prebuilt one."""
    prebuilt = os.environ.get("DOGRAH_TEST_PYZ")
    if prebuilt:
        return Path(prebuilt)
    output = tmp_path_factory.mktemp("dist") / "dograh.pyz"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_pyz.py"), "-o", str(output)], check=True,
                   stdout=subprocess.DEVNULL)
    return output


@pytest.fixture(scope="session")
def shiv_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shiv-root")


def base_env(shiv_root: Path, **extra: str) -> Dict[str, str]:
    """A minimal environment: PATH, a shiv root, and what the test adds."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SHIV_ROOT": str(shiv_root), "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def run_pyz(pyz: Path, args: Sequence[str], env: Dict[str, str], cwd: Optional[Path] = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the zipapp with stdin not a TTY (like cloud-init), capturing output."""
    return subprocess.run([sys.executable, str(pyz), *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def corpus_base(pyz, shiv_root, tmp_path_factory) -> Path:
    """A healthy install made by the zipapp, with the corpus's fake secrets, for scenarios to copy."""
    from tests.support.corpus import make_corpus

    base = tmp_path_factory.mktemp("corpus") / "healthy-base"
    make_corpus.build_base(pyz, base, base_env(shiv_root))
    return base
