"""doctor --fix on every drifted install directory of the doctor's fixture corpus.

After one fix, only findings that need a person's decision may remain, and
a second fix must change no byte.
"""

from __future__ import annotations

import json

import pytest

from dograh_installer.doctor.checks import run_checks
from dograh_installer.doctor.fix import run_fix
from tests.support.corpus import make_corpus, secret_values
from tests.support.fresh_install import snapshot


# Findings --fix leaves to the person, and why.
LEFT_FOR_PERSON = {
    "certs.expiry": "certificates are never regenerated",
    "certs.san": "certificates are never regenerated",
    "certs.key_match": "certificates are never regenerated",
    "nginx.syntax": "a syntax error or a bad certificate needs a person",
    "names.base_url": "which of PUBLIC_HOST and PUBLIC_BASE_URL is right is a choice",
    "names.server_name": "a custom server_name may be deliberate",
    "compose.nginx_mount": "the compose file is not edited",
    "compose.api_workers": "the compose file is not edited",
    "compose.cert_mount": "the compose file is not edited",
    "env.dollar": "a '$NAME' was expanded when the stack started; the running value is unknown",
    "turn.secret": "only when TURN_SECRET itself contains a '$' that compose expands",
    "env.keys": "a missing secret would have to be generated",
    "env.workers": "an invalid count needs 'dograh workers N'",
    "location.upgrade": "location directives other than the probe header are not edited",
    "location.connection": "location directives other than the probe header are not edited",
    "location.http_version": "location directives other than the probe header are not edited",
    "location.next_upstream": "location directives other than the probe header are not edited",
    "location.timeouts": "a short timeout may be deliberate",
    "location.proxy_pass": "where /api/v1/ should go is a choice",
    "upstream.retry_5xx": "the retry policy may be deliberate",
    "files.missing": "a missing file is restored from a backup by hand",
}



def problem_ids(directory):
    return {finding.id for finding in run_checks(directory) if finding.status in ("error", "warning")}


def fix(directory):
    return run_fix(directory, from_nginx=False, yes=True, restart=False, interactive=False, as_json=True)


@pytest.mark.parametrize("scenario", make_corpus.scenarios())
def test_fix_on_scenario(scenario, corpus_base, tmp_path, capsys):
    directory = make_corpus.build_scenario(corpus_base, scenario, tmp_path / scenario)
    expected = make_corpus.load_json(scenario, "expected.json")
    secrets = secret_values(directory)
    before = snapshot(directory)

    code = fix(directory)
    output = capsys.readouterr()
    document = json.loads(output.out)

    remaining = problem_ids(directory)
    assert remaining <= set(LEFT_FOR_PERSON), document["report"]
    assert remaining <= set(expected["errors"]) | set(expected["warnings"])
    assert code == (1 if any(finding["status"] == "error" for finding in document["report"]["findings"]) else 0)
    for secret in secrets:
        assert secret not in output.out + output.err
    if scenario == "healthy":
        assert snapshot(directory) == before

    after_first = snapshot(directory)
    fix(directory)
    capsys.readouterr()
    assert snapshot(directory) == after_first
