"""The launcher starts fast on a compute node: it imports neither tornado nor Jupyter."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("tornado", "jupyter_server", "jupyter_client", "traitlets", "owslib")


def test_launcher_imports_no_server_stack():
    code = (
        "import sys, jupyter_wps.launcher, jupyter_wps.processes\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "", f"the launcher imports {result.stdout.strip()}"
