"""A warm launcher pool: a clean Python process that forks one launcher per job.

Starting ``python -m jupyter_wps.launcher`` costs ~0.2 s of CPU per job (the
interpreter, then dill, lxml and the package). The pool is started once, as a
fresh interpreter (never a fork of the server, which holds threads), imports
all that, and then forks a child per job: the same launcher code, the same job
directory, a new session, in a fraction of the time.

Protocol, one line each: the server writes ``<jobdir>\\t<env as JSON>``; the
pool answers ``started <pid> <start time>`` (or ``error <message>``; the start
time read at once, as the child may be done before the server asks) and, when a child ends,
``exited <pid> <code>``. The pool exits when its stdin closes; its children go
on (they are adopted again by pid and start time, like any launcher).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import selectors
import signal
import sys

from ..jobs import JobDir
from ..jobs.proc import process_start_time
from ..launcher import main_in_child


def _fork_launcher(jobdir: str, env: dict[str, str], inherited: list[int]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:  # the child: become the launcher of this job
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in inherited:
            os.close(fd)
        os.setsid()
        log = os.open(
            os.path.join(jobdir, "launcher.log"),
            os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW,
            0o600,
        )
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        os.chdir(jobdir)
        os.environ.clear()
        os.environ.update(env)
        code = main_in_child(JobDir(jobdir))
    except SystemExit as exc:  # SIGTERM while running: 128 + 15
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - whatever happens, the child must not return
        code = 70
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    """Read jobs from stdin, fork their launchers, report starts and exits on stdout."""
    wakeup_r, wakeup_w = os.pipe()
    os.set_blocking(wakeup_w, False)
    signal.set_wakeup_fd(wakeup_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    stdin = sys.stdin.fileno()
    selector = selectors.DefaultSelector()
    selector.register(stdin, selectors.EVENT_READ)
    selector.register(wakeup_r, selectors.EVENT_READ)
    out = sys.stdout
    pending = b""  # what was read of stdin beyond the last full line

    def report(text: str) -> None:
        out.write(text.replace("\n", " ") + "\n")
        out.flush()

    while True:
        for key, _ in selector.select(timeout=1.0):
            if key.fileobj != stdin:
                os.read(wakeup_r, 4096)
                continue
            chunk = os.read(stdin, 1 << 16)
            if not chunk:  # the server is gone: its launchers go on without the pool
                return
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                jobdir, _, env = line.decode().partition("\t")
                try:
                    pid = _fork_launcher(jobdir, json.loads(env), [wakeup_r, wakeup_w])
                    # not reaped before this loop's waitpid: readable even if it is done
                    report(f"started {pid} {process_start_time(pid, finished_too=True)}")
                except (OSError, ValueError) as exc:
                    report(f"error {exc}")
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not pid:
                break
            report(f"exited {pid} {os.waitstatus_to_exitcode(status)}")


if __name__ == "__main__":
    for module in sys.argv[1:]:  # the processes' modules, imported once for every job
        with contextlib.suppress(Exception):
            importlib.import_module(module)
    serve()
