#!/usr/bin/env bash
# Regenerate requirements.lock (the runtime dependencies, pinned with their hashes for every platform
# the registry serves) from pyproject.toml. Run after changing [project] dependencies; commit both.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/pip" install -q pip-tools
"$tools/bin/pip-compile" -q --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
    --output-file requirements.lock pyproject.toml
echo "requirements.lock: $(grep -c '^[a-z]' requirements.lock) packages pinned"
