#!/usr/bin/env bash
# Install what the tests need, build the zipapp once, and run the test suite.
# Runs as root on a fresh Debian machine (as CI does); as another user the
# Debian packages must already be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: nginx for the real-nginx tests, iproute2 and util-linux
# for the private network namespaces some tests run in, shellcheck for the shim.
needed=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || needed+=(nginx-light)
command -v ip >/dev/null 2>&1 || needed+=(iproute2)
command -v unshare >/dev/null 2>&1 || needed+=(util-linux)
command -v shellcheck >/dev/null 2>&1 || needed+=(shellcheck)
if [ "${#needed[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "run_tests.sh: missing Debian packages: ${needed[*]}; install them as root first" >&2
        exit 2
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -r requirements/zipapp.txt -r requirements/dev.txt

python3 scripts/build_pyz.py
export DOGRAH_TEST_PYZ="$PWD/dist/dograh.pyz"
# The zipapp's oldest supported Python, where the machine has one (pyenv).
if [ -z "${DOGRAH_TEST_PYTHON39:-}" ]; then
    for candidate in /root/.pyenv/versions/3.9.*/bin/python3.9; do
        [ -x "$candidate" ] && export DOGRAH_TEST_PYTHON39="$candidate"
    done
fi
exec python3 -m pytest "$@"
