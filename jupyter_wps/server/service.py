"""The WPS service: answers parsed requests. Plain Python; the tornado handlers are thin.

Responses are built from the process registry (GetCapabilities and
DescribeProcess are cached: no per-request template work) and from the job
manager (Execute, status, results).
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..config import Config
from ..process import ComplexData, Process, ProcessRegistry
from ..wps import response as wps_response
from ..wps.exceptions import (
    FileSizeExceeded,
    InvalidParameterValue,
    NoApplicableCode,
    ResultNotReady,
)
from ..wps.execute import validate_inputs, validate_response_form
from ..wps.request import (
    DescribeProcess,
    Execute,
    GetCapabilities,
    JobRequest,
    Request,
    negotiate_version,
)
from .manager import Job, JobManager

XML = "text/xml; charset=utf-8"

#: WPS 1.0.0 state -> WPS 2.0 StatusInfo state
WPS2_STATES = {
    "accepted": "Accepted",
    "started": "Running",
    "paused": "Running",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "dismissed": "Dismissed",
}


@dataclass
class Reply:
    """What the handler writes: body, content type, HTTP status, extra headers."""

    body: bytes
    content_type: str = XML
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class WPSService:
    """WPS 1.0.0 operations (and WPS 2.0 job operations) over a registry and a job manager."""

    def __init__(self, config: Config, registry: ProcessRegistry, manager: JobManager) -> None:
        self.config = config
        self.registry = registry
        self.manager = manager
        self._capabilities: dict[str, bytes] = {}

    def invalidate(self) -> None:
        """The registry changed: forget cached documents."""
        self._capabilities.clear()

    async def handle(self, request: Request, owner: str, wps_url: str) -> Reply:
        if isinstance(request, GetCapabilities):
            negotiate_version(request.accept_versions)
            return Reply(self.capabilities(wps_url))
        if isinstance(request, DescribeProcess):
            return Reply(self.describe(request.identifiers))
        if isinstance(request, Execute):
            return await self.execute(request, owner, wps_url)
        if isinstance(request, JobRequest):
            return await self.job_operation(request, owner, wps_url)
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
        identifiers = list(identifiers)
        if any(i.upper() == "ALL" for i in identifiers):
            return list(self.registry)
        found = []
        for identifier in identifiers:
            proc = self.registry.get(identifier)
            if proc is None:
                raise InvalidParameterValue(f"no process {identifier!r}", locator=identifier)
            found.append(proc)
        return found

    def describe(self, identifiers: Iterable[str]) -> bytes:
        return wps_response.process_descriptions(self.processes(identifiers), self.config.language)

    # ------------------------------------------------------------------ execute

    async def execute(self, request: Execute, owner: str, wps_url: str) -> Reply:
        (process,) = self.processes([request.identifier])
        inputs = validate_inputs(process, request.inputs, self.config.maxsingleinputsize)
        form = request.response
        validate_response_form(process, form)
        await self.fetch_references(inputs)
        is_async = form.store and form.status
        job = self.manager.submit(
            process, inputs, form, owner, lineage=request.inputs, sync=not is_async
        )
        if is_async:
            return Reply(self.status(job, wps_url))
        await self.manager.wait(job)
        if form.raw:
            return self.raw_output(job)
        reply = Reply(self.status(job, wps_url))
        if not form.store and not self._has_files(job):
            self.manager.remove(job)
        return reply

    def _has_files(self, job: Job) -> bool:
        outputs_dir = Path(job.record.get("outputs_dir") or job.dir.outputs_dir)
        return outputs_dir.is_dir() and any(outputs_dir.iterdir())

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
        path = self.manager.output_file(job, output.href.rsplit("/", 1)[-1])
        body = path.read_bytes() if path is not None else b""
        mime_type = output.mime_type or "application/octet-stream"
        self.manager.remove(job)
        return Reply(
            body,
            content_type=mime_type,
            headers={
                "Content-Disposition": f'inline; filename="{path.name if path else "output"}"'
            },
        )

    async def fetch_references(self, inputs: dict[str, list[Any]]) -> None:
        """Fetch complex inputs given by reference, before the job is submitted.

        Compute nodes often have no outbound network; the server does.
        """
        pending = [
            value
            for values in inputs.values()
            for value in values
            if isinstance(value, ComplexData) and value.href and value.data is None
        ]
        if pending:
            loop = asyncio.get_running_loop()
            await asyncio.gather(
                *(loop.run_in_executor(None, self._fetch, value) for value in pending)
            )

    def _fetch(self, value: ComplexData) -> None:
        href = value.href or ""
        limit = self.config.maxsingleinputsize
        scheme = urlsplit(href).scheme.lower()
        if scheme == "file":
            value.data = self._read_allowed_file(href, limit)
            return
        if scheme not in ("http", "https"):
            raise InvalidParameterValue(f"unsupported reference {href!r}", locator="href")
        try:
            with urllib.request.urlopen(href, timeout=self.config.reference_timeout) as reply:
                length = reply.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > limit:
                    raise FileSizeExceeded(
                        f"reference {href} is {length} bytes; the limit is {limit}", locator=href
                    )
                data = reply.read(limit + 1)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise InvalidParameterValue(
                f"the reference {href} could not be fetched: {exc}", locator=href
            ) from None
        if len(data) > limit:
            raise FileSizeExceeded(f"reference {href} exceeds {limit} bytes", locator=href)
        value.data = data

    def _read_allowed_file(self, href: str, limit: int) -> bytes:
        path = Path(unquote(urlsplit(href).path)).resolve()
        allowed = [Path(p).resolve() for p in self.config.allowedinputpaths]
        if not any(path.is_relative_to(root) for root in allowed):
            raise InvalidParameterValue(
                f"file references are only allowed under the configured allowedinputpaths: {href}",
                locator=href,
            )
        try:
            if path.stat().st_size > limit:
                raise FileSizeExceeded(f"{href} exceeds {limit} bytes", locator=href)
            return path.read_bytes()
        except OSError as exc:
            raise InvalidParameterValue(f"{href} cannot be read: {exc}", locator=href) from None

    # ------------------------------------------------------------------ WPS 2.0 job operations

    async def job_operation(self, request: JobRequest, owner: str, wps_url: str) -> Reply:
        job = self.manager.get(request.job_id, owner)
        if request.operation == "Dismiss":
            await self.manager.dismiss(job, by=owner)
            return Reply(wps_response.status_info(job.id, "Dismissed"))
        summary = self.manager.summary(job)
        if request.operation == "GetResult":
            if summary.state != "succeeded":
                raise ResultNotReady(f"job {job.id} is {summary.state}", locator=job.id)
            outputs = wps_response.read_outputs(self.status(job, wps_url))
            return Reply(wps_response.result_document(job.id, outputs))
        return Reply(wps_response.status_info(job.id, WPS2_STATES[summary.state], summary.percent))

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
