"""The package list in pyproject.toml must cover every subpackage, or the zipapp misses modules."""

from __future__ import annotations

import re
import sys

from tests.conftest import ROOT, base_env, run_pyz

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - CI runs 3.11
    tomllib = None


def test_pyproject_lists_every_subpackage():
    if tomllib is None:
        return
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    package_root = ROOT / "installer"
    found = {
        ".".join(init.parent.relative_to(package_root).parts)
        for init in package_root.rglob("__init__.py")
    }
    assert found - listed == set()


def test_zipapp_help_and_version(pyz, shiv_root, tmp_path):
    result = run_pyz(pyz, ["--help"], base_env(shiv_root), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in ("install", "doctor", "workers"):
        assert re.search(rf"^\s+{command}\b", result.stdout, re.M)
    version = run_pyz(pyz, ["--version"], base_env(shiv_root), cwd=tmp_path)
    assert version.returncode == 0
    assert version.stdout.startswith("dograh, version ")
