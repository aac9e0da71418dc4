"""The status spool: copies of status documents that outlive a user's server.

Under JupyterHub a user's server may be stopped or culled while its batch jobs
run. So that the status URLs it handed out keep answering, the launcher copies
each status document it writes into ``<spool>/<user>/<job>-<cap>.status.xml``,
and the server writes its own verdicts (dismissed, launcher lost) as complete
documents into ``<job>-<cap>.final.xml``: one writer per file, atomic renames.
The hub's WPS service (``jupyter_wps.hub``), running as its own user, serves
them: the final document when there is one, else the launcher's.

The spool is readable by that service and nobody needs to list it: each user's
directory is ``0711`` and each file ``0644``, named by the job id and the job's
capability (an HMAC only the user's server can make), so a file can be read only
by whoever holds its status URL.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from .jobdir import JOB_ID, atomic_write, open_beneath

STATUS_SUFFIX = ".status.xml"
FINAL_SUFFIX = ".final.xml"
#: What a user name and a capability may look like in a spool path
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
_CAPABILITY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def user_spool(spool: Path, user: str) -> Path:
    """``<spool>/<user>``, made ``0711`` for this user if it does not exist."""
    if not _USER.match(user):
        raise ValueError(f"{user!r} cannot name a spool directory")
    directory = Path(spool) / user
    try:
        os.mkdir(directory, 0o711)
        os.chmod(directory, 0o711)  # whatever the umask
    except FileExistsError:
        info = os.lstat(directory)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            raise PermissionError(f"{directory} is not a directory of this user") from None
    return directory


def stem(directory: Path, job_id: str, capability: str) -> str:
    """The path of a job's spool files, without their suffix."""
    return str(Path(directory) / f"{job_id}-{capability}")


def write(stem_path: str, suffix: str, document: bytes) -> None:
    """Write one spool file (readable by the hub's service), atomically."""
    atomic_write(Path(stem_path + suffix), document, mode=0o644)


def remove(stem_path: str) -> None:
    for suffix in (STATUS_SUFFIX, FINAL_SUFFIX):
        Path(stem_path + suffix).unlink(missing_ok=True)


def read(spool: Path, user: str, job_id: str, capability: str) -> bytes | None:
    """The job's spooled status (the final document first), or None.

    None too for names that could not be ours; nothing is followed through a symlink.
    """
    if not (_USER.match(user) and JOB_ID.match(job_id) and _CAPABILITY.match(capability)):
        return None
    for suffix in (FINAL_SUFFIX, STATUS_SUFFIX):
        try:
            fd = open_beneath(Path(spool), [user, f"{job_id}-{capability}{suffix}"])
        except FileNotFoundError:
            continue
        except OSError:
            return None
        with os.fdopen(fd, "rb") as stream:
            if stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                return stream.read()
    return None
