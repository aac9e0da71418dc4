"""A process for ``tests/test_users_batch.py``: who runs the job (``tests/`` is on PYTHONPATH).

Registered with ``processes = users_batch_processes:whoami``.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import time

from jupyter_wps import LiteralOutput, process


@process(
    title="Who am I",
    abstract="The user the launcher runs as, and the owner and mode of its job directory.",
    outputs={"output": LiteralOutput(title="uid, user, job directory owner and mode, as JSON")},
)
def whoami(seconds: float = 0.0) -> str:
    time.sleep(seconds)  # long enough for the scheduler to be asked about the running job
    cwd = os.getcwd()  # both schedulers start the job in its job directory
    info = os.stat(cwd)
    return json.dumps(
        {
            "uid": os.getuid(),
            "euid": os.geteuid(),
            "gid": os.getgid(),
            "user": pwd.getpwuid(os.getuid()).pw_name,
            "cwd": cwd,
            "cwd_uid": info.st_uid,
            "cwd_mode": stat.S_IMODE(info.st_mode),
            "scheduler_job_id": os.environ.get("JOB_ID") or os.environ.get("SLURM_JOB_ID"),
        },
        sort_keys=True,
    )
