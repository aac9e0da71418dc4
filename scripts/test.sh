#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine (Debian, Python 3.11, root).
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"

set +e
python3 -m pytest "$@"
status=$?
set -e
# pytest's "no tests collected" (5) is a failure here too: a run that tests nothing proves nothing
exit "$status"
