#!/usr/bin/env bash
# Build dograh.pyz from this checkout and install into ./dograh-demo with the
# documentation address 203.0.113.10 (TEST-NET-3), no prompts.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --disable-pip-version-check -r requirements/dev.txt
python3 scripts/build_pyz.py
SERVER_IP="${SERVER_IP:-203.0.113.10}" DOGRAH_DIR="${DOGRAH_DIR:-./dograh-demo}" \
    python3 dist/dograh.pyz install "$@" </dev/null
