#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine (Debian, Python 3.11, root).
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# the JupyterLab extension is built from TypeScript during the install: it needs Node.js
if ! command -v node >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null
fi

python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"

# The browser tests (pytest -m browser) drive Debian's Chromium through Playwright (from the
# test extra; never `playwright install`, which downloads a browser of its own)
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing Debian's chromium for the browser tests" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null
fi

set +e
python3 -m pytest "$@"
status=$?
set -e
# pytest's "no tests collected" (5) is a failure here too: a run that tests nothing proves nothing
exit "$status"
