"""Run ``run_live_checks`` and print the findings as JSON, details included.

Used inside the stand-in stack's network namespace:
``python -m tests.live.run_checks DIR '{"url": ..., "connections": 8}'``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from dograh_installer.errors import DograhError
from dograh_installer.live import run_live_checks
from dograh_installer.live.options import LiveOptions


def main() -> int:
    directory, options = Path(sys.argv[1]), LiveOptions(**json.loads(sys.argv[2]))
    try:
        findings = run_live_checks(directory, options)
    except DograhError as exc:
        print(json.dumps({"error": str(exc), "exit_code": exc.exit_code}))
        return exc.exit_code
    print(json.dumps({"findings": [asdict(finding) for finding in findings]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
