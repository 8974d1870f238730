#!/usr/bin/env bash
# Set up what the project needs on a fresh Debian 12 / Raspberry Pi OS machine:
# Python 3.11+ with venv, the project's virtual environment, and (with --test) the test servers.
# Usage: scripts/bootstrap.sh [--test | --broker]   (--broker: mosquitto for ./run's private broker)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
want_broker=0
[ "${1:-}" = "--test" ] && want_test=1 && want_broker=1
[ "${1:-}" = "--broker" ] && want_broker=1

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "bootstrap: need root to run: $*" >&2; exit 1; fi
}

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null; then apt_install python3; fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "bootstrap: Python 3.11 or newer is needed; $("$PYTHON" --version) found" >&2; exit 1
fi
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then apt_install python3-venv; fi

missing=()
if [ "$want_broker" -eq 1 ]; then
    command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
fi
if [ "$want_test" -eq 1 ]; then
    command -v victoria-metrics >/dev/null || missing+=(victoria-metrics)
    command -v systemd-analyze >/dev/null || missing+=(systemd)  # unit sandboxing score test
    command -v openssl >/dev/null || missing+=(openssl)           # test CA for MQTT over TLS
fi
if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi

extras=""
[ "$want_test" -eq 1 ] && extras="[test]"
stamp=".venv/.installed$extras"
if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
digest=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    # the runtime dependencies exactly as locked, hashes checked (the Debian package ships the same)
    .venv/bin/python -m pip install -q --require-hashes -r requirements.lock
    .venv/bin/python -m pip install -q -e ".$extras"
    echo "$digest" > "$stamp"
fi
