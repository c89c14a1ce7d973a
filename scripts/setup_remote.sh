#!/usr/bin/env bash
# Fetch dograh.pyz, verify it, and run `dograh install` with this script's
# arguments and environment. Made for `curl -fsSL URL | sudo bash` and for
# cloud-init, where there is no TTY and HOME may be unset.
#
# Environment:
#   DOGRAH_PYZ         path of a local dograh.pyz (used before DOGRAH_PYZ_URL)
#   DOGRAH_PYZ_URL     URL to download dograh.pyz from (curl or wget)
#   DOGRAH_PYZ_SHA256  expected SHA-256 of the zipapp; when set, a mismatch
#                      stops the script before anything runs
#   DOGRAH_BIN_DIR     where to install the verified zipapp as the `dograh`
#                      command; when unset, /usr/local/bin for root and
#                      $HOME/.local/bin for other users; `none` skips it.
#                      Failing to install the command is only a warning.
#   SHIV_ROOT          where the zipapp unpacks its libraries; when unset, the
#                      first usable directory of $HOME/.shiv, $XDG_CACHE_HOME/dograh,
#                      /var/cache/dograh, /var/tmp/dograh-shiv-UID,
#                      /tmp/dograh-shiv-UID and a directory beside the copy it
#                      runs (removed afterwards) that is writable, executable
#                      and owned by the current user
#   everything else (SERVER_IP, TURN_SECRET, FASTAPI_WORKERS, ...) goes to
#   `dograh install` unchanged; run `python3 dograh.pyz install --help`.
#
# sudo drops variables set before it (env_reset), so put them after it:
#   curl -fsSL URL | sudo DOGRAH_PYZ_URL=... DOGRAH_PYZ_SHA256=... SERVER_IP=203.0.113.10 bash
# Arguments go after `bash -s --`. When the script comes through a pipe and
# a terminal is present, dograh prompts on the terminal for missing values.
#
# Exit codes: dograh's own exit code once it runs; before that 2 for bad
# usage, a relative DOGRAH_BIN_DIR or an unsupported python3, 1 for a failed
# download, a checksum mismatch or no usable SHIV_ROOT.
#
# This script never runs `set -x`: the environment carries secrets.

# A POSIX-sh guard, because `curl ... | sudo sh` would otherwise fail on the
# first bash-only line with an unhelpful message.
if [ -z "${BASH_VERSION:-}" ]; then
    echo "setup_remote.sh: error: run this script with bash, not sh (curl -fsSL URL | sudo bash)" >&2
    exit 2
fi

set -euo pipefail

readonly PROG="setup_remote.sh"
readonly MIN_MAJOR=3
readonly MIN_MINOR=9

# When bash reads this script from a pipe (`curl | bash`), stdin is the rest
# of the script, so dograh must not read it. BASH_SOURCE is empty then, and
# also under `bash -c "$(curl ...)"`, where the same stdin handling is harmless.
if [ "${#BASH_SOURCE[@]}" -eq 0 ] || [ -z "${BASH_SOURCE[0]}" ]; then
    SCRIPT_FROM_STDIN=1
else
    SCRIPT_FROM_STDIN=0
fi

WORK_DIR=""
PYTHON=""
ZIPAPP=""
EXPECTED_SHA256=""
COMMAND_TEMP=""
INSTALLED_COMMAND=""

die() {
    local code="$1"
    shift
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit "$code"
}

warn() {
    printf '%s: warning: %s\n' "$PROG" "$*" >&2
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    if [ -n "$COMMAND_TEMP" ]; then
        rm -f -- "$COMMAND_TEMP"
    fi
    if [ -n "$WORK_DIR" ]; then
        rm -rf -- "$WORK_DIR"
    fi
}

# Print a URL without user:password@ and without the query string or
# fragment, where pre-signed URLs carry their tokens.
redact_url() {
    local url="${1%%[?#]*}"
    local scheme="" rest="$url"
    if [[ "$url" == *://* ]]; then
        scheme="${url%%://*}://"
        rest="${url#*://}"
    fi
    local host="${rest%%/*}" path=""
    if [[ "$rest" == */* ]]; then
        path="/${rest#*/}"
    fi
    printf '%s%s%s' "$scheme" "${host##*@}" "$path"
}

check_python() {
    local python version major minor
    python="$(command -v python3 || true)"
    if [ -z "$python" ]; then
        die 2 "python3 not found on PATH ($PATH); install Python $MIN_MAJOR.$MIN_MINOR or newer (Debian/Ubuntu: apt-get install -y python3) and run this script again"
    fi
    # This probe also runs under Python 2, so it names the version found
    # instead of failing with a SyntaxError.
    if ! version="$("$python" -c 'import sys; sys.stdout.write("%d.%d.%d" % tuple(sys.version_info[:3]))' 2>/dev/null)"; then
        die 2 "$python failed to report its version; install Python $MIN_MAJOR.$MIN_MINOR or newer as python3 and run this script again"
    fi
    major="${version%%.*}"
    minor="${version#*.}"
    minor="${minor%%.*}"
    if ! [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]]; then
        die 2 "$python reported an unreadable version '$version'; install Python $MIN_MAJOR.$MIN_MINOR or newer as python3"
    fi
    if [ "$major" -lt "$MIN_MAJOR" ] || { [ "$major" -eq "$MIN_MAJOR" ] && [ "$minor" -lt "$MIN_MINOR" ]; }; then
        die 2 "Python $MIN_MAJOR.$MIN_MINOR or newer is required, but $python is Python $version; install a newer python3 (Debian/Ubuntu: apt-get install -y python3) and run this script again"
    fi
    PYTHON="$python"
}

download() {
    local url="$1" target="$2" shown errors reason
    shown="$(redact_url "$url")"
    errors="$WORK_DIR/download.err"
    if [[ "$url" == http://* ]] && [ -z "$EXPECTED_SHA256" ]; then
        warn "downloading over plain HTTP without DOGRAH_PYZ_SHA256: the zipapp is not verified"
    fi
    local -a command
    if command -v curl >/dev/null 2>&1; then
        command=(curl --fail --silent --show-error --location --retry 3 --connect-timeout 20 --output "$target" -- "$url")
    elif command -v wget >/dev/null 2>&1; then
        command=(wget --no-verbose --tries=3 --timeout=20 --output-document="$target" -- "$url")
    else
        die 1 "neither curl nor wget found on PATH to download DOGRAH_PYZ_URL; install one, or set DOGRAH_PYZ to a local copy"
    fi
    if ! "${command[@]}" 2>"$errors" >/dev/null; then
        reason="$(tail -n 1 -- "$errors")"
        # Tools echo the URL back; keep its credentials out of the message.
        reason="${reason//"$url"/"$shown"}"
        reason="${reason#"${command[0]}: "}"
        die 1 "download of $shown failed (${command[0]}: ${reason:-no message}); check DOGRAH_PYZ_URL and the network, or set DOGRAH_PYZ to a local copy"
    fi
}

sha256_of() {
    local file="$1" line
    if command -v sha256sum >/dev/null 2>&1; then
        line="$(sha256sum -- "$file")"
        printf '%s' "${line%% *}"
    else
        "$PYTHON" -c 'import hashlib, sys
digest = hashlib.sha256()
with open(sys.argv[1], "rb") as handle:
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
sys.stdout.write(digest.hexdigest())' "$file"
    fi
}

# Copy or download the zipapp into the private work directory, so the file
# that is verified is the file that runs, and concurrent runs never write to
# each other's copy. Sets ZIPAPP.
fetch_zipapp() {
    local target="$WORK_DIR/dograh.pyz" partial="$WORK_DIR/dograh.pyz.part"
    if [ -n "${DOGRAH_PYZ:-}" ]; then
        if [ ! -f "$DOGRAH_PYZ" ] || [ ! -r "$DOGRAH_PYZ" ]; then
            die 2 "DOGRAH_PYZ=$DOGRAH_PYZ is not a readable file; point it at dograh.pyz or unset it and set DOGRAH_PYZ_URL"
        fi
        cp -- "$DOGRAH_PYZ" "$partial"
    elif [ -n "${DOGRAH_PYZ_URL:-}" ]; then
        download "$DOGRAH_PYZ_URL" "$partial"
    else
        die 2 "set DOGRAH_PYZ to the path of dograh.pyz or DOGRAH_PYZ_URL to its download URL (and DOGRAH_PYZ_SHA256 to its checksum)"
    fi
    mv -f -- "$partial" "$target"
    ZIPAPP="$target"
}

# Checked before any download, so a typo costs nothing. Sets EXPECTED_SHA256,
# empty when DOGRAH_PYZ_SHA256 is unset or empty.
read_expected_sha256() {
    local expected="${DOGRAH_PYZ_SHA256:-}"
    if [ -z "$expected" ]; then
        return 0
    fi
    # Accept a pasted `sha256sum` line ("<hash>  dograh.pyz") as well.
    expected="${expected%%[[:space:]]*}"
    expected="${expected,,}"
    if ! [[ "$expected" =~ ^[0-9a-f]{64}$ ]]; then
        die 2 "DOGRAH_PYZ_SHA256 must be 64 hexadecimal digits (the output of sha256sum dograh.pyz), got '${DOGRAH_PYZ_SHA256}'"
    fi
    EXPECTED_SHA256="$expected"
}

# Checked before any download, like the checksum, so a typo costs nothing.
check_bin_dir() {
    local dir="${DOGRAH_BIN_DIR:-}"
    if [ -n "$dir" ] && [ "$dir" != "none" ] && [[ "$dir" != /* ]]; then
        die 2 "DOGRAH_BIN_DIR must be an absolute path or 'none', got '$dir'"
    fi
}

# Succeed when the file is a zip archive that contains the dograh_installer
# package, which is what tells an older dograh zipapp from someone else's
# `dograh` command.
is_dograh_zipapp() {
    "$PYTHON" -c 'import sys, zipfile
try:
    with zipfile.ZipFile(sys.argv[1]) as archive:
        names = archive.namelist()
except (OSError, zipfile.BadZipFile):
    sys.exit(1)
sys.exit(0 if any("/dograh_installer/" in "/" + name for name in names) else 1)' "$1" 2>/dev/null
}

# Install the verified zipapp as an executable `dograh` command, so that
# `dograh doctor` works after this script removes its work directory, and
# also after a failed install. Nothing here stops the run: every failure is
# a warning.
install_command() {
    local source="$1" dir target
    dir="${DOGRAH_BIN_DIR:-}"
    if [ "$dir" = "none" ]; then
        printf '%s: DOGRAH_BIN_DIR=none, so the dograh command was not installed\n' "$PROG"
        return 0
    fi
    if [ -z "$dir" ]; then
        if [ "$EUID" -eq 0 ]; then
            dir="/usr/local/bin"
        elif [ -n "${HOME:-}" ] && [[ "$HOME" == /* ]] && [ -d "$HOME" ] && [ -w "$HOME" ]; then
            dir="$HOME/.local/bin"
        else
            warn "the dograh command was not installed: HOME is unset or not writable; set DOGRAH_BIN_DIR to a directory on PATH"
            return 0
        fi
    fi
    if [ "$dir" != "/" ]; then
        dir="${dir%/}"
    fi
    target="${dir%/}/dograh"

    if [ -e "$target" ] || [ -L "$target" ]; then
        if [ -d "$target" ] || ! is_dograh_zipapp "$target"; then
            warn "the dograh command was not installed: $target exists and is not a dograh zipapp, so it was kept; remove it or set DOGRAH_BIN_DIR to another directory"
            return 0
        fi
    fi

    # Copy to a temporary file in the target directory and rename it, so
    # concurrent runs and a running dograh never see a partial file.
    if ! mkdir -p -- "$dir" 2>/dev/null \
        || ! COMMAND_TEMP="$(mktemp "$dir/.dograh.XXXXXX" 2>/dev/null)"; then
        COMMAND_TEMP=""
        warn "the dograh command was not installed: $dir is not writable; set DOGRAH_BIN_DIR to a writable directory on PATH"
        return 0
    fi
    if ! { cp -- "$source" "$COMMAND_TEMP" && chmod 0755 -- "$COMMAND_TEMP"; } 2>/dev/null; then
        rm -f -- "$COMMAND_TEMP"
        COMMAND_TEMP=""
        warn "the dograh command was not installed: copying the zipapp into $dir failed; check the free space there"
        return 0
    fi
    # fsync before the rename, so a crash after it cannot leave an empty
    # `dograh`. GNU sync takes file arguments since coreutils 8.24, and an
    # older one fails here, which only loses that guarantee.
    sync -- "$COMMAND_TEMP" 2>/dev/null || true
    # -T, so a directory that appeared at $target meanwhile is not moved into.
    if ! mv -f -T -- "$COMMAND_TEMP" "$target" 2>/dev/null; then
        rm -f -- "$COMMAND_TEMP"
        COMMAND_TEMP=""
        warn "the dograh command was not installed: moving the copy in $dir to $target failed"
        return 0
    fi
    COMMAND_TEMP=""
    INSTALLED_COMMAND="$target"

    case ":$PATH:" in
        *":$dir:"*)
            printf '%s: installed the dograh command as %s\n' "$PROG" "$target"
            ;;
        *)
            printf '%s: installed the dograh command as %s; %s is not on PATH, so run it as %s\n' \
                "$PROG" "$target" "$dir" "$target"
            ;;
    esac
}

verify_zipapp() {
    local file="$1" actual
    if [ -z "$EXPECTED_SHA256" ]; then
        return 0
    fi
    actual="$(sha256_of "$file")"
    if [ "$actual" != "$EXPECTED_SHA256" ]; then
        die 1 "checksum mismatch for dograh.pyz: DOGRAH_PYZ_SHA256 is $EXPECTED_SHA256 but the file has $actual; nothing was run, fetch the zipapp again or correct DOGRAH_PYZ_SHA256"
    fi
}

# Succeed when the directory can hold shiv's extraction. It must belong to
# the current user alone, because anyone else could plant code there that we
# would run. It must be writable and on a mount without noexec, which also
# blocks mmap of the bundled .so files. flock must work in it, because shiv
# serializes concurrent first runs with flock and retries forever on error.
usable_root() {
    local dir="$1" probe
    # umask 077: no other user can write into the directory between its
    # creation and the checks below.
    (umask 077 && mkdir -p -- "$dir") 2>/dev/null || return 1
    [ -d "$dir" ] && [ ! -L "$dir" ] && [ -O "$dir" ] && [ -w "$dir" ] || return 1
    chmod go-w -- "$dir" 2>/dev/null || return 1
    probe="$(mktemp "$dir/.dograh-probe.XXXXXX" 2>/dev/null)" || return 1
    if ! { printf '#!/bin/sh\nexit 0\n' >"$probe" && chmod 700 -- "$probe" && "$probe"; } 2>/dev/null; then
        rm -f -- "$probe"
        return 1
    fi
    # Two open file descriptions of one file: the second flock must fail
    # while the first holds it, or the lock would not keep runs apart.
    if ! "$PYTHON" -c 'import errno, fcntl, os, sys
first = os.open(sys.argv[1], os.O_RDWR)
second = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)
try:
    fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError as exc:
    sys.exit(0 if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK) else 1)
sys.exit(1)' "$probe" 2>/dev/null; then
        rm -f -- "$probe"
        return 1
    fi
    rm -f -- "$probe"
}

choose_shiv_root() {
    local work_dir="$1" uid="$EUID" candidate
    local -a candidates=()
    # A HOME that belongs to another user (sudo keeping the caller's HOME)
    # would get root-owned files the user cannot remove.
    if [ -n "${HOME:-}" ] && [[ "$HOME" == /* ]] && [ -O "$HOME" ]; then
        candidates+=("$HOME/.shiv")
    fi
    if [ -n "${XDG_CACHE_HOME:-}" ] && [[ "$XDG_CACHE_HOME" == /* ]]; then
        candidates+=("$XDG_CACHE_HOME/dograh")
    fi
    candidates+=("/var/cache/dograh" "/var/tmp/dograh-shiv-$uid" "/tmp/dograh-shiv-$uid" "$work_dir/shiv")
    for candidate in "${candidates[@]}"; do
        if usable_root "$candidate"; then
            SHIV_ROOT="$candidate"
            return 0
        fi
    done
    die 1 "no writable, executable directory for the zipapp's libraries (tried: ${candidates[*]}); set SHIV_ROOT to one and run again"
}

main() {
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    check_python
    read_expected_sha256
    check_bin_dir
    WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/dograh-setup.XXXXXX")" \
        || die 1 "failed to create a temporary directory in ${TMPDIR:-/tmp}; set TMPDIR to a writable directory"
    chmod 700 -- "$WORK_DIR"

    fetch_zipapp
    verify_zipapp "$ZIPAPP"

    if [ -z "${SHIV_ROOT:-}" ]; then
        choose_shiv_root "$WORK_DIR"
    fi
    export SHIV_ROOT

    install_command "$ZIPAPP"
    # The zipapp runs from $WORK_DIR, which is removed on exit, so the
    # commands its output suggests name the installed copy instead.
    export DOGRAH_COMMAND="${INSTALLED_COMMAND:-dograh}"

    local status=0
    if [ "$SCRIPT_FROM_STDIN" -eq 1 ] && [ ! -t 0 ]; then
        # Give prompts the terminal when there is one, and never the script.
        if { : </dev/tty; } 2>/dev/null; then
            "$PYTHON" "$ZIPAPP" install "$@" </dev/tty || status=$?
        else
            "$PYTHON" "$ZIPAPP" install "$@" </dev/null || status=$?
        fi
    else
        "$PYTHON" "$ZIPAPP" install "$@" || status=$?
    fi
    exit "$status"
}

# Called on the last line, so a download cut short runs nothing.
main "$@"
