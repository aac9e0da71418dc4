"""The embedded backend: launchers as subprocesses of the server, each in its own session.

Native ids are ``<pid>:<start time>``: after a server restart a launcher is
adopted again only when a process with that pid *and* that start time (from
``/proc``) exists, so a recycled pid is never mistaken for the job.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from ..config import Config
from ..jobs.proc import is_alive, process_start_time
from . import FINISHED, RUNNING, Backend, ExitCallback, NativeState, Resources

log = logging.getLogger("jupyter_wps")

#: Seconds between SIGTERM and SIGKILL when a job is cancelled.
KILL_GRACE = 3.0
#: Seconds the launcher pool gets to exit when the server stops.
POOL_EXIT_TIMEOUT = 5.0


class LauncherPool:
    """The server's side of the warm launcher pool (:mod:`.forkpool`).

    Jobs are sent one line each and answered in order; exits are reported as they
    happen, each to the callback its launch gave. A launcher may exit before the
    server has read its start: starts and exits are matched here, in the order the
    pool reports them, so no exit is lost. If the pool dies, the next job starts a
    new one, and the launchers it had started are watched through ``/proc`` like
    adopted ones.
    """

    def __init__(self, preload: list[str]) -> None:
        self.preload = preload
        self._proc: asyncio.subprocess.Process | None = None
        #: launches sent and not answered yet: the answer, the exit callback
        self._pending: collections.deque[
            tuple[asyncio.Future[tuple[int, str]], Callable[[int], None]]
        ] = collections.deque()
        #: launchers forked by this pool that have not exited: pid -> (start, callback)
        self._children: dict[int, tuple[str, Callable[[int], None]]] = {}
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def children(self) -> list[str]:
        """Native ids of the launchers this pool forked that are still running."""
        return [f"{pid}:{start}" for pid, (start, _) in self._children.items()]

    async def launch(
        self, jobdir: Path, env: dict[str, str], on_exit: Callable[[int], None]
    ) -> tuple[int, str]:
        """Fork a launcher for ``jobdir``: its pid and start time; ``on_exit(code)`` later."""
        async with self._lock:
            if not self.running:
                await self._start()
            assert self._proc is not None and self._proc.stdin is not None
            answer = asyncio.get_running_loop().create_future()
            self._pending.append((answer, on_exit))
            self._proc.stdin.write(f"{jobdir}\t{json.dumps(env)}\n".encode())
            await self._proc.stdin.drain()
        return await answer

    async def _start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "jupyter_wps.backends.forkpool",
            *self.preload,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        self._reader = asyncio.ensure_future(self._read(self._proc))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            try:
                self._handle(line.decode(errors="replace").strip())
            except Exception:  # noqa: BLE001 - one bad line or callback must not end the reader
                log.exception("jupyter-wps: the launcher pool's report %r failed", line)
        self._children.clear()  # from now on watched through /proc, as adopted launchers
        while self._pending:
            self._pending.popleft()[0].set_exception(OSError("the launcher pool exited"))

    def _handle(self, line: str) -> None:
        """One line of the pool: a launcher started (or could not be), or one exited."""
        kind, _, rest = line.partition(" ")
        if kind == "exited":
            pid, _, code = rest.partition(" ")
            child = self._children.pop(int(pid), None)
            if child is not None:
                child[1](int(code))
        elif self._pending:
            answer, on_exit = self._pending.popleft()
            if kind == "started":
                pid, _, start = rest.partition(" ")
                self._children[int(pid)] = (start, on_exit)
                answer.set_result((int(pid), start))
            else:
                answer.set_exception(OSError(f"the launcher pool: {rest}"))

    async def close(self) -> None:
        """Let the pool exit (its launchers go on without it)."""
        if self._proc is not None and self._proc.stdin is not None:
            self._proc.stdin.close()
            with contextlib.suppress(asyncio.TimeoutError, ProcessLookupError):
                await asyncio.wait_for(self._proc.wait(), POOL_EXIT_TIMEOUT)
        if self._reader is not None:
            self._reader.cancel()
        self._proc = None


class LocalBackend(Backend):
    """Runs each job's launcher on this machine, at most ``parallelprocesses`` at a time.

    Launchers of the server's own Python are forked by the warm launcher pool; those
    of another interpreter (a function published from a kernel) are started anew.
    """

    name = "local"

    def __init__(self, config: Config, on_exit: ExitCallback) -> None:
        super().__init__(config, on_exit)
        self.capacity = config.parallelprocesses if config.parallelprocesses > 0 else None
        self._waiters: dict[str, asyncio.Task[None]] = {}
        self._pool = LauncherPool(
            ["jupyter_wps.processes", *(p.partition(":")[0] for p in config.processes)]
        )

    async def submit(
        self, job_id: str, jobdir: Path, interpreter: str | None, resources: Resources
    ) -> str:
        command = self.launcher_command(jobdir, interpreter)
        if command[:3] == [sys.executable, "-m", "jupyter_wps.launcher"]:
            pid, start = await self._pool.launch(
                jobdir, self.job_environment(), lambda code: self._exited(job_id, code)
            )
            return f"{pid}:{start}"
        log_fd = os.open(
            jobdir / "launcher.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600
        )
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
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

    def _exited(self, job_id: str, code: int) -> None:
        self.on_exit(job_id, code, f"the launcher exited with code {code}")

    async def _wait(self, job_id: str, native_id: str, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        self._waiters.pop(native_id, None)
        self._exited(job_id, code)

    async def states(self, native_ids: Iterable[str]) -> dict[str, NativeState]:
        # our own launchers report their exit through on_exit; others are looked up in /proc
        reported = set(self._waiters)
        if self._pool.running:
            reported.update(self._pool.children())
        return {
            native_id: NativeState(RUNNING)
            if native_id in reported or is_alive(native_id)
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
        await self._pool.close()
