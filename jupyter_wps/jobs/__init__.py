"""Jobs: the job directory, the job file, and what a job's state is.

Imported by the launcher on compute nodes: no tornado, no Jupyter.
"""

from __future__ import annotations

import datetime as dt
import platform
import sys
from dataclasses import dataclass
from typing import Any, BinaryIO

import dill

from .document import BASE_URL_PLACEHOLDER
from .jobdir import JobDir, UnsafeJobFile, atomic_write, is_job_id, new_job_id, open_trusted
from .record import DamagedFile, JobRecord, Verdict

__all__ = [
    "BASE_URL_PLACEHOLDER",
    "DamagedFile",
    "JobDir",
    "JobRecord",
    "JobPayload",
    "UnsafeJobFile",
    "atomic_write",
    "dump_payload",
    "is_job_id",
    "new_job_id",
    "now",
    "open_payload",
    "open_trusted",
    "runtime_versions",
    "Verdict",
]


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def runtime_versions() -> dict[str, str]:
    """What wrote a job file: the launcher refuses a job written by another Python or dill."""
    return {
        "interpreter": sys.executable,
        "python": platform.python_version(),
        "dill": dill.__version__,
    }


@dataclass
class JobPayload:
    """What ``job.dill`` holds: the process and its validated inputs."""

    #: ``module:attribute`` when the process can be imported on the node, else None
    process_ref: str | None
    #: the process itself when it cannot be imported (defined interactively)
    process: Any
    inputs: dict[str, list[Any]]
    #: the request's response form and inputs, for the status document
    response: Any
    lineage: Any = None
    #: a process published from a kernel: its pickle (dill, by value) as the kernel sent
    #: it. The server copies the bytes without loading them; the launcher, running under
    #: the kernel's interpreter, loads them.
    process_pickle: bytes | None = None


def dump_payload(jobdir: JobDir, payload: JobPayload) -> None:
    """Write ``job.dill`` (0600, atomically)."""
    data = dill.dumps(payload, recurse=True)
    atomic_write(jobdir.job_file, data)


def open_payload(jobdir: JobDir) -> BinaryIO:
    """``job.dill``, opened after checking nobody but this uid could have written it."""
    return open(open_trusted(jobdir.job_file), "rb")  # noqa: SIM115 - the caller closes it
