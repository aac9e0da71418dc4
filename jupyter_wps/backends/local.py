"""The embedded backend: launchers as subprocesses of the server, each in its own session.

Native ids are ``<pid>:<start time>``: after a server restart a launcher is
adopted again only when a process with that pid *and* that start time (from
``/proc``) exists, so a recycled pid is never mistaken for the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path

from ..config import Config
from . import FINISHED, RUNNING, Backend, ExitCallback, NativeState, Resources

#: Seconds between SIGTERM and SIGKILL when a job is cancelled.
KILL_GRACE = 3.0


def process_start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            stat = stream.read()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after its end
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] == b"Z":  # a zombie has finished
        return None
    return fields[19].decode()


def is_alive(native_id: str) -> bool:
    pid, _, start = native_id.partition(":")
    return pid.isdigit() and process_start_time(int(pid)) == start


class LocalBackend(Backend):
    """Runs each job's launcher as a subprocess, at most ``parallelprocesses`` at a time."""

    name = "local"

    def __init__(self, config: Config, on_exit: ExitCallback) -> None:
        super().__init__(config, on_exit)
        self.capacity = config.parallelprocesses if config.parallelprocesses > 0 else None
        self._waiters: dict[str, asyncio.Task[None]] = {}

    async def submit(
        self, job_id: str, jobdir: Path, interpreter: str | None, resources: Resources
    ) -> str:
        log_fd = os.open(
            jobdir / "launcher.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600
        )
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.launcher_command(jobdir, interpreter),
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self.job_environment(),
                cwd=jobdir,
            )
        finally:
            os.close(log_fd)
        start = process_start_time(proc.pid)
        native_id = f"{proc.pid}:{start}"
        self._waiters[native_id] = asyncio.ensure_future(self._wait(job_id, native_id, proc))
        return native_id

    async def _wait(self, job_id: str, native_id: str, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        self._waiters.pop(native_id, None)
        self.on_exit(job_id, code, f"the launcher exited with code {code}")

    async def states(self, native_ids: Iterable[str]) -> dict[str, NativeState]:
        # our own children report their exit through on_exit; others are looked up in /proc
        return {
            native_id: NativeState(RUNNING)
            if native_id in self._waiters or is_alive(native_id)
            else NativeState(FINISHED, reason="the launcher process is gone")
            for native_id in native_ids
        }

    async def cancel(self, native_id: str) -> None:
        pid = int(native_id.partition(":")[0])
        if not is_alive(native_id):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        for _ in range(int(KILL_GRACE / 0.1)):
            await asyncio.sleep(0.1)
            if not is_alive(native_id):
                return
        if is_alive(native_id):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    async def close(self) -> None:
        # launchers keep running without the server; stop waiting for them
        for task in self._waiters.values():
            task.cancel()
        self._waiters.clear()
