"""Processes for the scheduler tests: one that fails, one that reports its environment.

Registered with ``processes = failing_processes:PROCESSES`` (``tests/`` is on the
``PYTHONPATH`` of the server and, through ``export_environment``, of its jobs).
"""

from __future__ import annotations

import json
import os
import sys
import time

from jupyter_wps import process


@process
def fail() -> str:
    """Fail: raises ValueError("boom")."""
    raise ValueError("boom")


@process
def env_dump() -> str:
    """The job's environment, as JSON."""
    return json.dumps(dict(os.environ), sort_keys=True)


@process
def chatty_sleep(seconds: float = 30.0) -> str:
    """Says something in launcher.log, then sleeps."""
    print(f"chatty_sleep: pid {os.getpid()}, sleeping {seconds} s", flush=True)
    print("chatty_sleep: going to sleep", file=sys.stderr, flush=True)
    time.sleep(seconds)
    return "slept"


PROCESSES = [fail, env_dump, chatty_sleep]
