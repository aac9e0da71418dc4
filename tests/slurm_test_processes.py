"""Processes for the Slurm backend tests (``tests/`` is on the launchers' PYTHONPATH).

Registered with ``processes = slurm_test_processes:env_dump``.
"""

from __future__ import annotations

import json
import os

from jupyter_wps import LiteralOutput, process


@process(
    title="Environment dump",
    abstract="Returns the launcher's environment (and its process ids) as JSON.",
    outputs={"output": LiteralOutput(title="The environment, as JSON")},
)
def env_dump() -> str:
    return json.dumps(
        {"environ": dict(os.environ), "pid": os.getpid(), "cwd": os.getcwd()}, sort_keys=True
    )
