"""The kernel's one status poller: a daemon thread that keeps watched jobs current.

Widgets must keep moving while a cell is busy (blocked in ``job.result()``, say),
so the poller cannot live on the kernel's event loop; and a thread per job would
not scale to a dashboard of hundreds. One thread runs every task when it is due:
a task is a callable that polls once and returns the seconds until its next run,
or None when it is finished. The thread ends when no task is left.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

from .job import BACKOFF, FILE_POLL, FIRST_POLL, Job, WPSError

log = logging.getLogger("jupyter_wps.client")

#: a task: poll once, return the seconds until the next poll (None: done)
Task = Callable[[], "float | None"]

#: HTTP polling: at most this often (s), backing off to MAX_HTTP_POLL while nothing changes
HTTP_POLL = 1.0
MAX_HTTP_POLL = 10.0
#: seconds before a task that raised runs again
RETRY_AFTER_ERROR = 30.0
#: failed polls in a row after which a job is no longer watched (its server is gone)
MAX_POLL_FAILURES = 20


class Monitor:
    """Runs polling tasks on one background thread, each when it is due."""

    def __init__(self) -> None:
        self._tasks: list[tuple[float, int, Task]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, task: Task, delay: float = 0.0) -> None:
        """Run ``task`` in ``delay`` seconds, then as often as it asks."""
        with self._wake:
            heapq.heappush(self._tasks, (time.monotonic() + delay, next(self._order), task))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="jupyter-wps-monitor", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def watch(self, job: Job) -> None:
        """Keep ``job`` current until it is final (its listeners hear of every change)."""
        if job.done or job._watched:
            return
        job._watched = True
        self.add(JobPoller(job))

    @property
    def running(self) -> bool:
        return self._thread is not None

    def _run(self) -> None:
        while True:
            with self._wake:
                while True:
                    if not self._tasks:
                        self._thread = None
                        return
                    due, _, task = self._tasks[0]
                    wait = due - time.monotonic()
                    if wait <= 0:
                        heapq.heappop(self._tasks)
                        break
                    self._wake.wait(wait)
            try:
                delay = task()
            except Exception:
                log.warning("polling failed; again in %s s", RETRY_AFTER_ERROR, exc_info=True)
                delay = RETRY_AFTER_ERROR
            if delay is not None:
                self.add(task, delay)


class JobPoller:
    """Polls one job: its status file every FILE_POLL s, or HTTP with backoff.

    A job whose server stops answering is polled less and less often, and no more
    after MAX_POLL_FAILURES failures in a row (``job.refresh()`` still works).
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self.delay = HTTP_POLL
        self.failures = 0

    def __call__(self) -> float | None:
        job = self.job
        before = len(job.history)
        try:
            job.poll()
        except (OSError, WPSError, ValueError) as error:  # requests' errors are OSErrors
            self.failures += 1
            if self.failures < MAX_POLL_FAILURES:
                return min(RETRY_AFTER_ERROR, FIRST_POLL * 2**self.failures)
            log.warning("no longer watching %r: %s", job, error)
            job._watched = False
            return None
        self.failures = 0
        if job.done:
            job._watched = False
            return None
        if job.reads_file:
            return FILE_POLL
        changed = len(job.history) != before
        self.delay = HTTP_POLL if changed else min(self.delay * BACKOFF, MAX_HTTP_POLL)
        return self.delay


_monitor: Monitor | None = None
_monitor_lock = threading.Lock()


def monitor() -> Monitor:
    """This process's (this kernel's) one monitor."""
    global _monitor
    with _monitor_lock:
        if _monitor is None:
            _monitor = Monitor()
        return _monitor
