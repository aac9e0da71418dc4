"""Slurm through its own commands: ``sbatch``, ``squeue``, ``scancel``, ``scontrol``.

Each job's launcher runs as a batch job written to ``<jobdir>/job.sh``::

    #!/bin/sh
    #SBATCH --job-name=wps-1a2b3c4d
    #SBATCH --output=<jobdir>/launcher.log
    #SBATCH --chdir=<jobdir>
    #SBATCH --export=NONE
    #SBATCH --partition=...            (and --account, --qos, --time, --mem, --cpus-per-task)
    export PATH='...'                  (the explicit environment, never the server's)
    <prologue>
    exec '<python>' -m jupyter_wps.launcher '<jobdir>'

The resources are the job's own, resolved into its ``job.json`` (else the configuration's).
The options are also given on ``sbatch``'s command line, where they win over the
``SBATCH_*`` variables of the server's environment (which win over ``#SBATCH`` lines).
``--export=NONE``: Slurm's default (``ALL``) would hand the server's whole environment,
``JUPYTERHUB_API_TOKEN`` included, to every job.

Many users' servers share one ``slurmctld``: :meth:`SlurmBackend.states` asks it once per
call, ``squeue -u <uid> --states=all``, which lists pending and running jobs and those
finished less than ``MinJobAge`` ago (what ``scontrol show job`` knows, for all the jobs
at once; ``squeue -j <id>`` fails for a single id the controller has forgotten). A job it
no longer lists is looked up in the job completion file (``JobCompType=jobcomp/filetxt``,
read incrementally, without asking the controller); a job found nowhere is unknown (the
manager declares it gone after several such answers). There is no ``sacct`` without
accounting.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path

from ..config import Config, parse_size
from . import (
    FINISHED,
    QUEUED,
    RUNNING,
    SECRET_VARIABLES,
    UNKNOWN,
    Backend,
    ExitCallback,
    NativeState,
    Resources,
    SubmitLater,
)

log = logging.getLogger("jupyter_wps")

#: Job states (squeue ``%T``) of jobs waiting to run.
QUEUED_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESV_DEL_HOLD",
        "SPECIAL_EXIT",
    }
)
#: Job states of jobs that have started and not ended (other unknown states count as these).
RUNNING_STATES = frozenset(
    {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"}
)
#: Job states of ended jobs.
FINISHED_STATES = frozenset(
    {
        "COMPLETED",
        "CANCELLED",
        "FAILED",
        "TIMEOUT",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "OUT_OF_MEMORY",
        "REVOKED",
    }
)

#: sbatch errors that mean "not now": a submission limit or a busy controller.
TRANSIENT_SUBMIT_ERRORS = re.compile(
    r"MaxSubmitJob|SubmitJobLimit|job submit limit|Resource temporarily unavailable"
    r"|temporarily unable|socket timed out|Unable to contact slurm controller"
    r"|Zero Bytes were transmitted|Connection refused|backup controller in standby",
    re.IGNORECASE,
)
#: scancel errors that mean the job is already gone.
ALREADY_GONE = re.compile(r"Invalid job id|already completing or completed", re.IGNORECASE)
#: Slurm variables that the commands may need from the server's environment; the others
#: (SLURM_JOB_ID, SLURM_MEM_PER_NODE, ... of a server that itself runs in a Slurm job)
#: would leak into the jobs' environments and settings.
SLURM_VARIABLES_KEPT = frozenset({"SLURM_CONF", "SLURM_CLUSTERS"})

_JOBCOMP_LINE = re.compile(rb"^JobId=(\d+) UserId=[^ ]*?\((\d+)\) ")
_JOBCOMP_STATE = re.compile(rb" JobState=(\S+)")
_JOBCOMP_EXIT = re.compile(rb" ExitCode=(\d+):(\d+)")


class SlurmUnavailable(OSError):
    """Slurm cannot be used from here: a command is missing or the controller does not answer.

    An OSError, so that the server refuses to start with this message.
    """


class SlurmCommandError(OSError):
    """A Slurm command failed or did not answer in time."""


def _wait_status(value: str) -> tuple[int | None, int | None]:
    """squeue's ``exit_code`` (a wait status) -> (exit code, signal)."""
    if not value.strip().isdigit():
        return None, None
    status = int(value)
    if status & 0x7F:
        return None, status & 0x7F
    return status >> 8, None


def _sbatch_value(value: str) -> str:
    """A value for an ``#SBATCH`` line (double-quoted when it has blanks)."""
    if any(c in value for c in "\n\r\"'"):
        raise ValueError(f"{value!r} cannot be written as an #SBATCH option")
    return f'"{value}"' if any(c.isspace() for c in value) else value


def slurm_memory(text: str) -> str:
    """An amount of memory as the configuration writes it (``4G``, ``512mb``, ``1.5g``,
    bytes when bare) in Slurm's words: a whole number of K, M, G or T (a bare number
    would be megabytes to Slurm)."""
    size = parse_size(text)
    for power, unit in ((4, "T"), (3, "G"), (2, "M")):
        if size >= 1024**power and size % 1024**power == 0:
            return f"{size // 1024**power}{unit}"
    return f"{max(1, -(-size // 1024))}K"


def finished_reason(native_id: str, state: str, exit_code: int | None, signum: int | None) -> str:
    """Why an ended Slurm job ended, for a job that left no final status."""
    job = f"Slurm job {native_id}"
    if state == "CANCELLED":
        return f"{job} was cancelled by the scheduler (scancel)"
    if state == "TIMEOUT":
        return f"walltime exceeded: {job} was stopped at its time limit (TIMEOUT)"
    if state == "NODE_FAIL":
        return f"the node of {job} failed (NODE_FAIL)"
    if state == "OUT_OF_MEMORY":
        return f"{job} ran out of memory (OUT_OF_MEMORY)"
    if state == "PREEMPTED":
        return f"{job} was preempted (PREEMPTED)"
    if state == "BOOT_FAIL":
        return f"the node of {job} failed to boot (BOOT_FAIL)"
    if state == "DEADLINE":
        return f"{job} missed its deadline (DEADLINE)"
    if signum:
        return f"{job} ended ({state}): the launcher was killed by signal {signum}"
    if exit_code is not None:
        return f"{job} ended ({state}) with exit code {exit_code}"
    return f"{job} ended ({state})"


class JobCompIndex:
    """The ends of our jobs, from a ``jobcomp/filetxt`` file, read incrementally.

    The first lookup reads the last ``initial_bytes`` of the file; later ones only what
    was appended since (a rotated file is read from its start). Only the lines of one
    uid are kept, at most ``max_entries`` of them.
    """

    def __init__(
        self,
        path: str,
        uid: int,
        initial_bytes: int = 32 * 1024 * 1024,
        max_entries: int = 200_000,
    ) -> None:
        self.path = path
        self.uid = str(uid).encode()
        self.initial_bytes = initial_bytes
        self.max_entries = max_entries
        self.offset: int | None = None
        self.inode: tuple[int, int] | None = None
        self.entries: collections.OrderedDict[str, tuple[str, int | None, int | None]] = (
            collections.OrderedDict()
        )

    def lookup(self, native_ids: Iterable[str]) -> dict[str, tuple[str, int | None, int | None]]:
        """(state, exit code, signal) of those of these jobs the file lists."""
        try:
            self._refresh()
        except OSError as exc:
            log.debug("reading the Slurm job completion file %s: %s", self.path, exc)
        return {i: self.entries[i] for i in native_ids if i in self.entries}

    def _refresh(self) -> None:
        with open(self.path, "rb") as stream:
            info = os.fstat(stream.fileno())
            inode = (info.st_dev, info.st_ino)
            if self.offset is None or inode != self.inode or info.st_size < self.offset:
                # the first read, or the file was rotated or truncated: its end only
                start = max(0, info.st_size - self.initial_bytes)
                aligned = start == 0
            else:
                start, aligned = self.offset, True
            self.inode = inode
            if start >= info.st_size:
                self.offset = start
                return
            stream.seek(start)
            data = stream.read(info.st_size - start)
        end = data.rfind(b"\n") + 1  # whole lines only: the rest is read next time
        chunk = data[:end] if aligned else data[data.find(b"\n") + 1 : end]
        self.offset = start + end
        for line in chunk.splitlines():
            match = _JOBCOMP_LINE.match(line)
            if match is None or match.group(2) != self.uid:
                continue
            state = _JOBCOMP_STATE.search(line)
            code = _JOBCOMP_EXIT.search(line)
            job_id = match.group(1).decode()
            self.entries[job_id] = (
                state.group(1).decode() if state else "COMPLETED",
                int(code.group(1)) if code else None,
                int(code.group(2)) if code and int(code.group(2)) else None,
            )
            self.entries.move_to_end(job_id)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)


class SlurmBackend(Backend):
    """Jobs as Slurm batch jobs, through the Slurm commands (no DRMAA, no sacct needed)."""

    name = "slurm"
    capacity = None
    #: seconds a command may take before it counts as failed
    command_timeout = 30.0
    #: seconds for the checks when the backend is created
    startup_timeout = 15.0

    def __init__(self, config: Config, on_exit: ExitCallback) -> None:
        super().__init__(config, on_exit)
        self.uid = os.getuid()
        self.commands = {name: self._which(name) for name in ("sbatch", "squeue", "scancel")}
        self.commands["scontrol"] = self._which("scontrol")
        ping = self._check(["ping"])
        if "is UP" not in ping:
            raise SlurmUnavailable(f"Slurm: the controller does not answer: {ping.strip()}")
        settings = self._settings(self._check(["show", "config"]))
        for partition in filter(None, config.queue.split(",")):  # sbatch takes a list
            self._check(["show", "partition", partition], what=f"partition {partition!r}")
        self.jobcomp: JobCompIndex | None = None
        if settings.get("JobCompType") == "jobcomp/filetxt" and settings.get("JobCompLoc"):
            self.jobcomp = JobCompIndex(settings["JobCompLoc"], self.uid)

    # ------------------------------------------------------------------ commands

    @staticmethod
    def _which(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            raise SlurmUnavailable(
                f"Slurm: the command {name} is not on the server's PATH "
                f"({os.environ.get('PATH', '')}); the slurm backend needs sbatch, squeue, "
                "scancel and scontrol"
            )
        return path

    def command_environment(self) -> dict[str, str]:
        """The Slurm commands' environment: the server's, without credentials and without
        the ``SLURM_*`` variables of a server that itself runs inside a Slurm job."""
        return {
            key: value
            for key, value in os.environ.items()
            if key not in SECRET_VARIABLES
            and (not key.startswith("SLURM_") or key in SLURM_VARIABLES_KEPT)
        }

    def _check(self, args: list[str], what: str = "") -> str:
        """``scontrol ARGS`` at creation (synchronous: the server is starting)."""
        argv = [self.commands["scontrol"], *args]
        try:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self.startup_timeout,
                env=self.command_environment(),
            )
        except subprocess.TimeoutExpired:
            raise SlurmUnavailable(
                f"Slurm: {shlex.join(argv)} did not answer in {self.startup_timeout:g} s"
            ) from None
        if result.returncode:
            problem = (result.stderr or result.stdout).strip().splitlines()
            raise SlurmUnavailable(
                f"Slurm: {what or shlex.join(argv)}: "
                f"{problem[-1] if problem else f'exit {result.returncode}'}"
            )
        return result.stdout

    @staticmethod
    def _settings(text: str) -> dict[str, str]:
        settings = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                settings[key.strip()] = value.strip()
        return settings

    async def _run(self, *argv: str, cwd: Path | None = None) -> tuple[int, str, str]:
        """Run a Slurm command: (exit status, stdout, stderr); SlurmCommandError on timeout."""
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.command_environment(),
            cwd=cwd,
            start_new_session=True,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.command_timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
            with contextlib.suppress(ProcessLookupError):  # the command and its children
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise SlurmCommandError(
                f"{os.path.basename(argv[0])} did not answer in {self.command_timeout:g} s"
            ) from None
        return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")

    # ------------------------------------------------------------------ submission

    def sbatch_options(self, job_id: str, jobdir: Path, resources: Resources) -> list[str]:
        """The job's sbatch options (in job.sh and on the command line)."""
        options = [
            f"--job-name=wps-{job_id[:8]}",
            # % starts a filename pattern in --output: a literal one is %%
            f"--output={str(jobdir / 'launcher.log').replace('%', '%%')}",
            "--open-mode=append",
            f"--chdir={jobdir}",
            "--export=NONE",
            # a WPS job runs once: after a node failure it is reported failed, not run again
            # (a second launcher would find its status final and the outputs half-written)
            "--no-requeue",
        ]
        memory = str(resources.get("memory") or "")
        cores = resources.get("cores") or ""
        for option, value in (
            ("partition", resources.get("queue")),
            ("account", resources.get("account")),
            ("qos", resources.get("qos")),
            ("time", resources.get("walltime")),
            ("mem", slurm_memory(memory) if memory else ""),
            ("cpus-per-task", str(cores)),
        ):
            if value:
                options.append(f"--{option}={value}")
        return options

    def job_script(
        self, job_id: str, jobdir: Path, interpreter: str | None, resources: Resources
    ) -> str:
        """The text of ``job.sh``: options, explicit environment, prologue, the launcher."""
        lines = ["#!/bin/sh"]
        for option in self.sbatch_options(job_id, jobdir, resources):
            name, equals, value = option.partition("=")
            lines.append(f"#SBATCH {name}={_sbatch_value(value)}" if equals else f"#SBATCH {name}")
        lines.append(f"# jupyter-wps job {job_id}: runs the launcher of this job directory")
        # job steps (srun) inherit the script's environment, not --export=NONE
        lines.append("export SLURM_EXPORT_ENV=ALL")
        for key, value in self.explicit_environment().items():
            lines.append(f"export {key}={shlex.quote(value)}")
        if self.config.prologue:
            lines.extend(self.config.prologue.splitlines())
        lines.append(f"exec {shlex.join(self.launcher_command(jobdir, interpreter))}")
        return "\n".join(lines) + "\n"

    async def submit(
        self, job_id: str, jobdir: Path, interpreter: str | None, resources: Resources
    ) -> str:
        jobdir = Path(jobdir)
        script = jobdir / "job.sh"
        text = self.job_script(job_id, jobdir, interpreter, resources).encode()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(script, flags, 0o700)
        except FileExistsError:
            # submitted before? (the server stopped before it recorded the native id, or
            # sbatch timed out): never run a job twice
            found = await self.find_submitted(job_id, jobdir)
            if found is not None:
                log.info("job %s was already submitted as Slurm job %s", job_id, found)
                return found
            script.unlink()
            fd = os.open(script, flags, 0o700)
        try:
            os.fchmod(fd, 0o700)
            with os.fdopen(fd, "wb") as stream:
                stream.write(text)
        except BaseException:
            with contextlib.suppress(OSError):
                script.unlink()
            raise
        argv = [
            self.commands["sbatch"],
            "--parsable",
            *self.sbatch_options(job_id, jobdir, resources),
        ]
        try:
            code, out, err = await self._run(*argv, str(script), cwd=jobdir)
        except SlurmCommandError as exc:
            # it may have reached the controller: the retry looks it up (job.sh exists)
            raise SubmitLater(f"sbatch: {exc}") from None
        message = " ".join((err or out).split())
        if code:
            if TRANSIENT_SUBMIT_ERRORS.search(message):
                raise SubmitLater(message)
            raise SlurmCommandError(f"sbatch refused the job: {message or f'exit {code}'}")
        native_id = out.strip().splitlines()[-1].split(";")[0].strip() if out.strip() else ""
        if not native_id.isdigit():
            raise SlurmCommandError(f"sbatch printed no job id: {out.strip()!r} {message}")
        return native_id

    async def find(self, job_id: str) -> str | None:
        """The Slurm job of a job whose submission was cut short, if it exists (found by its
        working directory: the job directory).

        None also when the controller cannot tell now: :meth:`submit` looks again before
        it submits a job directory that already has a ``job.sh``.
        """
        try:
            return await self.find_submitted(job_id, Path(self.config.workdir).absolute() / job_id)
        except SubmitLater as exc:
            log.warning("cannot tell whether job %s is on Slurm yet: %s", job_id, exc)
            return None

    async def find_submitted(self, job_id: str, jobdir: Path) -> str | None:
        """The Slurm job already running this job directory, if the controller has one.

        Raises SubmitLater when the controller cannot tell (never submit twice).
        """
        try:
            code, out, err = await self._run(
                self.commands["squeue"],
                "--noheader",
                f"--user={self.uid}",
                "--states=all",
                f"--name=wps-{job_id[:8]}",
                "--format=%i|%T|%Z",
            )
        except SlurmCommandError as exc:
            raise SubmitLater(f"squeue: {exc}") from None
        if code:
            raise SubmitLater(f"squeue failed: {' '.join(err.split())}")
        for line in out.splitlines():
            native_id, _, rest = line.strip().partition("|")
            state, _, workdir = rest.partition("|")
            if workdir == str(jobdir) and native_id.isdigit():
                return native_id  # running, or ended: the watch settles it
        return None

    # ------------------------------------------------------------------ queries

    async def states(self, native_ids: Iterable[str]) -> dict[str, NativeState]:
        wanted = list(dict.fromkeys(native_ids))
        if not wanted:
            return {}
        code, out, err = await self._run(
            self.commands["squeue"],
            "--noheader",
            f"--user={self.uid}",
            "--states=all",
            "--Format=JobID:|,State:|,Reason:|,exit_code:",
        )
        if code:
            raise SlurmCommandError(
                f"squeue failed (exit {code}): {' '.join(err.split()) or out.strip()}"
            )
        listed: dict[str, tuple[str, str, str]] = {}
        for line in out.splitlines():
            fields = [f.strip() for f in line.split("|")]
            if len(fields) >= 4 and fields[0].isdigit():
                listed[fields[0]] = (fields[1], fields[2], fields[3])
        result: dict[str, NativeState] = {}
        missing = []
        for native_id in wanted:
            if native_id not in listed:
                missing.append(native_id)
                continue
            state, reason, wait_status = listed[native_id]
            if state in FINISHED_STATES:
                exit_code, signum = _wait_status(wait_status)
                result[native_id] = NativeState(
                    FINISHED,
                    exit_code,
                    finished_reason(native_id, state, exit_code, signum),
                )
            elif state in QUEUED_STATES:
                pending = f"pending ({reason})" if reason and reason != "None" else "pending"
                result[native_id] = NativeState(QUEUED, reason=pending)
            else:
                result[native_id] = NativeState(RUNNING, reason=state.lower())
        if missing:
            found = (
                await asyncio.to_thread(self.jobcomp.lookup, missing)
                if self.jobcomp is not None
                else {}
            )
            for native_id in missing:
                if native_id in found:
                    state, exit_code, signum = found[native_id]
                    result[native_id] = NativeState(
                        FINISHED, exit_code, finished_reason(native_id, state, exit_code, signum)
                    )
                else:
                    result[native_id] = NativeState(
                        UNKNOWN,
                        reason=f"Slurm no longer knows job {native_id} (neither squeue nor "
                        "the job completion log lists it)",
                    )
        return result

    # ------------------------------------------------------------------ cancel

    async def cancel(self, native_id: str) -> None:
        code, out, err = await self._run(self.commands["scancel"], native_id)
        message = " ".join((err or out).split())
        if code and not ALREADY_GONE.search(message):
            raise SlurmCommandError(f"scancel {native_id} failed: {message or f'exit {code}'}")
