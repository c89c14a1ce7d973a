"""The dograh commands doctor suggests, pasted as they are into a shell in another directory."""

from __future__ import annotations

import json
import os
import shlex

import pytest

from tests.conftest import base_env, run_pyz
from tests.support.fresh_install import make_install


def set_workers(directory, value):
    path = directory / ".env"
    path.write_text(path.read_text().replace("FASTAPI_WORKERS=4", f"FASTAPI_WORKERS={value}"))


def suggested(pyz, env, directory, finding_id, cwd):
    result = run_pyz(pyz, ["doctor", "--json", "--dir", str(directory)], env, cwd=cwd)
    findings = {finding["id"]: finding for finding in json.loads(result.stdout)["findings"]}
    return findings[finding_id]["fix"]


def run_pasted(pyz, env, command, cwd, *extra):
    argv = shlex.split(command)
    # The zipapp under test is not on PATH, so the command names it by its path.
    assert os.path.samefile(argv[0], pyz)
    return run_pyz(pyz, [*argv[1:], *extra], env, cwd=cwd)


@pytest.mark.parametrize("value, finding_id, expected_workers", [("6", "upstream.count", "6"),
                                                                 ("100", "env.workers", "64")])
def test_pasted_workers_fix_works(pyz, shiv_root, tmp_path, value, finding_id, expected_workers):
    directory = make_install(tmp_path / "my install")
    set_workers(directory, value)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = base_env(shiv_root)

    fix = suggested(pyz, env, directory, finding_id, elsewhere)
    first_command = fix.split(" (or ")[0].split(", or ")[0]
    result = run_pasted(pyz, env, first_command, elsewhere, "--yes", "--no-restart")

    assert result.returncode == 0, result.stderr
    assert f"FASTAPI_WORKERS={expected_workers}\n" in (directory / ".env").read_text()
    after = run_pyz(pyz, ["doctor", "--dir", str(directory)], env, cwd=elsewhere)
    assert after.returncode == 0, after.stdout


def test_pasted_from_nginx_fix_works(pyz, shiv_root, tmp_path):
    directory = make_install(tmp_path / "my install")
    set_workers(directory, "100")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = base_env(shiv_root)

    fix = suggested(pyz, env, directory, "env.workers", elsewhere)
    adopt = fix.split(", or ")[1].split(" to adopt")[0]
    result = run_pasted(pyz, env, adopt, elsewhere, "--yes", "--no-restart")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "FASTAPI_WORKERS=4\n" in (directory / ".env").read_text()
