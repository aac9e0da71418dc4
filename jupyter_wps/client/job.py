"""Jobs, their results, outputs by reference, and the errors a WPS reports.

A :class:`Job` polls its status document (backoff from 0.2 s up to 5 s, no thread
of its own): ``job.result()`` blocks, ``await job`` polls with ``asyncio.sleep``.
On a jupyter-wps server whose workdir the kernel can see, polling reads the
job's ``status.xml`` straight from the filesystem and asks the server only for
the final document. Widgets subscribe to a job and are told of every change.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import html
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit
from urllib.request import url2pathname

from lxml import etree

from ..jobs.jobdir import STATUS_FILE, VERDICT_FILE
from ..process import BoundingBox
from ..wps.exceptions import OWSException
from ..wps.response import read_status
from ..wps.states import FINAL_API_STATES, JobState

if TYPE_CHECKING:
    from .processes import ProcessDescription, WPSClient

__all__ = ["Job", "ProcessError", "Reference", "WPSError"]

WPS_NS = "http://www.opengis.net/wps/1.0.0"
WPS2_NS = "http://www.opengis.net/wps/2.0"

#: the final states, as the client says them (OGC API - Processes status codes)
FINAL = FINAL_API_STATES
#: XML Schema literal types -> Python types
LITERAL_TYPES: dict[str, type] = {
    "string": str,
    "anyURI": str,
    "integer": int,
    "int": int,
    "long": int,
    "short": int,
    "nonNegativeInteger": int,
    "positiveInteger": int,
    "double": float,
    "float": float,
    "decimal": float,
    "boolean": bool,
    "date": dt.date,
    "dateTime": dt.datetime,
    "time": dt.time,
}
FIRST_POLL, MAX_POLL, BACKOFF = 0.2, 5.0, 1.5
#: seconds between two reads of a status file the kernel can see (no server involved)
FILE_POLL = 0.5
#: failed status requests in a row before polling gives up
MAX_POLL_ERRORS = 5

log = logging.getLogger("jupyter_wps.client")

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def parse_xml(content: bytes) -> etree._Element:
    """Parse a server's XML without entities or network access."""
    return etree.fromstring(content, parser=_PARSER)


def local(element: etree._Element) -> str:
    return etree.QName(element).localname


def children(element: etree._Element, name: str) -> list[etree._Element]:
    """Child elements with this local name, in any namespace."""
    return [c for c in element if isinstance(c.tag, str) and local(c) == name]


def child(element: etree._Element | None, *path: str) -> etree._Element | None:
    for name in path:
        if element is None:
            return None
        found = children(element, name)
        element = found[0] if found else None
    return element


def first(element: etree._Element | None) -> etree._Element | None:
    """The first child element, if any."""
    if element is None:
        return None
    return next((c for c in element if isinstance(c.tag, str)), None)


def child_text(element: etree._Element | None, *path: str) -> str | None:
    found = child(element, *path)
    return None if found is None or found.text is None else found.text.strip()


# --------------------------------------------------------------------------- errors


class WPSError(Exception):
    """An OWS exception report from the server (or an HTTP error without one)."""

    def __init__(
        self,
        text: str,
        code: str | None = None,
        locator: str | None = None,
        status: int | None = None,
        context: str = "",
    ) -> None:
        self.text, self.code, self.locator, self.status = text, code, locator, status
        message = text
        if code:
            message = f"{code}{f' (locator {locator!r})' if locator else ''}: {text}"
        super().__init__(f"{context}: {message}" if context else message)

    @classmethod
    def from_report(cls, root: etree._Element, status: int | None = None, context: str = ""):
        exception = root if local(root) == "Exception" else child(root, "Exception")
        if exception is None:
            return cls("an empty exception report", status=status, context=context)
        texts = [t.text.strip() for t in children(exception, "ExceptionText") if t.text]
        return cls(
            "; ".join(texts) or "(no text)",
            exception.get("exceptionCode"),
            None if exception.get("locator") in (None, "", "None") else exception.get("locator"),
            status,
            context,
        )


class ProcessError(WPSError):
    """A job failed (or was dismissed); the message is the server's."""


def error_from_reply(status: int, content: bytes, url: str, context: str = "") -> WPSError:
    """The WPSError an HTTP error reply stands for."""
    try:
        root = parse_xml(content)
    except etree.XMLSyntaxError:
        root = None
    problem = _json_problem(content) if root is None else None
    if root is not None and local(root) == "ExceptionReport":
        error = WPSError.from_report(root, status, context)
    elif problem is not None:  # the JSON API's errors: {"type", "title", "status", "detail"}
        error = WPSError(problem[1], problem[0], status=status, context=context)
    else:
        snippet = content[:300].decode("utf-8", "replace").strip()
        error = WPSError(f"HTTP {status} from {url}: {snippet}", status=status, context=context)
    if status == 401 or (status == 403 and error.code in (None, "NoApplicableCode")):
        error.args = (
            f"{error.args[0]} -- the server refused the credentials: pass token= "
            "(a Jupyter or JupyterHub token) or headers= to connect()",
        )
    return error


def _json_problem(content: bytes) -> tuple[str, str] | None:
    """(title, detail) of a JSON API error, or None."""
    try:
        data = json.loads(content)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("detail"), str):
        return None
    return str(data.get("title") or data.get("type") or ""), data["detail"]


# --------------------------------------------------------------------------- values


def parse_literal(text: str, data_type: str | None) -> Any:
    """A literal's text as a Python value of its XML Schema type (the text if it is not one)."""
    kind = LITERAL_TYPES.get((data_type or "string").rpartition("#")[2].rpartition(":")[2], str)
    if kind is str:
        return text
    text = text.strip()
    try:
        if kind is bool:
            return {"true": True, "1": True, "false": False, "0": False}[text.lower()]
        if kind is dt.datetime:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if kind is dt.time:
            return dt.time.fromisoformat(text.replace("Z", "+00:00"))
        return kind.fromisoformat(text) if kind is dt.date else kind(text)
    except (KeyError, ValueError):
        return text


def parse_bbox(element: etree._Element) -> BoundingBox:
    lower = (child_text(element, "LowerCorner") or "").split()
    upper = (child_text(element, "UpperCorner") or "").split()
    return BoundingBox(tuple(map(float, lower)), tuple(map(float, upper)), element.get("crs"))


def is_json(mime_type: str | None) -> bool:
    mime = (mime_type or "").split(";")[0].strip().lower()
    return mime.endswith(("/json", "+json"))


def is_text(mime_type: str | None) -> bool:
    mime = (mime_type or "").split(";")[0].strip().lower()
    return mime.startswith("text/") or is_json(mime) or mime.endswith(("/xml", "+xml"))


def decode_content(raw: bytes, mime_type: str | None) -> Any:
    """Content as Python: JSON parsed, text (and XML) as str, anything else as bytes."""
    if is_text(mime_type) or not mime_type:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw
        if is_json(mime_type):
            try:
                return json.loads(text)
            except ValueError:
                return text
        return text
    return raw


def complex_value(element: etree._Element) -> Any:
    """An inline wps:ComplexData: XML as a string, base64 decoded, JSON parsed, text as str."""
    mime_type = element.get("mimeType")
    if (element.get("encoding") or "").lower() == "base64":
        return decode_content(base64.b64decode(element.text or ""), mime_type)
    node = first(element)
    if node is not None:  # a copy without the response's namespace declarations
        node = copy.deepcopy(node)
        etree.cleanup_namespaces(node)
        return etree.tostring(node, encoding="unicode").strip()
    return decode_content((element.text or "").encode("utf-8"), mime_type or "text/plain")


class Reference:
    """An output the server stores: fetched on demand, with the client's credentials.

    ``fetch()`` the bytes (cached), ``text``, ``json()``, ``value`` (decoded like an
    inline output), ``save(path)``. Passing a Reference as a complex input of
    another process sends it by reference.
    """

    def __init__(
        self,
        href: str,
        mime_type: str | None = None,
        encoding: str | None = None,
        schema: str | None = None,
        client: WPSClient | None = None,
    ) -> None:
        self.href, self.mime_type, self.encoding, self.schema = href, mime_type, encoding, schema
        self._client = client
        self._content: bytes | None = None

    @property
    def name(self) -> str:
        """The file name at the end of the URL."""
        return unquote(urlsplit(self.href).path.rstrip("/").rpartition("/")[2]) or "output"

    def _get(self, stream: bool = False):
        if self._client is not None:
            return self._client._request("GET", self.href, stream=stream, context=self.name)
        import requests

        reply = requests.get(self.href, stream=stream, timeout=30)
        if reply.status_code >= 400:
            raise error_from_reply(reply.status_code, reply.content, self.href, self.name)
        return reply

    def fetch(self) -> bytes:
        """The content (fetched once, then cached)."""
        if self._content is None:
            raw = self._get().content
            if (self.encoding or "").lower() == "base64":
                raw = base64.b64decode(raw)
            self._content = raw
        return self._content

    @property
    def text(self) -> str:
        return self.fetch().decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.fetch())

    @property
    def value(self) -> Any:
        """The content decoded as an inline output would be (JSON, text or bytes)."""
        return decode_content(self.fetch(), self.mime_type)

    def save(self, path: str | Path | None = None) -> Path:
        """Write the content to ``path`` (a directory: under the URL's file name)."""
        target = Path(path) if path is not None else Path(self.name)
        if target.is_dir():
            target = target / self.name
        if self._content is not None or (self.encoding or "").lower() == "base64":
            target.write_bytes(self.fetch())
            return target
        with self._get(stream=True) as reply, open(target, "wb") as out:
            for chunk in reply.iter_content(1 << 16):
                out.write(chunk)
        return target

    def __str__(self) -> str:
        return self.href

    def __repr__(self) -> str:
        return f"Reference({self.href!r}, mime_type={self.mime_type!r})"

    def _repr_html_(self) -> str:
        href = html.escape(self.href, quote=True)
        return (
            f'<a href="{href}" target="_blank">{html.escape(self.name)}</a> '
            f"<code>{html.escape(self.mime_type or '')}</code>"
        )


def read_outputs(
    root: etree._Element, process: ProcessDescription | None, client: WPSClient | None
) -> dict[str, Any]:
    """The outputs of an ExecuteResponse as Python values, by identifier."""
    specs = {o.identifier: o for o in process.outputs} if process is not None else {}
    values: dict[str, Any] = {}
    holder = child(root, "ProcessOutputs")
    for item in children(root if holder is None else holder, "Output"):
        identifier = child_text(item, "Identifier") or ""
        reference = child(item, "Reference")
        if reference is not None:
            href = reference.get("{http://www.w3.org/1999/xlink}href") or reference.get("href")
            values[identifier] = Reference(
                href or "",
                reference.get("mimeType"),
                reference.get("encoding"),
                reference.get("schema"),
                client,
            )
            continue
        holder = first(child(item, "Data"))
        if holder is None:
            continue
        kind = local(holder)
        if kind == "LiteralData":
            spec = specs.get(identifier)
            data_type = holder.get("dataType") or (spec.data_type if spec else None)
            values[identifier] = parse_literal(holder.text or "", data_type)
        elif kind in ("BoundingBoxData", "BoundingBox"):
            values[identifier] = parse_bbox(holder)
        else:
            values[identifier] = complex_value(holder)
    return values


# --------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class StatusEntry:
    time: dt.datetime
    state: str
    percent: int | None
    message: str


class Job:
    """A process execution on the server.

    ``state`` is one of accepted, running, successful, failed, dismissed;
    ``refresh()`` reads the status document again; ``result()`` waits (blocking)
    and returns the outputs; ``await job`` does the same in an async cell;
    ``cancel()`` dismisses the job (WPS 2.0 Dismiss); ``logs()`` is what the job
    printed. Displayed in Jupyter, a job is a live :class:`JobWidget`.
    """

    def __init__(
        self,
        client: WPSClient,
        process: ProcessDescription | None,
        document: bytes | None = None,
        result: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        self.client = client
        self.process = process
        self.process_id = process.identifier if process is not None else None
        self._result_of = result
        self._history: list[StatusEntry] = []
        self._document: etree._Element | None = None
        self._document_state = ""
        self._dismissed = False
        self._lock = threading.RLock()
        self._listeners: list[Callable[[Job], None]] = []
        #: the job directory when the kernel can read it; None: not looked for yet
        self._directory: Path | bool | None = None
        self._widget: Any = None
        #: a monitor polls it (one poller per job, however many widgets show it)
        self._watched = False
        self.status_location: str | None = None
        self.state, self.percent, self.message = "accepted", 0, ""
        self.created: dt.datetime | None = None
        self.finished: dt.datetime | None = None
        self.error: WPSError | None = None
        if document is not None:
            self._update(document)

    @classmethod
    def from_json(cls, client: WPSClient, data: dict[str, Any]) -> Job:
        """A job from a jupyter-wps server's JSON description (``wps/api/jobs``)."""
        function = client.processes.get(data.get("processID", ""))
        job = cls(
            client, getattr(function, "process", None), None, getattr(function, "make_result", None)
        )
        job.process_id = data.get("processID")
        job.update_from_json(data)
        return job

    # ------------------------------------------------------------------ status

    @property
    def id(self) -> str | None:
        """The job id: the status document's name (``<id>.xml``)."""
        if not self.status_location:
            return None
        name = urlsplit(self.status_location).path.rstrip("/").rpartition("/")[2]
        return name[:-4] if name.endswith(".xml") else name or None

    @property
    def done(self) -> bool:
        return self.state in FINAL

    @property
    def api_url(self) -> str | None:
        """The job in the JSON API of a jupyter-wps server (None for any other WPS)."""
        job_id, location = self.id, self.status_location
        if not job_id or not location:
            return None
        wps = urlsplit(self.client.url).path.rstrip("/")
        if urlsplit(location).path != f"{wps}/status/{job_id}.xml":
            return None
        return self.client.api_url(f"jobs/{job_id}")

    def subscribe(self, listener: Callable[[Job], None]) -> None:
        """Call ``listener(job)`` after every change of state, percent or message."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Job], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _update(self, content: bytes) -> None:
        root = parse_xml(content)
        if local(root) == "ExceptionReport":
            raise WPSError.from_report(root, context=self._name)
        status = child(root, "Status")
        element = first(status)
        try:
            state = JobState.from_wps1(local(element)).api if element is not None else None
        except KeyError:
            state = None
        if status is None or state is None:
            raise WPSError(f"not a WPS status document: {content[:200]!r}", context=self._name)
        with self._lock:
            self._document, self._document_state = root, state
            self.status_location = root.get("statusLocation") or self.status_location
            self.process_id = self.process_id or child_text(child(root, "Process"), "Identifier")
            self.state = state
            percent = element.get("percentCompleted")
            if self.state == "successful":
                self.percent = 100
            elif percent is not None and percent.isdigit():
                self.percent = int(percent)
            self.message = (element.text or "").strip()
            if self.state == "failed":
                report = child(element, "ExceptionReport")
                self.error = (
                    WPSError.from_report(report, context=self._name)
                    if report is not None
                    else WPSError(self.message or "the process failed", context=self._name)
                )
                self.message = self.error.text
                if self._dismissed or self.message.startswith("Dismissed"):
                    self.state = "dismissed"
            self._stamp(_timestamp(status.get("creationTime")))
            self._record()

    def update_from_json(self, data: dict[str, Any]) -> None:
        """Take the state from the JSON API's description of this job."""
        links = _links(data)
        with self._lock:
            self.status_location = links.get("status") or self.status_location
            if self._directory is None and links.get("job-directory"):
                self._directory = _visible_directory(links["job-directory"])
            self.state = data.get("status", self.state)
            self.percent = int(data.get("progress") or 0)
            self.message = data.get("message") or ""
            if self.state == "failed":
                self.error = WPSError(self.message or "the process failed", context=self._name)
            self.created = _timestamp(data.get("created")) or self.created
            self.finished = _timestamp(data.get("finished")) or self.finished
            self._record()

    def _stamp(self, time: dt.datetime | None) -> None:
        """Remember when the job was created and when it ended (the server's clock)."""
        if time is None:
            return
        self.created = self.created or time
        if self.done:
            self.finished = self.finished or time

    def _record(self) -> None:
        last = self._history[-1] if self._history else None
        if last is None or (last.state, last.percent, last.message) != (
            self.state,
            self.percent,
            self.message,
        ):
            entry = StatusEntry(dt.datetime.now(), self.state, self.percent, self.message)
            self._history.append(entry)
            self._notify()

    def _notify(self) -> None:
        """Tell the listeners (widgets) the job's state, from the calling thread."""
        for listener in list(self._listeners):
            try:
                listener(self)
            except Exception:  # a broken display must not break polling
                log.exception("a listener of %s failed", self._name)

    @property
    def _name(self) -> str:
        process = self.process_id or "job"
        return f"{process} job {self.id}" if self.status_location else process

    def refresh(self) -> Job:
        """Read the status document again (a no-op once the job is done)."""
        if not self.done and self.status_location:
            self._fetch()
        return self

    def _fetch(self) -> None:
        """The status document from the server (verdicts merged, URLs completed)."""
        assert self.status_location
        try:
            reply = self.client._request("GET", self.status_location, context=self._name)
        except WPSError as error:
            if error.status != 404 or not self._history:
                raise
            with self._lock:  # a job seen before and gone since: dismissed (or expired)
                if not self._dismissed and self.state != "dismissed":
                    self.message = "the job is gone from the server (dismissed or expired)"
                self.state = "dismissed"
                self._record()
            return
        self._update(reply.content)

    def poll(self) -> Job:
        """Refresh from the status file when the kernel can read it, else from the server.

        The file is the launcher's own status document; the server is asked only
        once the file says the job ended (or the server gave a verdict of its own).
        """
        if not self.done and self.status_location and not self._read_status_file():
            self._fetch()
        return self

    @property
    def reads_file(self) -> bool:
        """Whether polling reads the status document from the filesystem."""
        return isinstance(self._directory, Path)

    def _read_status_file(self) -> bool:
        """Update from ``status.xml`` in the job directory; False when the server must answer."""
        directory = self._find_directory()
        if directory is None:
            return False
        try:
            if (directory / VERDICT_FILE).exists():
                return False  # the server decided (dismissed, lost...): its document counts
            summary = read_status((directory / STATUS_FILE).read_bytes())
        except (OSError, OWSException):
            return False
        state = JobState(summary.state).api
        if state in FINAL:
            return False  # the final document, outputs and all, comes from the server
        with self._lock:
            self.state, self.message = state, summary.message.strip()
            if summary.percent is not None:
                self.percent = summary.percent
            self._stamp(summary.creation_time)
            self._record()
        return True

    def _find_directory(self) -> Path | None:
        """The job directory, asked once of a jupyter-wps server; None when not visible."""
        if self._directory is None:
            self._directory = False
            api = self.api_url
            if api is not None:
                try:
                    data = self.client._request("GET", api, context=self._name).json()
                except (OSError, WPSError, ValueError):
                    data = {}
                href = _links(data).get("job-directory")
                if href:
                    self._directory = _visible_directory(href)
        return self._directory if isinstance(self._directory, Path) else None

    def _next_delay(self, delay: float) -> float:
        return min(delay * BACKOFF, MAX_POLL)

    def _poll_once(self, errors: int) -> int:
        """Poll, tolerating a few failed requests in a row; the new error count."""
        try:
            self.poll()
        except (OSError, WPSError, etree.XMLSyntaxError) as error:  # requests': OSErrors
            status = getattr(error, "status", None)
            if status is not None and status < 500 or errors + 1 >= MAX_POLL_ERRORS:
                raise
            return errors + 1
        return 0

    # ------------------------------------------------------------------ results

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the job to end and return its outputs.

        One output: its value; several: a named tuple. Raises ProcessError when
        the job failed or was dismissed, TimeoutError after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay, errors = FIRST_POLL, 0
        while not self.done:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self._name} is still {self.state} ({self.percent}%) "
                        f"after {timeout} s; call result() again to keep waiting"
                    )
                delay = min(delay, left)
            time.sleep(FILE_POLL if self.reads_file else delay)
            errors = self._poll_once(errors)
            delay = self._next_delay(delay)
        self._notify()  # once more from here: a notebook run by nbclient saves the final state
        return self._outputs()

    def __await__(self):
        return self._wait().__await__()

    async def _wait(self) -> Any:
        delay, errors = FIRST_POLL, 0
        while not self.done:
            await asyncio.sleep(FILE_POLL if self.reads_file else delay)
            errors = await asyncio.to_thread(self._poll_once, errors)
            delay = self._next_delay(delay)
        self._notify()
        return self._outputs()

    def _outputs(self) -> Any:
        if self.state == "dismissed":
            raise ProcessError(f"{self._name} was dismissed ({self.message})")
        if self.state == "failed":
            error = self.error or WPSError("the process failed")
            raise ProcessError(error.text, error.code, error.locator, context=self._name)
        values = read_outputs(self._final_document(), self.process, self.client)
        return self._result_of(values) if self._result_of is not None else values

    def _final_document(self) -> etree._Element:
        """The successful job's document (fetched when the job was known from JSON)."""
        if self._document is None or self._document_state != "successful":
            self._fetch()
        assert self._document is not None
        return self._document

    @property
    def outputs(self) -> dict[str, Any]:
        """The outputs by identifier (the job must have succeeded)."""
        if self.state != "successful":
            raise ProcessError(f"{self._name} is {self.state}, it has no outputs")
        return read_outputs(self._final_document(), self.process, self.client)

    # ------------------------------------------------------------------ control

    def cancel(self) -> Job:
        """Dismiss the job (WPS 2.0 Dismiss): a running job is stopped, a finished one removed.

        NotImplementedError when the server has no Dismiss operation (WPS 1.0.0 has
        no way to cancel a job).
        """
        if not self.status_location or not self.id:
            raise ValueError(f"{self._name} ran synchronously: there is nothing to cancel")
        if "2.0.0" not in self.client.versions:
            raise NotImplementedError(
                f"{self.client.url} speaks WPS 1.0.0 only, which cannot cancel a job"
            )
        params = {"service": "WPS", "version": "2.0.0", "request": "Dismiss", "jobId": self.id}
        try:
            reply = self.client._request("GET", self.client.url, params=params, context=self._name)
        except WPSError as error:
            if error.code in ("OperationNotSupported", "VersionNegotiationFailed") or (
                error.code in ("InvalidParameterValue", "MissingParameterValue")
                and (error.locator or "").lower() in ("request", "version", "dismiss")
            ):
                raise NotImplementedError(
                    f"{self.client.url} cannot cancel jobs (no WPS 2.0 Dismiss): {error.text}"
                ) from None
            raise
        state = child_text(parse_xml(reply.content), "Status")
        if (state or "").lower() != "dismissed":
            raise WPSError(f"the server answered Dismiss with status {state!r}", context=self._name)
        with self._lock:
            self._dismissed = True
            self.state, self.message = "dismissed", "dismissed"
            self.finished = self.finished or dt.datetime.now(dt.timezone.utc)
            self._record()
        return self

    def logs(self) -> str:
        """What the job printed: its launcher.log on a jupyter-wps server.

        Other servers publish no logs: there, the status messages seen so far
        (see :attr:`history`), one line each.
        """
        api = self.api_url
        if api is not None:
            try:
                return self.client._request("GET", f"{api}/log", context=self._name).text
            except WPSError as error:
                if error.status != 404:
                    raise
        return "\n".join(
            f"{e.time:%H:%M:%S} {e.state:<10} {'' if e.percent is None else e.percent:>3}% "
            f"{e.message}".rstrip()
            for e in self._history
        )

    @property
    def history(self) -> Sequence[StatusEntry]:
        """Every (state, percent, message) this client saw, with the time it saw it."""
        return tuple(self._history)

    # ------------------------------------------------------------------ display

    @property
    def widget(self) -> Any:
        """The job's live :class:`~jupyter_wps.client.widgets.JobWidget` (one per job)."""
        from .widgets import JobWidget

        if self._widget is None:
            self._widget = JobWidget(self)
        return self._widget

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """In a Jupyter kernel, the live widget; elsewhere, HTML and text."""
        from .widgets import in_kernel

        if in_kernel():
            return self.widget._repr_mimebundle_(include=include, exclude=exclude)
        return {"text/plain": repr(self), "text/html": self._repr_html_()}

    def __repr__(self) -> str:
        message = f" {self.message!r}" if self.message else ""
        return f"<Job {self._name}: {self.state} {self.percent}%{message}>"

    def _repr_html_(self) -> str:
        colour = {"successful": "green", "failed": "red", "dismissed": "gray"}.get(
            self.state, "inherit"
        )
        link = ""
        if self.status_location:
            href = html.escape(without_capability(self.status_location), quote=True)
            link = f' <a href="{href}" target="_blank">status</a>'
        return (
            f"<div><b>{html.escape(self._name)}</b>{link}: "
            f'<span style="color:{colour}">{self.state}</span> '
            f'<progress value="{self.percent}" max="100"></progress> {self.percent}% '
            f"<i>{html.escape(self.message)}</i></div>"
        )


def without_capability(url: str | None) -> str:
    """``url`` without its ``cap`` parameter: what is shown is saved in notebooks people share."""
    if not url:
        return ""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "cap"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _links(data: dict[str, Any]) -> dict[str, str]:
    """A JSON API description's links by relation (``status``, ``job-directory``...)."""
    return {link.get("rel"): link.get("href") for link in data.get("links", [])}


def _timestamp(text: str | None) -> dt.datetime | None:
    """An ISO 8601 time (the server's), None when absent or unreadable."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _visible_directory(uri: str) -> Path | bool:
    """The job directory a ``file:`` URI names, when this process can read it (else False)."""
    parts = urlsplit(uri)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return False
    path = Path(url2pathname(parts.path))
    return path if os.access(path, os.R_OK | os.X_OK) and path.is_dir() else False
