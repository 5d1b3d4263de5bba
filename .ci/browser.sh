#!/bin/sh
# Browser end-to-end tests (tests/e2e): installs Debian's Chromium when it is missing, then runs them.
# Playwright's own browser download needs the internet, so the tests launch /usr/bin/chromium.
#   .ci/browser.sh                 install if needed, run tests/e2e
#   .ci/browser.sh --install-only  just make sure Chromium (and an emoji font) is there
# PYTHON picks the interpreter (default: .venv/bin/python if present, else python3).
set -eu
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
    echo "chromium is missing: installing it with apt-get" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    # The emoji font only makes screenshots show Telegram's ⭐ instead of empty boxes.
    $SUDO apt-get install -y -q chromium fonts-noto-color-emoji
fi

[ "${1:-}" = "--install-only" ] && exit 0

if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
exec "$PYTHON" -m pytest tests/e2e -q "$@"
