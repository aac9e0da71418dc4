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

# The JupyterHub tests (tests/hub.py) install configurable-http-proxy with npm when missing;
# Debian's nodejs comes without npm
if ! command -v configurable-http-proxy >/dev/null && ! command -v npm >/dev/null; then
    _env_apt npm || _env_log "no npm: the JupyterHub tests will skip"
fi

set +e
"$PYTHON" -m pytest "$@"
status=$?
set -e
# pytest's "no tests collected" (5) is a failure here too: a run that tests nothing proves nothing
exit "$status"
