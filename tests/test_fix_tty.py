"""doctor --fix at a terminal: the confirmation question, driven through a pseudo-terminal."""

from __future__ import annotations

import io
import sys

import pexpect
import pytest

from dograh_installer.doctor.checks import run_checks
from dograh_installer.doctor.report import exit_code
from tests.conftest import base_env
from tests.support.fresh_install import apply_fixable_drift, env_secrets, make_install, snapshot

PROMPT_TIMEOUT = 60
CONFIRM_PROMPT = r"Apply these changes\? \[y/N\]: "


@pytest.mark.parametrize("answer, expected_exit", [("y", 0), ("n", 1), ("", 1)])
def test_fix_asks_before_writing(pyz, shiv_root, tmp_path, answer, expected_exit):
    directory = make_install(tmp_path / "dograh")
    apply_fixable_drift(directory)
    secrets = env_secrets(directory)
    before = snapshot(directory)
    transcript = io.StringIO()
    env = base_env(shiv_root, TERM="dumb")

    child = pexpect.spawn(sys.executable, [str(pyz), "doctor", "--fix", "--no-restart", "--dir", str(directory)],
                          env=env, encoding="utf-8", timeout=PROMPT_TIMEOUT)
    child.logfile_read = transcript
    child.expect(CONFIRM_PROMPT)
    child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()

    assert child.exitstatus == expected_exit, transcript.getvalue()
    if answer == "y":
        assert exit_code(run_checks(directory)) == 0
    else:
        assert "Nothing was changed." in transcript.getvalue()
        assert snapshot(directory) == before
    for secret in secrets.values():
        assert secret not in transcript.getvalue()
