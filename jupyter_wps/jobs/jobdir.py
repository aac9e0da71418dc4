"""The job directory: the one source of truth about a job.

::

    <workdir>/<job-id>/
        job.dill       the process (a reference, or by value) and validated inputs; launcher only
        job.json       index record, written by the server
        status.xml     the WPS ExecuteResponse; after ProcessAccepted only the launcher writes it
        verdict.json   the server's own verdict (dismissed, launcher lost)
        outputs/       files the process wrote
        launcher.log   stdout/stderr of the launcher
        launcher.claim the launcher that runs the job (created exclusively: one launcher a job)

One writer per file, every write atomic (temporary file in the same directory,
fsync, rename), so readers on any machine never see half a document. Readers
reopen files on every read (shared filesystems cache).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import stat
import uuid
from pathlib import Path
from typing import Any

from .record import DamagedFile, JobRecord, Verdict, json_object

JOB_FILE = "job.dill"
RECORD_FILE = "job.json"
STATUS_FILE = "status.xml"
VERDICT_FILE = "verdict.json"
OUTPUTS_DIR = "outputs"
LOG_FILE = "launcher.log"
CLAIM_FILE = "launcher.claim"
#: The exit status of a launcher that found its job claimed by another one (EX_TEMPFAIL)
CLAIMED_EXIT = 75

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


#: how directories on the way are opened: as paths only where the OS can (O_PATH), so that
#: a directory that may be searched but not listed (0711, the status spool's) can be passed
_DIRECTORY_PATH = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY


def open_beneath(base: Path, names: list[str], flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """Open ``base/names[0]/.../names[-1]`` following no symlink below ``base``.

    Every component after ``base`` is opened relative to its directory with
    ``O_NOFOLLOW``, so a directory swapped for a symlink (an ``outputs/`` that
    points elsewhere) is refused with OSError instead of being followed.
    """
    fd = os.open(base, _DIRECTORY_PATH)
    try:
        for name in names[:-1]:
            child = os.open(name, _DIRECTORY_PATH | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
        return os.open(names[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=fd)
    finally:
        os.close(fd)


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

    def _read(self, name: str) -> bytes | None:
        """A file of this directory (no symlink followed), or None if it does not exist."""
        try:
            fd = open_beneath(self.path.parent, [self.job_id, name], os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise DamagedFile(name, "a symlink on its path (not followed)") from None
            raise DamagedFile(name, exc.strerror or str(exc)) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise DamagedFile(name, "not a regular file")
            with os.fdopen(fd, "rb", closefd=False) as stream:
                return stream.read()
        finally:
            os.close(fd)

    def read_record(self) -> JobRecord | None:
        """``job.json`` (None if absent); :class:`DamagedFile` if it is not a valid record."""
        data = self._read(RECORD_FILE)
        return None if data is None else JobRecord.from_json(data, RECORD_FILE)

    def write_record(self, record: JobRecord) -> None:
        atomic_write(self.record_file, record.to_json())

    def read_status(self) -> bytes | None:
        """``status.xml`` as written (None if absent): parse it as untrusted XML."""
        return self._read(STATUS_FILE)

    def write_status(self, document: bytes) -> None:
        atomic_write(self.status_file, document)

    def read_verdict(self) -> Verdict | None:
        data = self._read(VERDICT_FILE)
        return None if data is None else Verdict.from_json(data, VERDICT_FILE)

    def write_verdict(self, verdict: Verdict) -> None:
        atomic_write(self.verdict_file, verdict.to_json())

    def has_verdict(self) -> bool:
        return os.path.lexists(self.verdict_file)

    def claim(self, holder: dict[str, Any]) -> bool:
        """Claim the job for one launcher: True for the first caller, False ever after.

        The claim is created exclusively (``O_EXCL``, atomic on local and NFS v3+
        filesystems, no lock), so a job handed over twice (a crash during the
        hand-over, a retried submission) is run by one launcher only.
        """
        try:
            fd = os.open(
                self.path / CLAIM_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600
            )
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as stream:
            stream.write(json.dumps(holder, sort_keys=True).encode())
            stream.flush()
            os.fsync(stream.fileno())
        return True

    def read_claim(self) -> dict[str, Any] | None:
        """Who claimed the job (host, pid, native id, time); None if nobody (yet)."""
        data = self._read(CLAIM_FILE)
        if data is None:
            return None
        claim = json_object(data, CLAIM_FILE)
        if not all(isinstance(v, str) for v in claim.values()):
            raise DamagedFile(CLAIM_FILE, "not an object of strings")
        return claim

    def log_tail(self, max_bytes: int = 2000) -> str:
        """The end of ``launcher.log``: what a failed launcher said last (no symlink followed)."""
        try:
            fd = open_beneath(
                self.path.parent, [self.job_id, LOG_FILE], os.O_RDONLY | os.O_NONBLOCK
            )
        except OSError:
            return ""
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return ""
            os.lseek(fd, max(0, info.st_size - max_bytes), os.SEEK_SET)
            return os.read(fd, max_bytes).decode("utf-8", "replace").strip()
        finally:
            os.close(fd)

    def outputs(self, record: JobRecord) -> Path:
        """Where the job's outputs are: the record's ``outputs_dir`` or ``outputs/``."""
        return Path(record.outputs_dir) if record.outputs_dir else self.outputs_dir


def open_output(outputs_dir: Path, name: str, flags: int = os.O_RDONLY) -> int:
    """Open output file ``name`` of a job, following no symlink (not even ``outputs_dir``).

    FileNotFoundError for a name with path tricks.
    """
    if not OUTPUT_NAME.match(name):
        raise FileNotFoundError(name)
    return open_beneath(outputs_dir.parent, [outputs_dir.name, name], flags)


def write_output(outputs_dir: Path, name: str, data: bytes) -> None:
    """Write an output file (the launcher), never through a symlink planted in its place."""
    fd = open_output(outputs_dir, name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)


def clear_outputs(outputs_dir: Path) -> None:
    """Delete what a job's outputs directory holds (a symlink in its place is left alone)."""
    try:
        fd = open_beneath(outputs_dir.parent, [outputs_dir.name], os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        for entry in os.scandir(fd):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(outputs_dir / entry.name, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)
