"""run_checks on randomly damaged install files: findings, never an exception, never a secret."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dograh_installer.doctor.checks import run_checks
from dograh_installer.doctor.report import render_json
from dograh_installer.envfile import SECRET_KEYS, read_env
from dograh_installer.errors import UsageError
from dograh_installer.findings import ERROR, OK, STATUSES, WARNING
from dograh_installer.install import InstallSettings, run_install
from tests.conftest import EXAMPLE_IP

DAMAGED_FILES = ["nginx.conf", ".env", "turnserver.conf", "docker-compose.yaml"]


@pytest.fixture(scope="module")
def healthy(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("robust") / "dograh"
    settings_ = InstallSettings(directory=directory, server_ip=EXAMPLE_IP, public_host=EXAMPLE_IP, turn_secret=None,
                                workers=3, enable_telemetry=False, force_turn_relay=False)
    run_install(settings_, {}, notify=lambda _message: None)
    return directory


# One edit: (kind, line index, character index), applied modulo the file's size.
edits = st.lists(st.tuples(st.sampled_from(["delete", "repeat", "drop_char"]), st.integers(0, 10_000),
                           st.integers(0, 10_000)), min_size=1, max_size=4)


def _damage(text: str, chosen_edits) -> str:
    lines = text.splitlines(True)
    for kind, line_index, char_index in chosen_edits:
        if not lines:
            break
        index = line_index % len(lines)
        if kind == "delete":
            del lines[index]
        elif kind == "repeat":
            lines.insert(index, lines[(index + char_index) % len(lines)])
        elif len(lines[index]) > 1:
            position = char_index % len(lines[index])
            lines[index] = lines[index][:position] + lines[index][position + 1:]
    return "".join(lines)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(DAMAGED_FILES), chosen_edits=edits)
def test_damaged_file_yields_findings(healthy, tmp_path_factory, name, chosen_edits):
    directory = tmp_path_factory.mktemp("damaged") / "dograh"
    shutil.copytree(healthy, directory)
    path = directory / name
    path.write_text(_damage(path.read_text(), chosen_edits))
    secrets = [value for key, value in read_env(healthy / ".env").values().items() if key in SECRET_KEYS]

    try:
        findings = run_checks(directory, nginx_syntax=False)
    except UsageError:
        return  # a run that cannot start is reported with exit code 2, which is allowed

    assert findings
    for finding in findings:
        assert finding.status in STATUSES, finding
        if finding.status in (ERROR, WARNING):
            assert finding.fix, f"{finding.id} has no fix"
        if finding.status != OK:
            assert finding.message, finding
    output = render_json(findings)
    json.loads(output)
    for secret in secrets:
        assert secret not in output, "a secret reached the JSON output"
