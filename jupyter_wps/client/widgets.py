"""Live job widgets: :class:`JobWidget` for one job, :class:`JobsDashboard` for many.

The kernel side keeps the widgets' state current from the jobs' status
documents (read from the filesystem when the kernel can see the workdir, over
HTTP otherwise) through the kernel's one :func:`~.monitor.monitor` thread,
which goes on while a cell is busy. The front end (``static/widget.js``, an
anywidget module) ticks the elapsed time itself and sends Cancel straight to
the server's JSON API when the page is served by the job's server: messages
from the browser to a busy kernel wait until the cell ends, a DELETE does not.
Elsewhere (another WPS, a front end with no page config) Cancel is a message
to the kernel.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from .job import Job, Reference, WPSError, without_capability
from .monitor import MAX_HTTP_POLL, monitor
from .processes import NoJobList

STATIC = Path(__file__).parent / "static"
#: how much of an output value a widget shows
PREVIEW_CHARS = 300
#: a dashboard's changes are sent at most this often (seconds)
DASHBOARD_FLUSH = 0.25
#: a dashboard whose jobs are all final lists the server's jobs this seldom (seconds)
IDLE_LISTING = 30.0


def in_kernel() -> bool:
    """Whether this is a Jupyter kernel, where a widget can be displayed."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _iso(time: dt.datetime | None) -> str:
    return time.isoformat() if time is not None else ""


def _preview(name: str, value: Any) -> dict[str, Any]:
    """An output as the front end shows it: a link for references, a preview otherwise."""
    if isinstance(value, Reference):
        mime = value.mime_type or ""
        return {
            "name": name,
            "href": without_capability(value.href),
            "mime": mime,
            "text": value.name,
            "image": mime.startswith("image/"),
        }
    if isinstance(value, bytes):
        text = f"{len(value)} bytes"
    else:
        text = value if isinstance(value, str) else repr(value)
        if len(text) > PREVIEW_CHARS:
            text = text[:PREVIEW_CHARS] + "…"
    return {"name": name, "text": text}


def job_state(job: Job) -> dict[str, Any]:
    """What a front end shows of a job (no credentials in it)."""
    error = ""
    if job.state == "failed" and job.error is not None:
        error = job.error.text
        if job.error.code:
            error += f" ({job.error.code})"
    return {
        "job_id": job.id or "",
        "process": job.process_id or "",
        "state": job.state,
        "percent": int(job.percent or 0),
        "message": job.message,
        "created": _iso(job.created),
        "finished": _iso(job.finished),
        "error": error,
        "api_url": job.api_url or "",
        "status_url": without_capability(job.status_location),
    }


class _WPSWidget(anywidget.AnyWidget):
    """Shared by both widgets: the front end module and Cancel from the front end."""

    _esm = STATIC / "widget.js"
    _css = STATIC / "widget.css"
    kind = traitlets.Unicode().tag(sync=True)
    #: a problem to show (a cancel that failed, a server that stopped answering)
    notice = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: a front end said it polls the JSON API itself: send it state changes only
        self.front_end_polls = False
        self.on_msg(self._on_front_end_message)

    def _jobs_by_id(self) -> dict[str, Job]:
        raise NotImplementedError

    def _on_front_end_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """``polling``: a front end follows progress itself; ``cancel``: it cannot reach
        the server, the kernel dismisses the job."""
        if not isinstance(content, dict):
            return
        if content.get("action") == "polling":
            self.front_end_polls = True
            return
        if content.get("action") != "cancel":
            return
        job = self._jobs_by_id().get(str(content.get("job", "")))
        if job is None:
            return
        try:
            job.cancel()
        except (WPSError, NotImplementedError, OSError, ValueError) as error:
            self.notice = f"cancel failed: {error}"


class JobWidget(_WPSWidget):
    """One job, live: state, progress bar, message, elapsed time, Cancel, outputs or error."""

    job_id = traitlets.Unicode("").tag(sync=True)
    process = traitlets.Unicode("").tag(sync=True)
    state = traitlets.Unicode("accepted").tag(sync=True)
    percent = traitlets.Int(0).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    created = traitlets.Unicode("").tag(sync=True)
    finished = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    api_url = traitlets.Unicode("").tag(sync=True)
    status_url = traitlets.Unicode("").tag(sync=True)
    outputs = traitlets.List(traitlets.Dict()).tag(sync=True)

    def __init__(self, job: Job, **kwargs: Any) -> None:
        super().__init__(kind="job", **kwargs)
        self.job = job
        self._show(job)
        job.subscribe(self._show)
        monitor().watch(job)

    def _jobs_by_id(self) -> dict[str, Job]:
        return {self.job_id: self.job}

    def __repr__(self) -> str:  # the text a front end without widgets shows
        return repr(self.job)

    def _show(self, job: Job) -> None:
        if self.front_end_polls and job.state == self.state and not job.done:
            return  # progress alone: the front end reads it from the server, no kernel traffic
        state = job_state(job)
        outputs: list[dict[str, Any]] = []
        if job.state == "successful" and not self.outputs:
            try:
                outputs = [_preview(name, value) for name, value in job.outputs.items()]
            except (WPSError, OSError) as error:
                state["error"] = f"the outputs could not be read: {error}"
        with self.hold_sync():
            for name, value in state.items():
                setattr(self, name, value)
            if outputs:
                self.outputs = outputs
        if job.done:
            # all of it, even unchanged: sent from the thread that saw the end (a cell waiting
            # in result(), say), it is what a notebook executed by nbclient or papermill saves
            self.send_state()


class JobsDashboard(_WPSWidget):
    """All of the user's jobs (or the ones given), live, each with Cancel.

    ``JobsDashboard()`` lists the jobs of the server this kernel runs under and
    adds new ones as they come; ``JobsDashboard(jobs=[...])`` shows those jobs
    only (of any WPS). ``wait()`` blocks until every job shown is final.
    """

    jobs = traitlets.List(traitlets.Dict()).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    #: the server's job list, which a front end served by that server polls itself
    api_url = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        client: Any = None,
        jobs: list[Job] | None = None,
        title: str = "",
        **kwargs: Any,
    ) -> None:
        if client is None:
            if jobs:
                client = jobs[0].client
            else:
                from .connect import connect

                client = connect()
        super().__init__(kind="dashboard", title=title or f"Jobs at {client.url}", **kwargs)
        self.client = client
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._flush_pending = False
        self._closed = False
        self._listing_delay = 1.0
        #: (id, state) of the rows last sent
        self._sent: list[tuple[str, str]] = []
        #: whether jobs the server lists and this dashboard does not show yet are added
        self._adds_new = jobs is None
        for job in jobs or []:
            self._add(job)
        if jobs is None or any(job.api_url for job in jobs):
            self.api_url = client.api_url("jobs")
            try:
                self._list()
            except NoJobList as error:
                hint = "JobsDashboard(jobs=[...]) shows jobs of any WPS"
                raise NoJobList(f"{error}; {hint}") from None
            monitor().add(self._listing_task, self._listing_delay)
        # one request lists them all: only status files are read job by job
        for job in self._jobs.values():
            if job.reads_file or not self.api_url:
                monitor().watch(job)
        self._flush()

    def _jobs_by_id(self) -> dict[str, Job]:
        return dict(self._jobs)

    def __repr__(self) -> str:  # the text a front end without widgets shows
        counts = collections.Counter(job.state for job in self._jobs.values())
        states = "".join(f", {n} {state}" for state, n in sorted(counts.items()))
        return f"<JobsDashboard {self.title}: {len(self._jobs)} jobs{states}>"

    # ------------------------------------------------------------------ jobs

    def _add(self, job: Job) -> None:
        if not job.id:
            return  # a synchronous execution: nothing to watch
        with self._lock:
            if job.id in self._jobs:
                return
            self._jobs[job.id] = job
        job.subscribe(self._changed)

    def _list(self) -> bool:
        """Take the server's list of this user's jobs; True when anything changed."""
        changed = False
        for data in self.client.job_list():
            job = self._jobs.get(data.get("jobID", ""))
            if job is None:
                if not self._adds_new:
                    continue
                job = Job.from_json(self.client, data)
                self._add(job)
                if job.reads_file:
                    monitor().watch(job)
                changed = True
            elif not job.done and (not job.reads_file or data.get("status") == "dismissed"):
                before = len(job.history)
                job.update_from_json(data)
                changed = changed or len(job.history) != before
        return changed

    def _listing_task(self) -> float | None:
        """New jobs, and states for the jobs no status file can be read for.

        Ends with the dashboard, or once its given jobs are all final.
        """
        if self._closed or (not self._adds_new and all(j.done for j in self._jobs.values())):
            return None
        try:
            changed = self._list()
            self.notice = ""
        except (WPSError, OSError, ValueError) as error:
            self.notice = f"the server did not answer: {error}"
            changed = False
        if changed:
            self._listing_delay = 1.0
            self._flush()
        elif all(job.done for job in self._jobs.values()):
            self._listing_delay = IDLE_LISTING
        else:
            self._listing_delay = min(self._listing_delay * 1.5, MAX_HTTP_POLL)
        return self._listing_delay

    # ------------------------------------------------------------------ display

    def _changed(self, _job: Job) -> None:
        """A job changed: send the rows soon, once for a burst of changes."""
        with self._lock:
            if self._flush_pending:
                return
            self._flush_pending = True
        monitor().add(self._flush_task, DASHBOARD_FLUSH)

    def _flush_task(self) -> None:
        self._flush()

    def _flush(self, force: bool = False) -> None:
        with self._lock:
            self._flush_pending = False
            jobs = list(self._jobs.values())
        jobs.sort(key=lambda job: _iso(job.created), reverse=True)
        rows = [job_state(job) for job in jobs]
        sent = [(row["job_id"], row["state"]) for row in rows]
        if self.front_end_polls and not force and sent == self._sent:
            return  # progress alone: the front end reads it from the server
        self._sent = sent
        self.jobs = rows
        if force:
            self.send_state("jobs")  # even unchanged: see JobWidget._show

    def wait(self, timeout: float | None = None) -> JobsDashboard:
        """Block until every job shown is final (TimeoutError after ``timeout`` s)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            unfinished = [job for job in self._jobs.values() if not job.done]
            if not unfinished:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{len(unfinished)} jobs still unfinished after {timeout} s")
            with contextlib.suppress(WPSError, OSError, ValueError):  # a busy server: next round
                if self.api_url:
                    self._list()  # one request for all the jobs without a status file
                for job in unfinished:
                    if job.reads_file or not self.api_url:
                        job.poll()
            time.sleep(0.5)
        self._flush(force=True)
        return self

    def close(self) -> None:
        self._closed = True
        super().close()
