"""The result of a check, shared by ``doctor``, ``doctor --fix`` and ``doctor --live``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List

OK = "ok"
INFO = "info"
WARNING = "warning"
ERROR = "error"
SKIPPED = "skipped"
STATUSES = (OK, INFO, WARNING, ERROR, SKIPPED)


@dataclass
class Finding:
    """One check's outcome. Nothing here may contain a secret: it goes to --json."""

    id: str  # stable, dotted: "upstream.count", "env.crlf", "live.fanout.idle_worker"
    status: str  # one of STATUSES
    message: str  # what is wrong and what it breaks; for OK, what was checked
    fix: str = ""  # the command or edit that fixes it; empty when nothing to do
    group: str = ""  # heading for human output: ".env", "nginx upstream", "live", ...
    details: List[str] = field(default_factory=list)  # extra lines for people, e.g. a table
    data: Dict[str, Any] = field(default_factory=dict)  # extra values for --json

    def as_json(self) -> Dict[str, Any]:
        result: Dict[str, Any] = {"id": self.id, "status": self.status, "message": self.message, "fix": self.fix}
        if self.group:
            result["group"] = self.group
        if self.data:
            result["data"] = self.data
        return result


def has_errors(findings: List[Finding]) -> bool:
    return any(finding.status == ERROR for finding in findings)
