"""The job directory: the one source of truth about a job.

::

    <workdir>/<job-id>/
        job.dill       the process (a reference, or by value) and validated inputs; launcher only
        job.json       index record, written by the server
        status.xml     the WPS ExecuteResponse; after ProcessAccepted only the launcher writes it
        verdict.json   the server's own verdict (dismissed, launcher lost)
        outputs/       files the process wrote
        launcher.log   stdout/stderr of the launcher

One writer per file, every write atomic (temporary file in the same directory,
fsync, rename), so readers on any machine never see half a document. Readers
reopen files on every read (shared filesystems cache).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
import uuid
from pathlib import Path
from typing import Any

JOB_FILE = "job.dill"
RECORD_FILE = "job.json"
STATUS_FILE = "status.xml"
VERDICT_FILE = "verdict.json"
OUTPUTS_DIR = "outputs"
LOG_FILE = "launcher.log"

#: A job id as we make them: a random UUID (unguessable, and no path tricks).
JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
#: An output file name: no separators, no leading dot.
OUTPUT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}$")


class UnsafeJobFile(Exception):
    """A job file that must not be trusted (owner, permissions, symlink)."""


def new_job_id() -> str:
    return str(uuid.uuid4())


def is_job_id(text: str) -> bool:
    return bool(JOB_ID.match(text))


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as stream:
            os.fchmod(stream.fileno(), mode)  # whatever the umask
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_file(path: Path) -> bytes | None:
    """The content of ``path`` (not following a symlink), or None if it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as stream:
        return stream.read()


def open_trusted(path: Path) -> int:
    """Open a file that will be executed as code by this uid: refuse what others could plant.

    The file is opened without following symlinks; the checks run on the open
    descriptor (no race between check and use). The file and its directory
    must belong to this uid and be writable by nobody else.
    """
    uid = os.geteuid()
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise UnsafeJobFile(f"cannot open job directory {path.parent}: {exc}") from None
    try:
        _check_owner(os.fstat(dir_fd), uid, f"job directory {path.parent}")
        try:
            fd = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
        except OSError as exc:
            raise UnsafeJobFile(f"cannot open {path} without following links: {exc}") from None
    finally:
        os.close(dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeJobFile(f"{path} is not a regular file")
        _check_owner(info, uid, str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_owner(info: os.stat_result, uid: int, what: str) -> None:
    if info.st_uid != uid:
        raise UnsafeJobFile(f"{what} belongs to uid {info.st_uid}, not to this user (uid {uid})")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeJobFile(f"{what} is writable by group or others (mode {info.st_mode:o})")


class JobDir:
    """Paths and reads/writes of one job directory."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.job_id = self.path.name

    def __repr__(self) -> str:
        return f"JobDir({str(self.path)!r})"

    @classmethod
    def create(cls, workdir: Path, job_id: str | None = None) -> JobDir:
        """Make a new job directory, private to its owner (0700)."""
        job_id = job_id or new_job_id()
        path = Path(workdir) / job_id
        for directory in (path, path / OUTPUTS_DIR):
            os.mkdir(directory, 0o700)
            os.chmod(directory, 0o700)  # whatever the umask
        return cls(path)

    job_file = property(lambda self: self.path / JOB_FILE)
    record_file = property(lambda self: self.path / RECORD_FILE)
    status_file = property(lambda self: self.path / STATUS_FILE)
    verdict_file = property(lambda self: self.path / VERDICT_FILE)
    log_file = property(lambda self: self.path / LOG_FILE)
    outputs_dir = property(lambda self: self.path / OUTPUTS_DIR)

    def read_record(self) -> dict[str, Any] | None:
        data = read_file(self.record_file)
        return None if data is None else json.loads(data)

    def write_record(self, record: dict[str, Any]) -> None:
        atomic_write(self.record_file, json.dumps(record, indent=1, sort_keys=True).encode())

    def read_status(self) -> bytes | None:
        return read_file(self.status_file)

    def write_status(self, document: bytes) -> None:
        atomic_write(self.status_file, document)

    def read_verdict(self) -> dict[str, Any] | None:
        data = read_file(self.verdict_file)
        return None if data is None else json.loads(data)

    def write_verdict(self, verdict: dict[str, Any]) -> None:
        atomic_write(self.verdict_file, json.dumps(verdict, sort_keys=True).encode())

    def has_verdict(self) -> bool:
        return self.verdict_file.exists()

    def log_tail(self, max_bytes: int = 2000) -> str:
        """The end of ``launcher.log``: what a failed launcher said last."""
        try:
            with open(self.log_file, "rb") as stream:
                stream.seek(0, os.SEEK_END)
                size = stream.tell()
                stream.seek(max(0, size - max_bytes))
                return stream.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def output_path(self, name: str, outputs_dir: Path | None = None) -> Path | None:
        """The file of output ``name``, or None for a name with path tricks."""
        if not OUTPUT_NAME.match(name):
            return None
        return (outputs_dir or self.outputs_dir) / name
