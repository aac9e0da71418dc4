#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine (Debian, Python 3.11), as root or
# in a virtualenv: in the virtualenv it runs in, else in the repository's .venv, made here
# (scripts/env.sh); as root, Debian's Node.js and Chromium are installed when missing.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

pip_install -e ".[test]"

# The browser tests (pytest -m browser) drive Debian's Chromium through Playwright (from the
# test extra; never `playwright install`, which downloads a browser of its own)
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    _env_apt chromium fonts-liberation || _env_log "no Chromium: the browser tests will skip"
fi

set +e
"$PYTHON" -m pytest "$@"
status=$?
set -e
# pytest's "no tests collected" (5) is a failure here too: a run that tests nothing proves nothing
exit "$status"
