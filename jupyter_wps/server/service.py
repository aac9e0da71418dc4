"""The WPS service: answers parsed requests. Plain Python; the tornado handlers are thin.

Responses are built from the process registry (GetCapabilities and
DescribeProcess are cached: no per-request template work) and from the job
manager (Execute, status, results).
"""

from __future__ import annotations

import asyncio
import http.client
import os
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..backends import default_resources
from ..config import Config, parse_int, parse_memory, parse_walltime
from ..process import ComplexData, ComplexInput, Process, ProcessRegistry
from ..registry import select
from ..wps import response as wps_response
from ..wps.exceptions import (
    FileSizeExceeded,
    InvalidParameterValue,
    NoApplicableCode,
    ResultNotReady,
)
from ..wps.execute import (
    ComplexReference,
    max_input_bytes,
    validate_inputs,
    validate_response_form,
)
from ..wps.request import (
    DescribeProcess,
    Execute,
    GetCapabilities,
    JobRequest,
    Request,
    negotiate_version,
)
from ..wps.states import JobState
from .auth import Caller
from .manager import Job, JobManager
from .published import PublishedProcess, PublishedStore, PublishError

XML = "text/xml; charset=utf-8"
#: how per-request resources are read (and checked)
PARSERS = {"cores": parse_int, "walltime": parse_walltime, "memory": parse_memory}


@dataclass
class Reply:
    """What the handler writes: body, content type, HTTP status, extra headers."""

    body: bytes
    content_type: str = XML
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class WPSService:
    """WPS 1.0.0 operations (and WPS 2.0 job operations) over a registry and a job manager."""

    def __init__(
        self,
        config: Config,
        registry: ProcessRegistry,
        manager: JobManager,
        published: PublishedStore | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.manager = manager
        #: processes published from kernels (None: this server takes no publications)
        self.published = published
        self._capabilities: dict[str, bytes] = {}

    def invalidate(self) -> None:
        """The registry changed: forget cached documents."""
        self._capabilities.clear()

    # ------------------------------------------------------------------ publishing

    def publish(self, owner: str, body: Any) -> tuple[PublishedProcess, bool]:
        """A kernel publishes a process (see :class:`PublishedStore`); (it, whether new)."""
        if self.published is None:
            raise PublishError(404, "this server takes no published processes")
        process, created = self.published.publish(owner, body)
        self.invalidate()
        return process, created

    def unpublish(self, owner: str, identifier: str) -> PublishedProcess:
        if self.published is None:
            raise PublishError(404, "this server takes no published processes")
        process = self.published.unpublish(owner, identifier)
        self.invalidate()
        return process

    async def handle(self, request: Request, caller: Caller | None, wps_url: str) -> Reply:
        """Answer one request; ``caller`` is None only for public capabilities."""
        if isinstance(request, GetCapabilities):
            negotiate_version(request.accept_versions)
            return Reply(self.capabilities(wps_url))
        if isinstance(request, DescribeProcess):
            return Reply(self.describe(request.identifiers))
        if isinstance(request, Execute):
            assert caller is not None
            caller.require_execute("Execute")
            return await self.execute(request, caller.name, wps_url)
        if isinstance(request, JobRequest):
            assert caller is not None
            return await self.job_operation(request, caller, wps_url)
        raise NoApplicableCode(f"unhandled request {request.operation}")

    # ------------------------------------------------------------------ metadata

    def capabilities(self, wps_url: str) -> bytes:
        url = self.config.url or wps_url
        document = self._capabilities.get(url)
        if document is None:
            document = wps_response.capabilities(
                self.registry, self.config.metadata, url, self.config.language
            )
            self._capabilities[url] = document
        return document

    def processes(self, identifiers: Iterable[str]) -> list[Process]:
        """The named processes (``ALL``: every one); InvalidParameterValue for unknown ones."""
        return select(self.registry, identifiers)

    def describe(self, identifiers: Iterable[str]) -> bytes:
        return wps_response.process_descriptions(self.processes(identifiers), self.config.language)

    # ------------------------------------------------------------------ execute

    async def execute(self, request: Execute, owner: str, wps_url: str) -> Reply:
        found = self.processes([request.identifier])
        if len(found) != 1:  # the parser refuses ALL and lists; a request built elsewhere may not
            raise InvalidParameterValue(
                f"Execute runs one named process, not {request.identifier!r}",
                locator="identifier",
            )
        process = found[0]
        inputs = validate_inputs(process, request.inputs, self.config.maxsingleinputsize)
        form = request.response
        validate_response_form(process, form)
        resources = self.resources(process, request.resources)
        await self.fetch_references(process, inputs)
        is_async = form.store and form.status
        job = await self.manager.submit(
            process,
            inputs,
            form,
            owner,
            lineage=request.inputs,
            sync=not is_async,
            resources=resources,
        )
        if is_async:
            return Reply(self.status(job, wps_url))
        await self.manager.wait(job)
        if form.raw:
            return self.raw_output(job)
        reply = Reply(self.status(job, wps_url))
        if not form.store and not self.manager.has_outputs(job):
            self.manager.remove(job)
        return reply

    def resources(self, process: Process, requested: dict[str, str]) -> dict[str, Any]:
        """The job's batch resources: the operator's defaults, the process author's, then
        what the request asks for, where the operator allows it."""
        resources = default_resources(self.config)
        resources.update(process.resources)
        for name, value in requested.items():
            if name not in self.config.allowed_overrides:
                raise InvalidParameterValue(
                    f"{name} cannot be chosen per request on this server", locator=name
                )
            try:
                # a queue, account or QOS is one word: it ends up on a scheduler's command line
                words = value.split()
                if name not in PARSERS and (len(words) != 1 or not words[0].isprintable()):
                    raise ValueError(f"{value!r} is not a single word")
                resources[name] = PARSERS.get(name, str.strip)(value)
            except (ValueError, OverflowError) as exc:  # OverflowError: memory=9999...9G
                raise InvalidParameterValue(f"{name}: {exc}", locator=name) from None
        return resources

    def status(self, job: Job, wps_url: str) -> bytes:
        """The job's status document as served: verdict merged, URLs completed."""
        return self.manager.complete_urls(self.manager.status_document(job), wps_url, job.id)

    def raw_output(self, job: Job) -> Reply:
        """A RawDataOutput: the one output's content, with its MIME type."""
        summary = self.manager.summary(job)
        if summary.state != "succeeded":
            self.manager.remove(job)
            raise NoApplicableCode(summary.message or "the process failed")
        (output,) = wps_response.read_outputs(self.manager.status_document(job))
        name = (output.href or "").rsplit("/", 1)[-1]
        try:
            with os.fdopen(self.manager.open_output(job, name), "rb") as stream:
                body = stream.read()
        except OSError:
            name, body = "output", b""
        mime_type = output.mime_type or "application/octet-stream"
        self.manager.remove(job)
        return Reply(
            body,
            content_type=mime_type,
            headers={"Content-Disposition": f'inline; filename="{name}"'},
        )

    async def fetch_references(self, process: Process, inputs: dict[str, list[Any]]) -> None:
        """Fetch complex inputs given by reference, before the job is submitted.

        Compute nodes often have no outbound network; the server does. Each
        fetch runs in a thread, within ``reference_timeout`` and the input's
        size limit; a fetched value keeps its ``href`` (for lineage) and gets
        ``data`` (and loses the request's headers and body: they may hold
        credentials, and the job file need not keep them).
        """
        pending = [
            (identifier, values, index)
            for identifier, values in inputs.items()
            for index, value in enumerate(values)
            if isinstance(value, ComplexData) and value.href and value.data is None
        ]
        if not pending:
            return
        loop = asyncio.get_running_loop()
        timeout = self.config.reference_timeout

        async def fetch(identifier: str, values: list[Any], index: int) -> None:
            value = values[index]
            spec = process.input(identifier)
            limit = (
                max_input_bytes(spec, self.config.maxsingleinputsize)
                if isinstance(spec, ComplexInput)
                else self.config.maxsingleinputsize
            )
            job = loop.run_in_executor(None, self._fetch, value, identifier, limit)
            try:
                # the thread keeps its own deadline; this one answers the client even
                # when a read blocks (the thread then ends at its socket timeout)
                data = await asyncio.wait_for(job, timeout + _TIMEOUT_GRACE)
            except asyncio.TimeoutError:
                raise _timed_out(identifier, value.href or "", timeout) from None
            values[index] = ComplexData(
                data=data,
                mime_type=value.mime_type,
                encoding=value.encoding,
                schema=value.schema,
                href=value.href,
            )

        await asyncio.gather(*(fetch(*item) for item in pending))

    def _fetch(self, value: ComplexData, identifier: str, limit: int | None) -> bytes:
        """The content of one reference (in a thread): GET, or POST with its body."""
        deadline = time.monotonic() + self.config.reference_timeout
        href = value.href or ""
        method, headers, body, body_reference = "GET", {}, None, None
        if isinstance(value, ComplexReference):
            method = (value.method or "GET").upper()
            headers, body, body_reference = value.headers, value.body, value.body_reference
        if method not in ("GET", "POST"):
            raise InvalidParameterValue(
                f"input {identifier}: reference method must be GET or POST, not {method}",
                locator=identifier,
            )
        if method == "GET":
            return self._get(href, identifier, limit, deadline, headers=headers)
        if body is None and body_reference:
            body = self._get(body_reference, identifier, limit, deadline, what="body reference")
        return self._get(
            href, identifier, limit, deadline, method="POST", headers=headers, body=body or b""
        )

    def _get(
        self,
        href: str,
        identifier: str,
        limit: int | None,
        deadline: float,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        what: str = "reference",
    ) -> bytes:
        """Read ``href`` (http, https or an allowed file) up to ``limit`` bytes by ``deadline``."""
        scheme = urlsplit(href).scheme.lower()
        if scheme == "file":
            if method != "GET":
                raise InvalidParameterValue(
                    f"input {identifier}: a file {what} cannot be POSTed to", locator=identifier
                )
            return self._read_allowed_file(href, identifier, limit)
        if scheme not in ("http", "https"):
            raise InvalidParameterValue(
                f"input {identifier}: the {what} {href!r} is not an http, https or file URL",
                locator=identifier,
            )
        request_headers = dict(headers or {})
        if body is not None and not any(k.lower() == "content-type" for k in request_headers):
            xml = body.lstrip().startswith(b"<")
            request_headers["Content-Type"] = (
                "text/xml; charset=utf-8" if xml else "application/octet-stream"
            )
        timeout = self.config.reference_timeout
        try:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            request = urllib.request.Request(
                href, data=body, headers=request_headers, method=method
            )
            with _opener().open(request, timeout=remaining) as reply:
                length = reply.headers.get("Content-Length", "").strip()
                if limit is not None and length.isdigit() and int(length) > limit:
                    raise _too_large(identifier, href, limit, what, int(length))
                return _read_limited(reply, identifier, href, limit, deadline, timeout, what)
        except _RedirectRefused as exc:
            raise InvalidParameterValue(
                f"input {identifier}: the {what} {href} redirects to {exc.url!r}; "
                "only http and https redirects are followed",
                locator=identifier,
            ) from None
        except urllib.error.HTTPError as exc:
            raise InvalidParameterValue(
                f"input {identifier}: the {what} {href} could not be fetched: "
                f"HTTP {exc.code} {exc.reason}",
                locator=identifier,
            ) from None
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError):
                raise _timed_out(identifier, href, timeout, what) from None
            raise InvalidParameterValue(
                f"input {identifier}: the {what} {href} could not be fetched: {reason}",
                locator=identifier,
            ) from None

    def _read_allowed_file(self, href: str, identifier: str, limit: int | None) -> bytes:
        """A ``file://`` reference's content, if it lies under ``allowedinputpaths``.

        The check is on the path with symlinks and ``..`` resolved, and the file is
        opened without following a symlink swapped in since.
        """
        parts = urlsplit(href)

        def refuse(problem: str) -> InvalidParameterValue:
            return InvalidParameterValue(
                f"input {identifier}: {href} {problem}", locator=identifier
            )

        if parts.netloc not in ("", "localhost"):
            raise refuse("names another host; file references must be local")
        raw = unquote(parts.path)
        try:
            if not raw.startswith("/"):
                raise ValueError
            path = Path(os.path.realpath(raw))
            allowed = [Path(os.path.realpath(root)) for root in self.config.allowedinputpaths]
        except (OSError, ValueError):
            raise refuse("is not an absolute file path") from None
        if not any(path.is_relative_to(root) for root in allowed):
            raise refuse(
                "is not allowed: file references must lie under the server's allowedinputpaths"
            )
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
        except (OSError, ValueError) as exc:
            raise refuse(f"cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
        with os.fdopen(fd, "rb", buffering=0) as stream:
            info = os.fstat(stream.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise refuse("is not a regular file")
            if limit is not None and info.st_size > limit:
                raise _too_large(identifier, href, limit, "reference", info.st_size)
            try:
                return _read_limited(stream, identifier, href, limit, None, 0, "reference")
            except OSError as exc:
                raise refuse(f"cannot be read: {exc.strerror or exc}") from None

    # ------------------------------------------------------------------ WPS 2.0 job operations

    async def job_operation(self, request: JobRequest, caller: Caller, wps_url: str) -> Reply:
        job = self.manager.get(request.job_id, caller.visible)
        if request.operation == "Dismiss":
            caller.require_execute("Dismiss")
            await self.manager.dismiss(job, by=caller.name)
            return Reply(wps_response.status_info(job.id, JobState.DISMISSED))
        summary = self.manager.summary(job)
        if request.operation == "GetResult":
            if summary.state != "succeeded":
                raise ResultNotReady(f"job {job.id} is {summary.state}", locator=job.id)
            outputs = wps_response.read_outputs(self.status(job, wps_url))
            return Reply(wps_response.result_document(job.id, outputs))
        return Reply(wps_response.status_info(job.id, summary.state, summary.percent))

    # ------------------------------------------------------------------ JSON API

    def process_json(self, process: Process, wps_url: str, detail: bool = False) -> dict[str, Any]:
        """A process summary (or description) shaped like OGC API - Processes."""
        data: dict[str, Any] = {
            "id": process.identifier,
            "title": process.title,
            "description": process.abstract,
            "version": process.version,
            "keywords": list(process.keywords),
            "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
            "outputTransmission": ["value", "reference"],
            "links": [
                {
                    "href": f"{wps_url}/api/processes/{process.identifier}",
                    "rel": "self",
                    "type": "application/json",
                },
                {
                    "href": f"{wps_url}?service=WPS&version=1.0.0&request=DescribeProcess"
                    f"&identifier={process.identifier}",
                    "rel": "describedby",
                    "type": "application/xml",
                },
            ],
        }
        if isinstance(process, PublishedProcess):
            data["published"] = {
                "owner": process.owner,
                "time": process.published,
                "python": process.runtime["python"],
                "dill": process.runtime["dill"],
            }
        if detail:
            data["inputs"] = {i.identifier: _parameter_json(i) for i in process.inputs}
            data["outputs"] = {o.identifier: _parameter_json(o) for o in process.outputs}
        return data

    def results_json(self, job: Job, wps_url: str) -> dict[str, Any]:
        """A succeeded job's outputs: values inline, files as links."""
        summary = self.manager.summary(job)
        if summary.state != "succeeded":
            raise ResultNotReady(f"job {job.id} is {summary.state}", locator=job.id)
        results: dict[str, Any] = {}
        for output in wps_response.read_outputs(self.status(job, wps_url)):
            if output.href:
                results[output.identifier] = {"href": output.href, "type": output.mime_type}
            else:
                results[output.identifier] = output.value
        return results


#: How much longer than ``reference_timeout`` a fetch may take before the client is told
_TIMEOUT_GRACE = 1.0
_READ_CHUNK = 1 << 16
#: Headers not sent on when a reference redirects to another host
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")


class _RedirectRefused(Exception):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows http(s) redirects only; credentials are not sent on to another host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        target = urlsplit(newurl)
        if target.scheme.lower() not in ("http", "https"):
            fp.close()
            raise _RedirectRefused(newurl)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and target.netloc.lower() != urlsplit(req.full_url).netloc.lower():
            for key in list(new.headers):
                if key.lower() in _CREDENTIAL_HEADERS:
                    del new.headers[key]
        return new

    def http_error_302(self, req, fp, code, msg, headers):
        location = headers.get("location") or headers.get("uri") or ""
        scheme = urlsplit(location).scheme.lower()
        if scheme and scheme not in ("http", "https"):
            fp.close()
            raise _RedirectRefused(location)
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _opener() -> urllib.request.OpenerDirector:
    """An opener for http and https only (no file, ftp or data handlers, even on redirect)."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        _RedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _too_large(
    identifier: str, href: str, limit: int, what: str, size: int | None = None
) -> FileSizeExceeded:
    return FileSizeExceeded(
        f"input {identifier}: the {what} {href} "
        + (f"is {size} bytes, more" if size is not None else "is larger")
        + f" than the {limit} bytes allowed",
        locator=identifier,
    )


def _timed_out(
    identifier: str, href: str, timeout: float, what: str = "reference"
) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"input {identifier}: fetching the {what} {href} timed out after {timeout:g} s",
        locator=identifier,
    )


def _read_limited(
    stream: Any,
    identifier: str,
    href: str,
    limit: int | None,
    deadline: float | None,
    timeout: float,
    what: str,
) -> bytes:
    """Read ``stream`` in chunks, refusing it once past ``limit`` bytes or ``deadline``."""
    read = getattr(stream, "read1", None) or stream.read
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = read(_READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if limit is not None and size > limit:
            raise _too_large(identifier, href, limit, what)
        chunks.append(chunk)
        if deadline is not None and time.monotonic() > deadline:
            raise _timed_out(identifier, href, timeout, what)


_JSON_TYPES = {"integer": "integer", "double": "number", "float": "number", "boolean": "boolean"}
_JSON_FORMATS = {"date": "date", "dateTime": "date-time", "time": "time", "anyURI": "uri"}


def _parameter_json(spec: Any) -> dict[str, Any]:
    """An input or output as OGC API - Processes describes it (title, occurrences, schema)."""
    data: dict[str, Any] = {"title": spec.title or spec.identifier, "description": spec.abstract}
    if hasattr(spec, "min_occurs"):
        data["minOccurs"] = spec.min_occurs
        data["maxOccurs"] = spec.max_occurs
    if spec.kind == "literal":
        schema: dict[str, Any] = {"type": _JSON_TYPES.get(spec.data_type, "string")}
        if spec.data_type in _JSON_FORMATS:
            schema["format"] = _JSON_FORMATS[spec.data_type]
        if getattr(spec, "default", None) is not None:
            schema["default"] = (
                spec.default if isinstance(spec.default, (int, float, str)) else str(spec.default)
            )
        allowed = [v for v in getattr(spec, "allowed_values", ()) if not hasattr(v, "contains")]
        if allowed:
            schema["enum"] = list(allowed)
    elif spec.kind == "complex":
        schema = {
            "oneOf": [
                {
                    "type": "string",
                    "contentMediaType": f.mime_type,
                    **({"contentEncoding": f.encoding} if f.encoding else {}),
                }
                for f in spec.formats
            ]
        }
    else:
        schema = {
            "type": "object",
            "format": "ogc-bbox",
            "properties": {"crs": {"enum": list(spec.crss)}},
        }
    data["schema"] = schema
    return data
