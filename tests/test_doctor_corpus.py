"""The real zipapp's ``doctor`` on every drifted install directory of the fixture corpus."""

from __future__ import annotations

import json
from typing import Dict, List

import pytest

from tests.conftest import base_env, run_pyz
from tests.support.corpus import CORPUS, make_corpus, secret_values

SCENARIOS = make_corpus.scenarios()


def _ids(findings: List[Dict], status: str) -> List[str]:
    return sorted({finding["id"] for finding in findings if finding["status"] == status})


def test_corpus_has_enough_scenarios():
    assert len(SCENARIOS) >= 20
    for name in SCENARIOS:
        assert (CORPUS / name / "expected.json").is_file(), f"{name} has no expected.json"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_doctor_on_scenario(scenario, pyz, shiv_root, corpus_base, tmp_path):
    directory = make_corpus.build_scenario(corpus_base, scenario, tmp_path / scenario)
    expected = make_corpus.load_json(scenario, "expected.json")
    env = base_env(shiv_root)

    as_json = run_pyz(pyz, ["doctor", "--dir", str(directory), "--json"], env)
    text = run_pyz(pyz, ["doctor", "--dir", str(directory)], env)

    assert as_json.returncode == expected["exit_code"], as_json.stdout + as_json.stderr
    assert text.returncode == expected["exit_code"], text.stdout + text.stderr
    document = json.loads(as_json.stdout)
    assert document["schema"] == "dograh.doctor/1"
    findings = document["findings"]
    assert _ids(findings, "error") == expected["errors"], as_json.stdout
    assert _ids(findings, "warning") == expected["warnings"], as_json.stdout
    for info_id in expected.get("info", []):
        assert info_id in _ids(findings, "info"), as_json.stdout
    for finding in findings:
        if finding["status"] in ("error", "warning"):
            assert finding["fix"], f"{finding['id']} has no fix"
            assert "\n" not in finding["fix"], f"{finding['id']}'s fix is more than one line"
            assert finding["id"] in text.stdout, f"{finding['id']} is missing from the text output"

    for secret in secret_values(directory):
        for output in (as_json.stdout, as_json.stderr, text.stdout, text.stderr):
            assert secret not in output, "a secret from .env appears in doctor's output"
