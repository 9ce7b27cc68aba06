#!/usr/bin/env bash
# Install everything the tests need: the project with its dev extra, and Debian's Chromium for
# the browser tests. README's test command (which .ci/run runs) is this, then python -m pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
        echo "Installing Debian chromium for the browser tests…"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "warning: chromium is not installed and cannot be installed here; the browser tests will fail" >&2
    fi
fi
# Byte-compile the project once. Every collector, ingest worker and CLI the tests start imports
# it, and where PYTHONDONTWRITEBYTECODE is set (as on the development VM) each of them would
# otherwise compile it from source again: ~0.6 s of every collector start.
python -m compileall -q -j 0 sdk collector storage ui
