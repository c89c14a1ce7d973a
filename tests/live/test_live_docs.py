"""docs/doctor.md lists every live check id that the code can report."""

from __future__ import annotations

import re

from tests.conftest import ROOT

LIVE_SOURCE = ROOT / "installer" / "dograh_installer" / "live"
# The second fan-out pass's summary id is built from its mode, which is
# "sequential" whenever the runner adds that pass.
BUILT_IDS = {"live.fanout.sequential"}


def ids_in_source() -> set:
    found = set()
    for path in LIVE_SOURCE.glob("*.py"):
        found |= set(re.findall(r'"(live\.[a-z_.]+)"', path.read_text(encoding="utf-8")))
    return found | BUILT_IDS


def test_every_live_id_documented():
    documented = set(re.findall(r"^\| `(live\.[a-z_.]+)` \|", (ROOT / "docs" / "doctor.md").read_text(encoding="utf-8"),
                                re.M))
    found = ids_in_source()
    assert len(found) > 15
    assert sorted(found - documented) == []
    assert sorted(documented - found) == []
