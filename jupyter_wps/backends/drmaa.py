"""Batch jobs through DRMAA 1.0: Grid Engine, PBS/Torque (pbs-drmaa), Slurm (slurm-drmaa).

The ``drmaa`` package loads the DRM's C library when it is imported, and the
library reads its variables (``DRMAA_LIBRARY_PATH``, ``SGE_ROOT``, ``SGE_CELL``,
and on some machines ``GLIBC_TUNABLES``) from the environment the process
started with. So ``drmaa`` is imported lazily, the first time a backend is
made, and a server whose environment lacks them does not start (with a
message that names them).

DRMAA allows one session per process, and the library is not safe to call
from several threads: every backend of a process (pytest-jupyter and a hub
can start several servers in one process) shares one module-level session,
opened by the first backend and exited when the last one closes, and every
DRMAA call runs on one dedicated worker thread.

Native ids are the DRM's job ids. A job of this session that has ended is
reaped (``wait`` without waiting) for its exit status; a job of another
session (submitted before a restart) that has ended is unknown to DRMAA, and
Grid Engine's accounting (``qacct -j``) is asked how it ended.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import glob
import logging
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config, ConfigError
from . import (
    FINISHED,
    QUEUED,
    RUNNING,
    UNKNOWN,
    Backend,
    ExitCallback,
    NativeState,
    Resources,
    SubmitLater,
    default_resources,
)

log = logging.getLogger("jupyter_wps")

#: Variables the DRMAA libraries read when they load (for messages).
DRMAA_VARIABLES = ("DRMAA_LIBRARY_PATH", "SGE_ROOT", "SGE_CELL", "GLIBC_TUNABLES")
#: Seconds to wait for the session to open (at server start) or to exit (at stop).
SESSION_TIMEOUT = 60.0
#: Seconds for one ``qacct`` / ``qstat`` run (accounting files can be large).
COMMAND_TIMEOUT = 60.0
#: ``qacct`` runs at once (each reads the whole accounting file).
ACCOUNTING_CONCURRENCY = 4
#: Seconds a poll waits for accounting lookups (slow on big accounting files) before it
#: answers without them (the lookups carry on, for the next poll).
LOOKUP_WAIT = 2.0
#: Seconds before the accounting is searched again for a job it did not have.
LOOKUP_RETRY = 10.0

GRID_ENGINE, PBS, SLURM = "gridengine", "pbs", "slurm"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_WALLTIME = re.compile(r"^(?:(\d+)-)?(\d+):([0-5]\d):([0-5]\d)$")
_UNITS = ("", "K", "M", "G", "T")


# --------------------------------------------------------------------------- resources


def drm_family(drms_info: str, implementation: str = "") -> str | None:
    """Which DRM a DRMAA library drives (from ``drmsInfo``/``drmaaImplementation``), or None."""
    text = f"{drms_info} {implementation}".lower()
    if re.search(r"\b(sge|soge|ogs|uge|gridengine|grid engine|ge)\b", text):
        return GRID_ENGINE
    if "torque" in text or "pbs" in text:
        return PBS
    if "slurm" in text:
        return SLURM
    return None


def walltime_seconds(text: str) -> int:
    """``HH:MM:SS``, ``D-HH:MM:SS`` or minutes (the config's forms) -> seconds."""
    value = text.strip()
    if value.isdigit():
        return int(value) * 60
    match = _WALLTIME.match(value)
    if not match:
        raise ValueError(f"{text!r} is not a walltime (HH:MM:SS, D-HH:MM:SS or minutes)")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def hms(seconds: int) -> str:
    """Seconds -> ``H:MM:SS`` (hours may exceed 24: Grid Engine and PBS accept that)."""
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def memory_bytes(text: str) -> int:
    """``4G``, ``4GB``, ``512mb``, ``1.5g``, ``1048576`` (bytes) -> bytes (binary units)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not an amount of memory (e.g. 4G, 512M)")
    return math.ceil(float(match.group(1)) * 1024 ** _UNITS.index(match.group(2).upper()))


def memory_units(size: int) -> tuple[int, str]:
    """Bytes -> (integer, unit K/M/G/T): the largest unit that holds it exactly, else K."""
    for power in range(len(_UNITS) - 1, 0, -1):
        if size % 1024**power == 0:
            return size // 1024**power, _UNITS[power]
    return math.ceil(size / 1024), "K"


def native_specification(config: Config, family: str | None, resources: Resources) -> str:
    """``drmaa_native_specification`` plus the job's resources, in the DRM's words.

    The operator's own specification comes last, so that what it says wins.
    Resources a DRM cannot be asked for raise ConfigError (at server start).
    """
    options: list[str] = []
    queue, account, qos, walltime, memory_text = (
        str(resources.get(key) or "") for key in ("queue", "account", "qos", "walltime", "memory")
    )
    cores = int(resources.get("cores") or 1)
    wanted = {
        key: value for key, value in resources.items() if value and (key != "cores" or cores > 1)
    }

    def refuse(key: str, problem: str) -> ConfigError:
        return ConfigError(config.source, "processing", key, problem)

    if wanted and family is None:
        key = next(iter(wanted))
        raise refuse(
            key,
            "this DRMAA library's scheduler is not Grid Engine, PBS/Torque or Slurm: give "
            "its resources in drmaa_native_specification instead",
        )
    try:
        seconds = walltime_seconds(walltime) if walltime else None
        memory = memory_bytes(memory_text) if memory_text else None
    except ValueError as exc:
        raise refuse("walltime" if "walltime" in str(exc) else "memory", str(exc)) from None
    if family == GRID_ENGINE:
        if qos:
            raise refuse("qos", "Grid Engine has no QOS; use drmaa_native_specification")
        if queue:
            options += ["-q", queue]
        if account:
            options += ["-P", account]
        if seconds is not None:
            options += ["-l", f"h_rt={hms(seconds)}"]
        if memory is not None:  # h_vmem is per slot: the job's memory over its cores
            amount, unit = memory_units(math.ceil(memory / cores))
            options += ["-l", f"h_vmem={amount}{unit}"]
        if cores > 1:
            options += ["-pe", config.parallel_environment, str(cores)]
    elif family == PBS:
        if qos:
            raise refuse("qos", "PBS/Torque has no QOS option; use drmaa_native_specification")
        if queue:
            options += ["-q", queue]
        if account:
            options += ["-A", account]
        if seconds is not None:
            options += ["-l", f"walltime={hms(seconds)}"]
        if memory is not None:
            amount, unit = memory_units(memory)
            options += ["-l", f"mem={amount}{unit.lower()}b"]
        if cores > 1:
            options += ["-l", f"nodes=1:ppn={cores}"]
    elif family == SLURM:
        if queue:
            options.append(f"--partition={queue}")
        if account:
            options.append(f"--account={account}")
        if qos:
            options.append(f"--qos={qos}")
        if walltime:
            options.append(f"--time={walltime}")
        if memory is not None:
            amount, unit = memory_units(memory)
            options.append(f"--mem={amount}{unit}")
        if cores > 1:
            options.append(f"--cpus-per-task={cores}")
    spec = " ".join(shlex.quote(option) for option in options)
    return " ".join(part for part in (spec, config.drmaa_native_specification.strip()) if part)


def with_prologue(command: list[str], prologue: str) -> list[str]:
    """Run ``command`` after ``prologue`` in one shell, so that the prologue's environment
    (``module load``, ``conda activate``) reaches it: ``/bin/sh -c SCRIPT command...``
    whose script ends in ``exec "$0" "$@"``.

    Grid Engine cuts a job's arguments at the first newline, so the script holds
    none: the prologue travels with its newlines and backslashes escaped, and is
    decoded by ``printf %b`` and run by ``eval`` (in the same shell).
    """
    prologue = prologue.strip()
    if not prologue:
        return command
    escaped = prologue.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    escaped = escaped.replace("'", "'\\''")
    script = f'eval "$(printf \'%b\' \'{escaped}\')"; exec "$0" "$@"'
    return ["/bin/sh", "-c", script, *command]


# --------------------------------------------------------------------------- accounting


def find_tool(name: str) -> str | None:
    """A Grid Engine command: on PATH, else under ``$SGE_ROOT/bin/<arch>/``."""
    found = shutil.which(name)
    if found:
        return found
    root = os.environ.get("SGE_ROOT")
    if root:
        for candidate in sorted(glob.glob(os.path.join(root, "bin", "*", name))):
            if os.access(candidate, os.X_OK):
                return candidate
    return None


def parse_qacct(text: str) -> dict[str, str]:
    """The fields of a ``qacct -j`` record (the last one, if the id was reused)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("====="):
            fields = {}
            continue
        key, _, value = line.partition(" ")
        if key:
            fields[key] = value.strip()
    return fields


def accounting_state(native_id: str, fields: dict[str, str]) -> NativeState:
    """How a job ended, from its Grid Engine accounting record."""
    exit_text = fields.get("exit_status", "").split()
    exit_code = int(exit_text[0]) if exit_text and exit_text[0].isdigit() else None
    failed = fields.get("failed", "0").strip()
    code, _, why = failed.partition(":")
    code = code.strip()
    deleted = fields.get("deleted_by", "").strip()  # Univa/Altair Grid Engine only
    if deleted and deleted.upper() != "NONE":
        reason = f"Grid Engine job {native_id} was deleted by {deleted} (qdel)"
    elif code not in ("", "0"):
        reason = f"Grid Engine job {native_id} failed ({code}: {why.strip()})"
        if exit_code and exit_code > 128:
            reason += f", exit status {exit_code} ({signal_name(exit_code - 128)})"
        if code == "100" and exit_code == 137:
            reason += ": killed, by the scheduler (qdel) or a resource limit"
        elif fields.get("start_time", "").strip() in ("", "-/-"):
            reason += ": it never started"
    else:
        reason = f"Grid Engine job {native_id} ended with exit status {exit_code}"
    return NativeState(FINISHED, exit_code, reason + " (from qacct)")


def signal_name(number: int) -> str:
    with contextlib.suppress(ValueError):
        return signal.Signals(number).name
    return f"signal {number}"


# --------------------------------------------------------------------------- the session


@dataclass
class _Session:
    """The process's one DRMAA session, its worker thread, and who uses it."""

    executor: concurrent.futures.ThreadPoolExecutor
    drmaa: Any = None
    session: Any = None
    drms_info: str = ""
    implementation: str = ""
    users: int = 0
    #: set once exit() has run (or failed): a new session may open
    closed: threading.Event = field(default_factory=threading.Event)


_lock = threading.Lock()
_shared: _Session | None = None
_closing: _Session | None = None


def _load_error(exc: BaseException) -> OSError:
    shown = ", ".join(f"{name}={os.environ.get(name, '(unset)')}" for name in DRMAA_VARIABLES)
    hint = ""
    if "static TLS" in str(exc):
        hint = " (set GLIBC_TUNABLES=glibc.rtld.optional_static_tls=16384)"
    return OSError(
        f"the DRMAA backend cannot open a DRMAA session: {type(exc).__name__}: {exc}{hint}. "
        "The server's environment must name the DRM's DRMAA library (DRMAA_LIBRARY_PATH) "
        "and, for Grid Engine, its installation (SGE_ROOT, SGE_CELL) when the server "
        f"starts; it has {shown}"
    )


def _open(session: _Session) -> None:
    """In the worker thread: import drmaa (loads the library) and open the session."""
    try:
        import drmaa  # noqa: PLC0415 - lazily: the library reads the environment on load

        handle = drmaa.Session()
        handle.initialize()
    except ImportError as exc:
        raise OSError(
            "the DRMAA backend needs the Python package drmaa "
            f"(pip install 'jupyter-wps[drmaa]'): {exc}"
        ) from exc
    except Exception as exc:  # RuntimeError (no library), OSError, DrmaaException
        raise _load_error(exc) from exc
    session.drmaa = drmaa
    session.session = handle
    try:
        session.drms_info = str(handle.drmsInfo)
        session.implementation = str(handle.drmaaImplementation)
    except Exception:  # informative only
        log.debug("DRMAA drmsInfo failed", exc_info=True)


def _acquire() -> _Session:
    """The shared session, opened on first use (blocks: called at server start)."""
    global _shared, _closing
    with _lock:
        if _closing is not None:  # the last user is closing it: let the exit finish
            _closing.closed.wait(SESSION_TIMEOUT)
            _closing = None
        if _shared is None:
            shared = _Session(
                concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="drmaa")
            )
            try:
                shared.executor.submit(_open, shared).result(SESSION_TIMEOUT)
            except BaseException:
                shared.executor.shutdown(wait=False)
                raise
            _shared = shared
            log.info(
                "jupyter-wps: DRMAA session opened (%s; %s)",
                shared.drms_info,
                shared.implementation,
            )
        _shared.users += 1
        return _shared


def _detach(session: _Session) -> bool:
    """One user less; True for the last one, who must exit the session."""
    global _shared, _closing
    with _lock:
        session.users -= 1
        if session.users > 0 or _shared is not session:
            return False
        _shared = None
        _closing = session
        return True


def _exit(session: _Session) -> None:
    """On the DRMAA thread: exit the session (its jobs keep running)."""
    try:
        session.session.exit()
    except Exception:
        log.warning("exiting the DRMAA session failed", exc_info=True)
    finally:
        session.closed.set()


async def _release(session: _Session) -> None:
    """One user less; the last one exits the session."""
    if _detach(session):
        try:
            await asyncio.get_running_loop().run_in_executor(session.executor, _exit, session)
        finally:
            session.executor.shutdown(wait=False)


def _release_sync(session: _Session) -> None:
    """:func:`_release`, blocking (for a backend that fails while it is made)."""
    if _detach(session):
        try:
            session.executor.submit(_exit, session).result(SESSION_TIMEOUT)
        finally:
            session.executor.shutdown(wait=False)


# --------------------------------------------------------------------------- the backend


class DRMAABackend(Backend):
    """Submits each job's launcher through DRMAA; the scheduler decides when it runs."""

    name = "drmaa"
    capacity = None

    def __init__(self, config: Config, on_exit: ExitCallback) -> None:
        super().__init__(config, on_exit)
        self._session: _Session | None = _acquire()
        self.family = drm_family(self._session.drms_info, self._session.implementation)
        try:
            # the operator's resources, checked at server start
            native_specification(config, self.family, default_resources(config))
        except BaseException:
            self._release_now()
            raise
        self._qacct = find_tool("qacct") if self.family == GRID_ENGINE else None
        self._accounting = asyncio.Semaphore(ACCOUNTING_CONCURRENCY)
        #: what each job ran (for messages): native id -> command
        self._commands: dict[str, list[str]] = {}
        #: jobs reaped or found in the accounting, until the manager has seen them
        self._ended: dict[str, NativeState] = {}
        #: accounting lookups of jobs DRMAA no longer knows: native id -> (task, started)
        self._lookups: dict[str, tuple[asyncio.Task[NativeState], float]] = {}

    def _release_now(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            _release_sync(session)

    @property
    def drm_name(self) -> str:
        return {GRID_ENGINE: "Grid Engine", PBS: "PBS", SLURM: "Slurm"}.get(
            self.family or "", "the DRM"
        )

    async def _call(self, function: Any, *args: Any) -> Any:
        """Run ``function(drmaa, session, *args)`` on the DRMAA thread."""
        session = self._session
        if session is None:
            raise RuntimeError("the DRMAA backend is closed")
        return await asyncio.get_running_loop().run_in_executor(
            session.executor, lambda: function(session.drmaa, session.session, *args)
        )

    # ------------------------------------------------------------------ submit

    def command(self, jobdir: Path, interpreter: str | None) -> list[str]:
        """What the job runs: the launcher, behind the prologue if there is one."""
        command = self.launcher_command(jobdir, interpreter)
        if not os.path.isabs(command[0]):
            raise ValueError(f"{command[0]!r} is not an absolute path (the job has no PATH)")
        return with_prologue(command, self.config.prologue)

    async def submit(
        self, job_id: str, jobdir: Path, interpreter: str | None, resources: Resources
    ) -> str:
        command = self.command(Path(jobdir), interpreter)
        environment = self.explicit_environment()
        spec = native_specification(self.config, self.family, resources)

        def run_job(drmaa: Any, session: Any) -> str:
            template = session.createJobTemplate()
            try:
                template.remoteCommand = command[0]
                template.args = command[1:]
                template.workingDirectory = str(jobdir)
                template.outputPath = f":{Path(jobdir) / 'launcher.log'}"
                template.joinFiles = True
                template.jobEnvironment = environment
                template.jobName = f"wps-{job_id[:8]}"
                if spec:
                    template.nativeSpecification = spec
                return str(session.runJob(template))
            except (drmaa.errors.TryLaterException, drmaa.errors.DeniedByDrmException) as exc:
                if isinstance(exc, drmaa.errors.TryLaterException) or (
                    "jobs are allowed" in str(exc)  # Grid Engine's max_u_jobs / max_jobs
                ):
                    message = f"{self.drm_name} refused job {job_id} for now: {exc}"
                    raise SubmitLater(message) from exc
                raise
            finally:
                session.deleteJobTemplate(template)

        native_id = await self._call(run_job)
        self._commands[native_id] = command
        log.debug("job %s submitted to %s as job %s", job_id, self.drm_name, native_id)
        return native_id

    async def find(self, job_id: str) -> str | None:
        """The native id of a job whose submission a crash cut short (Grid Engine only)."""
        qstat = find_tool("qstat") if self.family == GRID_ENGINE else None
        if qstat is None:
            return None
        name = f"wps-{job_id[:8]}"

        def look() -> str | None:
            result = subprocess.run(
                [qstat, "-j", name],
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
            found, number = None, None
            for line in result.stdout.splitlines():
                key, _, value = line.partition(":")
                if key.strip() == "job_number":
                    number = value.strip()
                elif key.strip() in ("cwd", "sge_o_workdir") and job_id in value:
                    found = number
            return found

        return await asyncio.get_running_loop().run_in_executor(None, look)

    # ------------------------------------------------------------------ states

    async def states(self, native_ids: Iterable[str]) -> dict[str, NativeState]:
        ids = list(native_ids)
        # what the manager no longer asks about, it has settled (or never had)
        asked = set(ids)
        for native_id in (set(self._ended) | set(self._commands) | set(self._lookups)) - asked:
            self._ended.pop(native_id, None)
            self._commands.pop(native_id, None)
            self._lookups.pop(native_id, None)
        results, gone = await self._call(self._query, ids)
        if gone:
            results.update(await self._accounted(gone))
        for native_id, state in results.items():
            if state.state == FINISHED:
                self._ended[native_id] = state
        return results

    def _query(
        self, drmaa: Any, session: Any, ids: list[str]
    ) -> tuple[dict[str, NativeState], list[str]]:
        """On the DRMAA thread: each job's state, reaping the ended ones; and the ids
        DRMAA does not know (other sessions' ended jobs). DRMAA errors other than
        "no such job" propagate: the query failed."""
        state = drmaa.JobState
        queued = {
            state.QUEUED_ACTIVE,
            state.SYSTEM_ON_HOLD,
            state.USER_ON_HOLD,
            state.USER_SYSTEM_ON_HOLD,
        }
        running = {
            state.RUNNING,
            state.SYSTEM_SUSPENDED,
            state.USER_SUSPENDED,
            state.USER_SYSTEM_SUSPENDED,
        }
        results: dict[str, NativeState] = {}
        gone: list[str] = []
        for native_id in ids:
            if native_id in self._ended:
                results[native_id] = self._ended[native_id]
                continue
            try:
                status = session.jobStatus(native_id)
            except drmaa.errors.InvalidJobException:
                gone.append(native_id)
                continue
            if status in running:
                results[native_id] = NativeState(RUNNING)
            elif status in queued:
                results[native_id] = NativeState(QUEUED)
            elif status in (state.DONE, state.FAILED):
                results[native_id] = self._reap(drmaa, session, native_id)
            # UNDETERMINED: say nothing of it (nothing changes for it this time)
        return results, gone

    def _reap(self, drmaa: Any, session: Any, native_id: str) -> NativeState:
        """How a job of this session ended (its exit information is then released)."""
        drm = self.drm_name
        try:
            info = session.wait(native_id, drmaa.Session.TIMEOUT_NO_WAIT)
        except drmaa.errors.InvalidJobException:  # reaped meanwhile (by another backend)
            return NativeState(UNKNOWN, reason=f"{drm} job {native_id} ended; its exit is lost")
        except drmaa.errors.DrmaaException:
            raise
        except Exception as exc:  # code 24, no usage: Grid Engine's job deleted before it ran
            if "code 24" not in str(exc):
                raise
            return NativeState(
                FINISHED,
                reason=f"{drm} job {native_id} was deleted by the scheduler (qdel) before it ran",
            )
        if info.hasExited:
            code = int(info.exitStatus)
            return NativeState(FINISHED, code, f"the launcher exited with code {code}")
        if info.hasSignal:
            name = str(info.terminatedSignal) or "a signal"
            return NativeState(FINISHED, None, f"the launcher was killed by {name}")
        if info.wasAborted:
            usage = info.resourceUsage or {}
            started = float(usage.get("start_time", 0) or 0) > 0
            if started:
                return NativeState(
                    FINISHED,
                    None,
                    f"{drm} job {native_id} was killed by the scheduler (qdel) while it ran",
                )
            return NativeState(FINISHED, None, self._never_started(native_id))
        return NativeState(FINISHED, None, f"{drm} job {native_id} ended without an exit status")

    def _never_started(self, native_id: str) -> str:
        reason = (
            f"{self.drm_name} job {native_id} was aborted by the scheduler before it ran "
            "(deleted while queued, or it could not be started on the node)"
        )
        command = self._commands.get(native_id)
        if command:
            executable = command[0]
            if not os.access(executable, os.X_OK):
                reason += f": {executable} cannot be executed (not even on the server's host)"
            else:
                reason += f": is {executable} executable on the nodes, and the job directory there?"
        return reason

    async def _accounted(self, gone: list[str]) -> dict[str, NativeState]:
        """How these jobs (unknown to DRMAA) ended, as far as the accounting says by now.

        Lookups run in the background: a poll waits for them ``LOOKUP_WAIT`` seconds
        at most, and a job the accounting did not have is looked up again after
        ``LOOKUP_RETRY`` seconds (Grid Engine writes its accounting file late).
        """
        loop = asyncio.get_running_loop()
        for native_id in gone:
            entry = self._lookups.get(native_id)
            if entry is None or (
                entry[0].done()
                and entry[0].result().state != FINISHED
                and loop.time() - entry[1] >= LOOKUP_RETRY
            ):
                self._lookups[native_id] = (
                    asyncio.ensure_future(self._lookup(native_id)),
                    loop.time(),
                )
        pending = [self._lookups[i][0] for i in gone if not self._lookups[i][0].done()]
        if pending:
            await asyncio.wait(pending, timeout=LOOKUP_WAIT)
        results = {}
        for native_id in gone:
            task = self._lookups[native_id][0]
            results[native_id] = (
                task.result()
                if task.done()
                else NativeState(
                    UNKNOWN,
                    reason=f"{self.drm_name} job {native_id} is neither queued nor running "
                    "(its accounting record is still being searched)",
                )
            )
        return results

    async def _lookup(self, native_id: str) -> NativeState:
        """A job DRMAA does not know (of another session): ask the accounting, if any."""
        drm = self.drm_name
        unknown = NativeState(
            UNKNOWN,
            reason=f"{drm} job {native_id} is neither queued nor running, and its exit status "
            "is not known",
        )
        if self._qacct is None:
            return unknown
        qacct = self._qacct

        def run() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [qacct, "-j", native_id],
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )

        async with self._accounting:
            try:
                result = await asyncio.get_running_loop().run_in_executor(None, run)
            except Exception as exc:  # OSError, TimeoutExpired: the reason says less
                log.warning("qacct -j %s failed: %s", native_id, exc)
                return unknown
        fields = parse_qacct(result.stdout) if result.returncode == 0 else {}
        if not fields.get("jobnumber"):
            unknown.reason += " (Grid Engine's accounting, qacct, has no record of it yet)"
            return unknown
        return accounting_state(native_id, fields)

    # ------------------------------------------------------------------ cancel, close

    async def cancel(self, native_id: str) -> None:
        def terminate(drmaa: Any, session: Any) -> None:
            with contextlib.suppress(drmaa.errors.InvalidJobException):  # already ended
                session.control(native_id, drmaa.JobControlAction.TERMINATE)

        await self._call(terminate)

    async def close(self) -> None:
        for task, _ in self._lookups.values():
            task.cancel()
        self._lookups.clear()
        session, self._session = self._session, None
        if session is not None:
            await _release(session)
