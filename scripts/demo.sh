#!/usr/bin/env bash
# Set up and run the main job on a fresh machine (Debian, Python 3.11), as root or in a
# virtualenv: a Jupyter server with the WPS and the demo processes on the embedded local
# backend, and the quickstart notebook executed against it. It installs into and runs the
# virtualenv it runs in, else the repository's .venv, made here (scripts/env.sh).
# Usage: bash scripts/demo.sh [--once]     (--once: stop the server after the quickstart)
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/env.sh

pip_install . nbclient nbconvert ipykernel

PORT=${PORT:-8888}
TOKEN=${TOKEN:-$("$PYTHON" -c 'import secrets; print(secrets.token_hex(16))')}
LOG=$(mktemp -t jupyter-wps-demo.XXXXXX.log)
"$PYTHON" -m jupyter_server --no-browser --allow-root --ip=127.0.0.1 --port="$PORT" \
    --IdentityProvider.token="$TOKEN" --WPSExtensionApp.config_file="$PWD/pywps.cfg" \
    >"$LOG" 2>&1 </dev/null &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT

WPS="http://127.0.0.1:$PORT/wps"
for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null -H "Authorization: token $TOKEN" \
        "$WPS?service=WPS&request=GetCapabilities" 2>/dev/null; then break; fi
    kill -0 $SERVER 2>/dev/null || { cat "$LOG"; exit 1; }
    sleep 0.2
done

echo "== WPS at $WPS (token $TOKEN); server log: $LOG"
JUPYTER_WPS_URL="$WPS" JUPYTER_WPS_TOKEN="$TOKEN" "$PYTHON" - <<'PY'
import nbformat
from nbclient import NotebookClient

notebook = nbformat.read("notebooks/quickstart.ipynb", as_version=4)
NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
for cell in notebook.cells:
    if cell.cell_type != "code":
        continue
    print(">>>", cell.source.splitlines()[0] if cell.source else "")
    for output in cell.get("outputs", []):
        text = output.get("text") or output.get("data", {}).get("text/plain", "")
        if text:
            print(text.rstrip())
PY

if [ "${1:-}" = "--once" ]; then exit 0; fi
echo "== Try: curl -H 'Authorization: token $TOKEN' '$WPS?service=WPS&request=GetCapabilities'"
echo "== Serving until Ctrl-C"
wait $SERVER
