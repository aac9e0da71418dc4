"""The job manager: writes job directories, hands them to a backend, and keeps watch.

It never unpickles a job file: it works from ``job.json``, the status
documents the launchers write, and its own verdicts. Everything it knows can
be rebuilt from the job directories, so a restarted server carries on: queued
jobs are queued again, running launchers adopted again, and a job whose
launcher is gone without a final status is reported failed with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import datetime as dt
import getpass
import hashlib
import hmac
import logging
import os
import shutil
import stat
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..backends import (
    FINISHED,
    UNKNOWN,
    Backend,
    NativeState,
    SubmitLater,
    load_backend,
)
from ..config import Config
from ..jobs import (
    JobDir,
    JobPayload,
    dump_payload,
    is_job_id,
    new_job_id,
    now,
    runtime_versions,
    spool,
)
from ..jobs.document import complete_urls, status_document
from ..jobs.jobdir import CLAIMED_EXIT, clear_outputs, open_output, read_file
from ..jobs.lease import Lease
from ..jobs.record import DamagedFile, JobRecord, Verdict
from ..process import Process
from ..wps.exceptions import NoApplicableCode, NoSuchJob, OWSException, ServerBusy
from ..wps.request import DataInput, ResponseForm
from ..wps.response import Status, StatusSummary, read_status
from ..wps.states import FINAL_STATES, JobState
from .published import PublishedProcess

log = logging.getLogger("jupyter_wps")

SECRET_FILE = ".jupyter-wps-secret"
LEASE_FILE = ".jupyter-wps-lease"
#: seconds a workdir lease lives without renewal (renewed every sixth of it)
LEASE_TTL = 30.0
#: seconds between the lease holder's scans for job directories other servers wrote
SCAN_INTERVAL = 3.0
#: seconds before a submission the scheduler deferred is tried again
SUBMIT_RETRY = 5.0
#: seconds after a dismissal before the scheduler is asked again to cancel the job
CANCEL_RETRY = 15.0
#: seconds a background loop waits after an error before it tries again (doubling to
#: the maximum while the error lasts)
LOOP_RETRY, LOOP_RETRY_MAX = 1.0, 30.0


class JobNotFound(NoSuchJob):
    """No such job, or not the caller's (the same answer, so ids leak nothing)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r}", locator="jobId")


@dataclass
class Job:
    """What the manager keeps in memory of one job (all of it rebuilt from disk)."""

    dir: JobDir
    record: JobRecord
    verdict: Verdict | None = None
    #: the summary once the job is final (final states never change)
    final: StatusSummary | None = None
    #: the final status document as written (placeholders in it): served without re-reading
    final_document: bytes | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    #: successive scheduler queries that did not list the job
    missing: int = 0
    #: why the job's record could not be read (the job is then reported failed)
    damaged: str | None = None
    #: being handed to the backend: not done (nor removed) before the hand-over ends
    handing_over: bool = False
    #: the record or verdict changed but could not be written yet (a full disk)
    unsaved: bool = False
    #: when the launcher claimed the job (its start), once seen
    claimed: dt.datetime | None = None

    @property
    def id(self) -> str:
        return self.dir.job_id

    @property
    def owner(self) -> str:
        return self.record.owner

    @property
    def native_id(self) -> str | None:
        return self.record.native_id

    @property
    def outputs_dir(self) -> Path:
        return self.dir.outputs(self.record)


def owned_directory(path: str | Path) -> bool:
    """A real directory (not a symlink) of this user: only those hold our jobs."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()


def check_private(workdir: Path) -> None:
    """Refuse a workdir someone else owns or can write: its job files would be theirs.

    (A workdir another user prepared would hand them the capability secret, the job
    records and the status documents this server serves.)
    """
    info = os.lstat(workdir)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise PermissionError(
            f"the workdir {workdir} is not a directory of this user (uid {os.geteuid()}): "
            "use a directory you own"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionError(
            f"the workdir {workdir} is writable by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):o}): chmod go-w it, or use another"
        )


class JobQueue:
    """Jobs waiting for the backend: synchronous ones first (a client is waiting), each
    kind in the order it came."""

    def __init__(self) -> None:
        self._sync: collections.deque[str] = collections.deque()
        self._async: collections.deque[str] = collections.deque()

    def push(self, job_id: str, sync: bool, front: bool = False) -> None:
        queue = self._sync if sync else self._async
        if front:
            queue.appendleft(job_id)
        else:
            queue.append(job_id)

    def pop(self) -> str:
        return (self._sync or self._async).popleft()

    def remove(self, job_id: str) -> None:
        for queue in (self._sync, self._async):
            with contextlib.suppress(ValueError):
                queue.remove(job_id)

    def clear(self) -> None:
        self._sync.clear()
        self._async.clear()

    def __len__(self) -> int:
        return len(self._sync) + len(self._async)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._sync or job_id in self._async


class JobManager:
    """Submits, watches, cancels and cleans up the jobs of one workdir.

    Faults are normal: every file of a job directory is read as untrusted input
    (a damaged one makes that job failed, with the reason), and the background
    loops survive any error, retry, and report their health (:attr:`problems`);
    while one is unhealthy, new jobs are refused with ServerBusy.
    """

    def __init__(
        self,
        config: Config,
        workdir: Path,
        backend: Backend | None = None,
        owner: str = "",
    ) -> None:
        self.config = config
        self.workdir = Path(workdir).absolute()
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        check_private(self.workdir)
        #: who owns a job whose record is damaged (the workdir's owner)
        self.owner = owner
        self.backend = backend or load_backend(config.backend_name)(config, self._on_exit)
        self.jobs: dict[str, Job] = {}
        self._queue = JobQueue()
        #: ids of job directories being written (they count against maxprocesses already)
        self._writing: set[str] = set()
        self._running: set[str] = set()
        self._secret = self._load_secret()
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._started: asyncio.Future[None] | None = None
        #: what is wrong now, by part (dispatch, watch, lease, ...): empty when healthy
        self.problems: dict[str, str] = {}
        #: only the lease holder submits and reconciles; other servers on the workdir
        #: write job directories that the holder picks up
        self.lease = Lease(self.workdir / LEASE_FILE, ttl=max(LEASE_TTL, 10 * config.poll_interval))
        self._lease_renewed = time.monotonic()
        #: called at every round of the watch loop while jobs run (running jobs as activity)
        self.on_busy: Callable[[], None] | None = None
        #: this server's directory of the status spool (jobs/spool.py), if configured
        self.spool = (
            spool.user_spool(Path(config.status_spool), owner or getpass.getuser())
            if config.status_spool
            else None
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Re-read the workdir, then start the submission and reconciliation loops.

        Called at server start and by every request (pytest-jupyter never runs the
        server's start hooks): the work is done once, and concurrent callers wait for it.
        """
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await self._started

    async def _start(self) -> None:
        """Never fails: what goes wrong here is retried by the loops and reported."""
        try:
            await asyncio.to_thread(self.lease.acquire)
            self._lease_renewed = time.monotonic()
        except OSError as exc:
            self._trouble("lease", f"cannot take the lease on {self.workdir}: {exc}")
        try:
            await self._recover()
        except Exception as exc:  # noqa: BLE001 - the watch loop scans again
            log.exception("jupyter-wps: recovering the jobs in %s failed", self.workdir)
            self._trouble("recovery", f"reading the workdir failed: {exc}")
        self._tasks = [
            asyncio.ensure_future(self._keep_running("dispatch", self._dispatch_loop)),
            asyncio.ensure_future(self._keep_running("watch", self._watch_loop)),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        self._started = None
        with contextlib.suppress(OSError):
            self.lease.release()
        await self.backend.close()

    def _trouble(self, part: str, problem: str | None) -> None:
        """Record (or, with None, clear) what is wrong with one part of the manager."""
        if problem is None:
            if self.problems.pop(part, None) is not None:
                log.info("jupyter-wps: %s works again", part)
        elif self.problems.get(part) != problem:
            log.warning("jupyter-wps: %s: %s", part, problem)
            self.problems[part] = problem

    async def _keep_running(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """Run a background loop for good: after an error it is logged, reported as the
        loop's problem, and the loop starts again after a pause (growing while it lasts)."""
        pause = LOOP_RETRY
        while True:
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - no loop may die
                log.exception("jupyter-wps: the %s loop failed; it starts again", name)
                self._trouble(name, f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(pause)
                pause = min(2 * pause, LOOP_RETRY_MAX)
                self._wakeup.set()

    def _load_secret(self) -> bytes:
        """The key that signs capability URLs: made once per workdir, private to its owner."""
        path = self.workdir / SECRET_FILE
        data = read_file(path)
        if data is None:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except FileExistsError:
                data = read_file(path)
            else:
                data = base64.b64encode(os.urandom(32))
                with os.fdopen(fd, "wb") as stream:
                    stream.write(data)
        return data or b""

    def _index(self, path: str) -> Job | None:
        """Read one job directory into memory (None if it is no job's, or not ours).

        A damaged ``job.json`` or ``verdict.json`` does not hide the job: it is kept
        (its owner taken as the workdir's) and reported failed with the reason.
        """
        if not owned_directory(path):
            log.warning("ignoring %s: not a directory of this user", path)
            return None
        jobdir = JobDir(path)
        damaged = None
        try:
            record = jobdir.read_record()
        except (OSError, DamagedFile) as exc:
            record, damaged = None, str(exc)
            log.warning("job %s: %s", jobdir.job_id, exc)
        if record is None and damaged is None:
            return None  # being written, or not a job directory
        if record is None or record.id != jobdir.job_id:
            damaged = damaged or f"job.json belongs to job {record.id!r}"  # type: ignore[union-attr]
            record = JobRecord(jobdir.job_id, "unknown", self.owner, now(), finished=now())
        job = Job(jobdir, record, damaged=damaged)
        self._read_verdict(job)
        self.jobs[job.id] = job
        return job

    def _read_verdict(self, job: Job) -> None:
        """The verdict on disk; a damaged one is the job's failure, with the reason."""
        try:
            job.verdict = job.dir.read_verdict()
        except (OSError, DamagedFile) as exc:
            log.warning("job %s: %s", job.id, exc)
            job.verdict = Verdict("failed", f"the job cannot be trusted: {exc}", now())

    def _scan(self) -> list[Job]:
        """Index the job directories not yet in memory; returns them."""
        found = []
        with os.scandir(self.workdir) as entries:
            for entry in entries:
                if (
                    entry.name not in self.jobs
                    and entry.name not in self._writing
                    and is_job_id(entry.name)
                    and entry.is_dir(follow_symlinks=False)
                ):
                    job = self._index(entry.path)
                    if job is not None:
                        found.append(job)
        return found

    async def _recover(self) -> None:
        """Index every job directory; the lease holder takes charge of the unfinished ones."""
        self._scan()
        if self.lease.held:
            await self._take_charge(list(self.jobs.values()))
        log.info(
            "jupyter-wps: %d jobs in %s, %d queued, %d running (%s)",
            len(self.jobs),
            self.workdir,
            len(self._queue),
            len(self._running),
            "lease held" if self.lease.held else "another server holds the lease",
        )

    async def _take_charge(self, jobs: list[Job]) -> None:
        """Queue the unfinished jobs not yet submitted; adopt those that were."""
        pending = []
        for job in jobs:
            if job.id in self._running or job.id in self._queue:
                continue
            try:
                if await self._adopt_or_queue(job):
                    pending.append(job)
            except Exception:  # noqa: BLE001 - one job's trouble is that job's
                log.exception("jupyter-wps: taking charge of job %s failed", job.id)
        pending.sort(key=lambda j: j.record.created)
        for job in pending:
            self._queue.push(job.id, sync=job.record.sync)
        if self._queue:
            self._wakeup.set()

    async def _adopt_or_queue(self, job: Job) -> bool:
        """Adopt an unfinished job that was handed over; True if it must be submitted."""
        self._refresh_verdict(job)
        if self._final_summary(job) is not None:
            return False
        if job.native_id is None and job.record.submitting is not None:
            # cut short while being handed over: its launcher may run already
            native_id = self._claimant(job) or await self.backend.find(job.id)
            if native_id is not None:
                job.record.native_id = native_id
                self._save(job)
        if job.native_id is None:
            return True
        self._running.add(job.id)
        self.backend.adopt(job.id, job.native_id)
        return False

    def _claimant(self, job: Job) -> str | None:
        """The native id of the launcher that claimed the job, if one did."""
        try:
            claim = job.dir.read_claim()
        except (OSError, DamagedFile) as exc:
            log.warning("job %s: %s", job.id, exc)
            return None
        return (claim or {}).get("native_id") or None

    def _refresh_verdict(self, job: Job) -> None:
        """Another server on the workdir may have given its verdict (a dismissal)."""
        if job.verdict is None and job.final is None:
            self._read_verdict(job)

    # ------------------------------------------------------------------ submission

    async def submit(
        self,
        process: Process,
        inputs: dict[str, list[Any]],
        form: ResponseForm,
        owner: str,
        lineage: list[DataInput] | None = None,
        sync: bool = False,
        resources: dict[str, Any] | None = None,
    ) -> Job:
        """Write a new job directory (ProcessAccepted) and queue it.

        The files are written (and fsynced) in a thread: the event loop keeps serving.
        A job that cannot be written leaves nothing behind and is refused (ServerBusy),
        and so is every job while a background loop is unhealthy.
        """
        if self.problems:
            raise ServerBusy(
                "the server cannot take jobs now: "
                + "; ".join(f"{part}: {problem}" for part, problem in self.problems.items())
            )
        active = len(self._queue) + len(self._running) + len(self._writing)
        if 0 < self.config.maxprocesses <= active:
            raise ServerBusy(
                f"{active} jobs are queued or running; the limit is {self.config.maxprocesses}"
            )
        job_id = new_job_id()
        self._writing.add(job_id)  # being written: not for _scan() to pick up as another's
        try:
            jobdir, record = await asyncio.to_thread(
                self._write_job, job_id, process, inputs, form, owner, lineage, sync, resources
            )
        except OSError as exc:
            log.warning("jupyter-wps: cannot write job %s: %s", job_id, exc)
            raise ServerBusy(f"the server cannot write the job's directory: {exc}") from None
        finally:
            self._writing.discard(job_id)
        job = Job(jobdir, record)
        self.jobs[job.id] = job
        if not self.lease.held:
            return job  # the lease holder finds it at its next scan
        self._queue.push(job.id, sync=sync)
        self._wakeup.set()
        return job

    def _write_job(
        self,
        job_id: str,
        process: Process,
        inputs: dict[str, list[Any]],
        form: ResponseForm,
        owner: str,
        lineage: list[DataInput] | None,
        sync: bool,
        resources: dict[str, Any] | None,
    ) -> tuple[JobDir, JobRecord]:
        """The new job's directory: job.dill, job.json and the first status.xml.

        All or nothing: a directory that cannot be completed (a full disk) is removed.
        """
        # a process published from a kernel: its pickle's bytes, copied, never loaded here
        published = isinstance(process, PublishedProcess)
        pickled = process.read_pickle() if published else None
        jobdir = JobDir.create(self.workdir, job_id)
        outputs_dir = jobdir.outputs_dir
        try:
            if self.config.outputpath:
                outputs_dir = Path(self.config.outputpath) / jobdir.job_id
                outputs_dir.mkdir(parents=True, mode=0o700)
            record = JobRecord(
                id=jobdir.job_id,
                process=process.identifier,
                process_title=process.title,
                owner=owner,
                backend=self.backend.name,
                created=now(),
                store=form.store,
                status=form.status,
                raw=form.raw,
                sync=sync,
                language=self.config.language,
                outputs_dir=str(outputs_dir),
                # the interpreter the job runs under and the versions that pickled its
                # process: the publishing kernel's for a published process
                runtime=dict(process.runtime) if published else runtime_versions(),
                resources=resources or {},
                published={"owner": process.owner, "time": process.published}
                if published
                else None,
                spool=spool.stem(self.spool, job_id, self.capability(job_id))
                if self.spool
                else None,
            )
            dump_payload(
                jobdir,
                JobPayload(
                    process_ref=None if published else process.import_path,
                    process=None if published or process.import_path else process,
                    inputs=inputs,
                    response=form,
                    lineage=lineage if form.lineage else None,
                    process_pickle=pickled,
                ),
            )
            accepted = status_document(
                process,
                jobdir.job_id,
                Status("accepted", now(), "Process accepted"),
                form.store,
                self.config.language,
                lineage=(lineage, form) if form.lineage and lineage else None,
            )
            jobdir.write_status(accepted)
            if record.spool:
                spool.write(record.spool, spool.STATUS_SUFFIX, accepted)
            jobdir.write_record(record)  # last: a job directory with a record is complete
        except BaseException:
            if self.spool:
                spool.remove(spool.stem(self.spool, job_id, self.capability(job_id)))
            shutil.rmtree(jobdir.path, ignore_errors=True)
            if outputs_dir != jobdir.outputs_dir:
                shutil.rmtree(outputs_dir, ignore_errors=True)
            raise
        return jobdir, record

    async def wait(self, job: Job, timeout: float | None = None) -> None:
        """Until the job is final."""
        await asyncio.wait_for(job.done.wait(), timeout)

    async def _dispatch_loop(self) -> None:
        """Hand queued jobs to the backend while it has capacity.

        A submission the scheduler refuses for now (a limit) goes back to the head of
        the queue and is retried after a pause: it is never dropped. So does one that
        fails for want of disk space: the job is kept, the problem reported.
        """
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue and (
                self.backend.capacity is None or len(self._running) < self.backend.capacity
            ):
                job = self.jobs.get(self._queue.pop())
                if job is not None:
                    self._refresh_verdict(job)
                if job is None or job.verdict is not None or not self.lease.held:
                    continue
                try:
                    handed_over = await self._submit(job)
                except OSError as exc:  # the record cannot be written: nothing was started
                    self._trouble("dispatch", f"cannot write to the workdir: {exc}")
                    handed_over = False
                else:
                    self._trouble("dispatch", None)
                if not handed_over:
                    self._queue.push(job.id, sync=job.record.sync, front=True)
                    await asyncio.sleep(SUBMIT_RETRY)
                    self._wakeup.set()
                    break

    async def _submit(self, job: Job) -> bool:
        """Submit one job; False when it must be tried again later.

        Raises OSError (nothing started) when ``job.json`` cannot record the hand-over.
        """
        job.record.submitting = now()
        job.dir.write_record(job.record)  # a crash from here on: find() it after a restart
        self._running.add(job.id)
        job.handing_over = True
        try:
            job.record.native_id = await self.backend.submit(
                job.id,
                job.dir.path,
                job.record.runtime.get("interpreter"),
                job.record.resources,
            )
        except SubmitLater as exc:
            self._running.discard(job.id)
            since = job.record.deferred_since = job.record.deferred_since or now()
            waited = (now() - since).total_seconds()
            if waited > self.config.submit_timeout:
                self._set_verdict(
                    job, "failed", f"the scheduler refused the job for {waited:.0f} s: {exc}"
                )
                return True
            log.info("the scheduler deferred job %s: %s", job.id, exc)
            job.record.deferred = str(exc)
            self._save(job)
            return False
        except Exception as exc:  # noqa: BLE001 - the backend refused: the job fails, visibly
            log.exception("submitting job %s failed", job.id)
            self._running.discard(job.id)
            self._set_verdict(job, "failed", f"the job could not be submitted: {exc}")
            return True
        finally:
            job.handing_over = False
            if job.final is not None:
                job.done.set()  # it ended during the hand-over
        job.record.submitted = now()
        job.record.submitted_by = self.lease.holder
        self._save(job)
        return True

    def _save(self, job: Job) -> None:
        """Write the job's record (the lease holder is its one writer); if that fails (a
        full disk), the watch loop writes it later."""
        if job.id not in self.jobs or job.damaged:
            return  # removed meanwhile, or not ours to rewrite
        try:
            job.dir.write_record(job.record)
            if job.verdict is not None and not job.dir.has_verdict():
                job.dir.write_verdict(job.verdict)
        except OSError as exc:
            log.warning("jupyter-wps: job %s not saved yet: %s", job.id, exc)
            job.unsaved = True
        else:
            job.unsaved = False

    # ------------------------------------------------------------------ watching

    def _on_exit(self, job_id: str, exit_code: int | None, reason: str = "") -> None:
        """A launcher has ended (or its job is gone from the scheduler): settle the job.

        A launcher that found the job claimed by another launcher (a job handed over
        twice) changes nothing but the native id the job is watched by.
        """
        job = self.jobs.get(job_id)
        self._running.discard(job_id)
        self._wakeup.set()
        if job is None:
            return
        if exit_code == CLAIMED_EXIT and self._follow_claimant(job):
            return
        self._refresh_verdict(job)
        if job.verdict is None and self._final_summary(job) is None:
            reason = reason or (
                f"the launcher ended with exit code {exit_code}"
                if exit_code is not None
                else "the launcher is gone"
            )
            message = f"{reason}, without a final status"
            tail = job.dir.log_tail()
            self._set_verdict(
                job, "failed", f"{message}. launcher.log: {tail}" if tail else message
            )
        if job.verdict is not None and job.verdict.state == "dismissed":
            self._delete_outputs(job)
        self._finish(job)

    def _follow_claimant(self, job: Job) -> bool:
        """Watch the launcher that claimed ``job`` instead of the one that refused it."""
        native_id = self._claimant(job)
        if native_id is None or native_id == job.native_id:
            return False
        log.info("job %s is run by launcher %s (claimed before)", job.id, native_id)
        job.record.native_id = native_id
        self._save(job)
        self._running.add(job.id)
        self.backend.adopt(job.id, native_id)
        return True

    def _finish(self, job: Job) -> None:
        """The job is final: record when (the lease holder is job.json's one writer)."""
        if job.record.finished is None:
            job.record.finished = now()
            if self.lease.held:
                self._save(job)
        if not job.handing_over:
            job.done.set()

    async def _watch_loop(self) -> None:
        """Keep the lease; reconcile jobs with the backend; pick up others' jobs; expire.

        Each step is guarded on its own: one that fails is reported and tried again at
        the next round, the others go on.
        """
        last_cleanup = last_scan = last_lease = 0.0
        while True:
            await asyncio.sleep(self.config.poll_interval)
            moment = time.monotonic()
            if moment - last_lease > self.lease.ttl / 6:
                last_lease = moment
                await self._step("lease", self._keep_lease)
            if not self.lease.held:
                await self._step("watch", self._follow)
                continue
            await self._step("watch", self._query_backend)
            if self._running and self.on_busy is not None:
                await self._step("activity", self.on_busy)
            await self._step("save", self._save_pending)
            if moment - last_scan > SCAN_INTERVAL:
                last_scan = moment
                await self._step("scan", self._scan_and_take_charge)
            if moment - last_cleanup > min(3600.0, self.config.job_retention / 2):
                last_cleanup = moment
                await self._step("retention", self.remove_expired)

    async def _step(self, part: str, step: Callable[[], Any]) -> None:
        """One step of the watch loop; its error is reported, never raised."""
        try:
            result = step()
            if asyncio.iscoroutine(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the loop goes on
            log.warning(
                "jupyter-wps: %s failed: %s", part, exc, exc_info=not isinstance(exc, OSError)
            )
            self._trouble(part, f"{type(exc).__name__}: {exc}")
        else:
            self._trouble(part, None)

    async def _scan_and_take_charge(self) -> None:
        await self._take_charge(self._scan())

    def _save_pending(self) -> None:
        """Write the records and verdicts a full disk kept from being written."""
        for job in [j for j in self.jobs.values() if j.unsaved]:
            self._save(job)
            if job.unsaved:
                raise OSError(f"job {job.id} cannot be saved yet")

    async def _keep_lease(self) -> None:
        """Renew the lease, or take it over when its holder stopped renewing it.

        A lease that cannot be written (a full disk) is given up once it may have run
        out, so that two servers never both submit; it is taken again when it can be.
        """
        if self.lease.held:
            try:
                renewed = await asyncio.to_thread(self.lease.renew)
            except OSError:
                if time.monotonic() - self._lease_renewed < self.lease.ttl / 2:
                    raise
                self.lease.held = False
                renewed = False
            if renewed:
                self._lease_renewed = time.monotonic()
                return
            log.warning("jupyter-wps: no longer holding the lease on %s", self.workdir)
            self._queue.clear()
            self._running.clear()
        elif await asyncio.to_thread(self.lease.acquire):
            self._lease_renewed = time.monotonic()
            log.info("jupyter-wps: took over the lease on %s", self.workdir)
            self._scan()
            await self._take_charge(list(self.jobs.values()))

    def _follow(self) -> None:
        """Without the lease: settle this server's unfinished jobs from their files."""
        for job in list(self.jobs.values()):
            if job.final is None and not job.done.is_set():
                self._refresh_verdict(job)
                self._final_summary(job)

    async def _query_backend(self) -> None:
        """One query for every running job; a failed query changes nothing."""
        watched = {
            self.jobs[i].native_id: i
            for i in list(self._running)
            if i in self.jobs and self.jobs[i].native_id
        }
        if not watched:
            return
        states = await self.backend.states(list(watched))
        for native_id, state in states.items():
            try:
                self._reconcile(self.jobs.get(watched.get(native_id, "")), state)
            except Exception:  # noqa: BLE001 - one job's trouble is that job's
                log.exception("jupyter-wps: settling job %s failed", watched.get(native_id))

    def _reconcile(self, job: Job | None, state: NativeState) -> None:
        """Settle a job the scheduler says has ended, or has not listed several times running.

        Only successful queries get here: a failed one changes nothing.
        """
        if job is None:
            return
        if state.state == UNKNOWN:
            job.missing += 1
            if job.missing < self.config.reconcile_confirmations:
                return
            reason = state.reason or (
                f"the {self.backend.name} scheduler no longer knows job {job.native_id}"
            )
            self._on_exit(job.id, state.exit_code, reason)
        elif state.state == FINISHED:
            self._on_exit(job.id, state.exit_code, state.reason)
        else:
            job.missing = 0
            verdict = job.verdict
            if (
                verdict is not None
                and verdict.state == "dismissed"
                and (now() - verdict.time).total_seconds() > CANCEL_RETRY
            ):
                asyncio.ensure_future(self._cancel(job))  # dismissed, yet still there

    # ------------------------------------------------------------------ state

    def _final_summary(self, job: Job) -> StatusSummary | None:
        """The job's final status summary, or None while it is not final.

        A status document that cannot be read is final only once no launcher is
        running the job (a launcher may still write a good one).
        """
        if job.final is None:
            document, summary = self._read_status(job)
            if summary.state in FINAL_STATES and not (document is None and job.id in self._running):
                job.final = summary
                job.final_document = document
                self._finish(job)
        return job.final

    def _read_status(self, job: Job) -> tuple[bytes | None, StatusSummary]:
        """The job's status document as the launcher wrote it (None when there is none
        to serve: a verdict, a damaged file) and its summary, the verdict merged."""
        if job.final is not None:
            return job.final_document, job.final
        if not self.lease.held:
            self._refresh_verdict(job)
        if job.verdict is not None:
            return None, StatusSummary(
                state=job.verdict.state,
                creation_time=job.verdict.time,
                message=job.verdict.message,
            )
        if job.damaged:
            return None, StatusSummary("failed", job.record.created, job.damaged)
        try:
            document = job.dir.read_status()
            if document is None:
                raise DamagedFile("status.xml", "it is missing")
            return document, read_status(document)
        except (OSError, DamagedFile, OWSException) as exc:
            problem = exc if isinstance(exc, DamagedFile) else DamagedFile("status.xml", str(exc))
            return None, StatusSummary("failed", now(), f"the job cannot be trusted: {problem}")

    def summary(self, job: Job) -> StatusSummary:
        """The job's current state, the verdict merged over the launcher's status."""
        return self._read_status(job)[1]

    def _set_verdict(self, job: Job, state: str, message: str) -> None:
        """The server's own verdict on a job (one writer: the server); kept in memory and
        written later if the disk refuses it now."""
        job.verdict = Verdict(state, message, now())
        try:
            job.dir.write_verdict(job.verdict)
        except OSError as exc:
            log.warning("jupyter-wps: the verdict on job %s is not saved yet: %s", job.id, exc)
            job.unsaved = True
        job.final = None
        self._final_summary(job)
        self._spool_final(job)

    def _spool_final(self, job: Job) -> None:
        """The verdict's document, for the hub's service (best effort: the spool is a copy)."""
        if job.record.spool and not job.damaged:
            try:
                spool.write(job.record.spool, spool.FINAL_SUFFIX, self.status_document(job))
            except OSError as exc:
                log.warning("jupyter-wps: cannot spool the verdict on job %s: %s", job.id, exc)

    def status_document(self, job: Job) -> bytes:
        """The job's WPS status document, placeholders still in it."""
        document, summary = self._read_status(job)
        if document is not None:
            return document
        process = Process(job.record.process, job.record.process_title)
        message = summary.message
        if summary.state == "dismissed":
            message = f"Dismissed: {message}"
        return status_document(
            process,
            job.id,
            Status("failed", summary.creation_time, message, exception=NoApplicableCode(message)),
            job.record.store,
            job.record.language,
        )

    def started(self, job: Job) -> dt.datetime | None:
        """When the launcher started the job (its claim), whoever asks, whenever."""
        if job.claimed is None:
            try:
                claim = job.dir.read_claim()
                if claim and "time" in claim:
                    job.claimed = dt.datetime.fromisoformat(claim["time"])
            except (OSError, ValueError):  # DamagedFile is a ValueError
                return None
        return job.claimed

    # ------------------------------------------------------------------ access

    def get(self, job_id: str, owner: str | None) -> Job:
        """The job, if ``owner`` may see it (None: any owner, e.g. a valid capability)."""
        job = None
        if is_job_id(job_id):
            job = self.jobs.get(job_id)
            if (
                job is None
                and job_id not in self._writing
                and owned_directory(self.workdir / job_id)
            ):
                job = self._index(str(self.workdir / job_id))  # written by another server
        if job is None or (owner is not None and job.owner != owner):
            raise JobNotFound(job_id)
        return job

    def list(self, owner: str | None) -> Iterator[Job]:
        """The jobs of ``owner`` (None: every job)."""
        return (job for job in self.jobs.values() if owner is None or job.owner == owner)

    def capability(self, job_id: str) -> str:
        """A read-only capability for one job's status and outputs."""
        digest = hmac.new(self._secret, job_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def check_capability(self, job_id: str, token: str) -> bool:
        return hmac.compare_digest(self.capability(job_id), token)

    def complete_urls(self, document: bytes, wps_url: str, job_id: str | None) -> bytes:
        """Replace the base-URL placeholder; job URLs get the job's capability if enabled."""
        query = ""
        if job_id and self.config.capability_urls:
            query = f"?cap={self.capability(job_id)}"
        return complete_urls(document, wps_url, query, self.status_base(wps_url))

    def status_base(self, wps_url: str) -> str | None:
        """Where statuses are served when not here: the hub's WPS service reading the spool
        (``<hub>/services/<name>/status/<user>``), whether or not this server runs."""
        if not (self.spool and self.config.status_service):
            return None
        parts = urlsplit(wps_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        hub_base = os.environ.get("JUPYTERHUB_BASE_URL", "/").rstrip("/")
        service = self.config.status_service
        return f"{origin}{hub_base}/services/{service}/status/{self.spool.name}"

    def open_output(self, job: Job, name: str) -> int:
        """An open descriptor of one of the job's output files (no symlink followed);
        OSError when there is no such regular file."""
        fd = open_output(job.outputs_dir, name, os.O_RDONLY | os.O_NONBLOCK)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise FileNotFoundError(name)
        return fd

    def has_outputs(self, job: Job) -> bool:
        """Whether the job left files behind (outputs by reference)."""
        try:
            return any(os.scandir(job.outputs_dir))
        except OSError:
            return False

    # ------------------------------------------------------------------ cancel and cleanup

    async def dismiss(self, job: Job, by: str = "") -> None:
        """Cancel a queued or running job (it stays, dismissed); a finished one is removed."""
        if self._final_summary(job) is not None and job.verdict is None:
            self.remove(job)
            return
        if job.verdict is not None:
            return
        self._set_verdict(job, "dismissed", f"dismissed by {by}" if by else "dismissed")
        if not self.lease.held:  # the holder may have submitted it meanwhile
            with contextlib.suppress(OSError, DamagedFile):
                job.record = job.dir.read_record() or job.record
        if job.native_id and (job.id in self._running or not self.lease.held):
            await self._cancel(job)
        else:
            self._queue.remove(job.id)
            self._delete_outputs(job)

    async def _cancel(self, job: Job) -> None:
        """Ask the scheduler to stop the job; if that fails, the watch loop asks again."""
        try:
            await self.backend.cancel(job.native_id or "")
        except Exception:  # noqa: BLE001 - retried by the watch loop
            log.warning(
                "cancelling job %s (%s) failed; will retry", job.id, job.native_id, exc_info=True
            )

    def _delete_outputs(self, job: Job) -> None:
        clear_outputs(job.outputs_dir)

    def remove(self, job: Job) -> None:
        """Forget a final job and delete its directory and outputs."""
        self.jobs.pop(job.id, None)
        if job.record.spool and not job.damaged:
            with contextlib.suppress(OSError):
                spool.remove(job.record.spool)
        if self.config.outputpath and not job.damaged:
            shutil.rmtree(job.outputs_dir, ignore_errors=True)
        shutil.rmtree(job.dir.path, ignore_errors=True)

    def remove_expired(self) -> int:
        """Delete final jobs finished longer ago than the retention (by recorded time)."""
        limit = now() - dt.timedelta(seconds=self.config.job_retention)
        expired = [
            job
            for job in list(self.jobs.values())
            if self._final_summary(job) is not None
            and job.record.finished is not None
            and job.record.finished < limit
        ]
        for job in expired:
            self.remove(job)
        return len(expired)

    # ------------------------------------------------------------------ JSON

    def job_json(self, job: Job, wps_url: str) -> dict[str, Any]:
        """The job as OGC API - Processes describes a job (statusInfo)."""
        summary = self.summary(job)
        if summary.state in FINAL_STATES:
            self._final_summary(job)
        cap = f"?cap={self.capability(job.id)}" if self.config.capability_urls else ""
        api = f"{wps_url}/api/jobs/{job.id}"
        links = [
            {"href": api, "rel": "self", "type": "application/json"},
            {
                "href": f"{self.status_base(wps_url) or wps_url + '/status'}/{job.id}.xml{cap}",
                "rel": "status",
                "type": "application/xml",
                "title": "WPS status document",
            },
            {"href": f"{api}/log", "rel": "log", "type": "text/plain", "title": "launcher.log"},
            {
                "href": job.dir.path.resolve().as_uri(),
                "rel": "job-directory",
                "title": "the job directory: a kernel that sees it reads status.xml there",
            },
        ]
        if summary.state == "succeeded":
            links.append({"href": f"{api}/results", "rel": "results", "type": "application/json"})
        percent = summary.percent
        if summary.state == "succeeded":
            percent = 100
        elif summary.state == "accepted":
            percent = 0
        started = self.started(job)
        finished = job.record.finished if job.final is not None else None
        return {
            "jobID": job.id,
            "processID": job.record.process,
            "type": "process",
            "status": JobState(summary.state).api,
            "message": summary.message,
            "progress": percent,
            "created": job.record.created.isoformat(),
            "started": started.isoformat() if started else None,
            "finished": finished.isoformat() if finished else None,
            "updated": summary.creation_time.isoformat(),
            "links": links,
        }
