"""Tornado handlers: parse the HTTP request, call the service, write the answer.

Every endpoint needs Jupyter's authentication (token header or cookie). A
request without valid credentials gets an OWS ExceptionReport (401), never
the HTML login page. Status documents and outputs can also be read with the
job's signed capability (``?cap=``), for clients that cannot send headers.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
from http import HTTPStatus
from typing import Any

from jupyter_server._tz import utcnow
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from ..process import SUFFIXES
from ..wps.exceptions import (
    AccessDenied,
    FileSizeExceeded,
    MissingParameterValue,
    NoApplicableCode,
    OWSException,
)
from ..wps.request import DescribeProcess, GetCapabilities, parse_kvp, parse_xml_request
from ..wps.response import FALLBACK_EXCEPTION_REPORT, exception_report
from .auth import Caller, forwarded_origin, identify
from .manager import Job, JobManager
from .published import MAX_REQUEST_BYTES as MAX_PUBLISH_REQUEST
from .published import PublishError
from .service import XML, Reply, WPSService

log = logging.getLogger("jupyter_wps")

#: jupyter_server's own identity providers: a token-only client is a new anonymous user
#: on every request. Any other provider (JupyterHub's, a site's) gives stable identities.
ANONYMOUS_IDENTITIES = (IdentityProvider, PasswordIdentityProvider)

_MIME_BY_SUFFIX = {suffix: mime for mime, suffix in reversed(list(SUFFIXES.items()))}
CHUNK = 1 << 16
#: the most of a launcher.log the API sends (its end)
MAX_LOG_BYTES = 1 << 20
#: WPS operations that change state: with a login cookie alone they need the _xsrf token
STATE_CHANGING = ("Execute", "Dismiss")


class BaseWPSHandler(ExtensionHandlerMixin, JupyterHandler):
    """Shared parts: the service, the caller's identity, OWS exception replies."""

    @property
    def service(self) -> WPSService:
        return self.settings["jupyter_wps_service"]

    @property
    def manager(self) -> JobManager:
        return self.service.manager

    @property
    def wps_url(self) -> str:
        """The public URL of the WPS endpoint, as the client reached it.

        Behind proxies that the server is configured to trust (``trust_xheaders``,
        which a JupyterHub single-user server sets), the scheme and host the client
        used are the first of the forwarded ones: each proxy appends its own.
        """
        configured = self.service.config.url
        if configured:
            return configured.rstrip("/")
        protocol, host = self.request.protocol, self.request.host
        if self.settings["serverapp"].trust_xheaders:
            protocol, host = forwarded_origin(self.request.headers, protocol, host)
        return f"{protocol}://{host}{self.base_url}wps"

    async def prepare(self) -> None:
        await super().prepare()
        await self.manager.start()  # at the first request when the server did not start it
        self.caller, self._denied = await identify(
            self,
            self.settings["jupyter_wps_server_owner"],
            anonymous=type(self.identity_provider) in ANONYMOUS_IDENTITIES,
        )

    def check_xsrf_cookie(self) -> None:
        # an anonymous request is refused by require_caller() with a proper report
        if getattr(self, "_jupyter_current_user", None) is None:
            return
        super().check_xsrf_cookie()

    def require_caller(self, execute: str | None = None) -> Caller:
        """The caller; 401 without credentials, 403 without access (or, when ``execute``
        names what is asked, without the right to execute)."""
        if self.caller is None:
            if self._denied:
                raise AccessDenied(self._denied, status=403)
            raise AccessDenied("authentication required: send a Jupyter token", status=401)
        if execute:
            self.caller.require_execute(execute)
        return self.caller

    def track_activity(self) -> None:
        """Executing and cancelling are user activity; polling a status is not."""
        self.settings["api_last_activity"] = utcnow()

    def write_reply(self, reply: Reply) -> None:
        self.set_status(reply.status)
        self.set_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.set_header(name, value)
        self.finish(reply.body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error is an OWS ExceptionReport with the status its code calls for.

        Should building the report fail, a fixed one (NoApplicableCode, 500) is sent:
        never an empty body.
        """
        exc = kwargs.get("exc_info", (None, None, None))[1]
        try:
            if isinstance(exc, OWSException):
                error = exc
            elif isinstance(exc, web.HTTPError):
                text = exc.log_message or exc.reason or HTTPStatus(exc.status_code).phrase
                error = NoApplicableCode(text, status=exc.status_code)
            else:
                error = NoApplicableCode(
                    "internal server error" if exc is None else f"internal server error: {exc}"
                )
            status, body = int(error.status), exception_report(error)
        except Exception:
            log.exception("WPS: could not build the exception report for %r", exc)
            status, body = 500, FALLBACK_EXCEPTION_REPORT
        self.set_status(status)
        if status == HTTPStatus.UNAUTHORIZED:
            self.set_header("WWW-Authenticate", 'token realm="jupyter"')
        self.set_header("Content-Type", XML)
        self.finish(body)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, OWSException):
            log.info("WPS %s %s: %s", value.code, value.locator or "", value.text)
        elif isinstance(value, PublishError):
            log.info("WPS publication refused (%s): %s", value.status, value.message)
        else:
            super().log_exception(typ, value, tb)


@web.stream_request_body
class WPSHandler(BaseWPSHandler):
    """``<base_url>wps``: WPS 1.0.0 by KVP GET and XML POST (and the WPS 2.0 job operations)."""

    async def prepare(self) -> None:
        await super().prepare()
        self._body = bytearray()
        self._oversize = False
        self._check_credentials_first()
        length = self.request.headers.get("Content-Length")
        limit = self.service.config.maxrequestsize
        if length and length.isdigit() and int(length) > limit:
            raise FileSizeExceeded(
                f"the request is {length} bytes; the limit is {limit}", locator="maxrequestsize"
            )

    def data_received(self, chunk: bytes) -> None:
        if self._oversize:
            return
        if len(self._body) + len(chunk) > self.service.config.maxrequestsize:
            self._oversize = True
            self._body = bytearray()
            return
        self._body.extend(chunk)

    @allow_unauthenticated
    async def get(self) -> None:
        args = {
            k: [v.decode("utf-8", "replace") for v in vs]
            for k, vs in self.request.query_arguments.items()
        }
        if not args:
            raise MissingParameterValue(
                "no WPS request: add service=WPS&request=...", locator="request"
            )
        await self._answer(parse_kvp(args))

    @allow_unauthenticated
    async def post(self) -> None:
        if self._oversize:
            limit = self.service.config.maxrequestsize
            raise FileSizeExceeded(
                f"the request is larger than {limit} bytes", locator="maxrequestsize"
            )
        request = parse_xml_request(bytes(self._body))
        await self._answer(request)

    def _check_credentials_first(self) -> None:
        """Refuse anonymous callers before parsing, unless some operations are public."""
        if not self.service.config.public_capabilities:
            self.require_caller()

    async def _answer(self, request: Any) -> None:
        public = self.service.config.public_capabilities and isinstance(
            request, (GetCapabilities, DescribeProcess)
        )
        caller = self.caller if public else self.require_caller()
        if request.operation in STATE_CHANGING:
            self._check_xsrf(request.operation)
        if not public and request.operation not in ("GetCapabilities", "DescribeProcess"):
            self.track_activity()
        self.write_reply(await self.service.handle(request, caller, self.wps_url))

    def _check_xsrf(self, operation: str) -> None:
        """A state change by GET with a login cookie alone needs the page's ``_xsrf`` token.

        POSTs are checked in prepare(). A cookie GET, the framework lets through on a
        same-site Referer (jupyter_server) or as a navigation (JupyterHub): a link on
        another site, or an image in a notebook's markdown, would start jobs. So its own
        check (its token format; token-authenticated requests exempt) runs here as it
        runs for a POST.
        """
        if self.request.method == "POST":
            return
        method, self.request.method = self.request.method, "POST"
        try:
            self.check_xsrf_cookie()
        except web.HTTPError as exc:
            raise AccessDenied(
                f"{operation} with a login cookie needs the _xsrf token (an _xsrf argument or "
                "an X-XSRFToken header), or a Jupyter token (Authorization: token ...): "
                f"{exc.log_message or exc.reason or exc.status_code}",
                locator="_xsrf",
            ) from None
        finally:
            self.request.method = method


class JobResourceHandler(BaseWPSHandler):
    """Base for a job's status and outputs: the owner, or anyone with the job's capability."""

    _track_activity = False

    def job(self, job_id: str) -> Job:
        token = self.get_query_argument("cap", None)
        if token is not None and self.manager.check_capability(job_id, token):
            return self.manager.get(job_id, None)
        return self.manager.get(job_id, self.require_caller().visible)


class StatusHandler(JobResourceHandler):
    """``<base_url>wps/status/<job>.xml``: the job's status document (statusLocation)."""

    @allow_unauthenticated
    def get(self, job_id: str) -> None:
        job = self.job(job_id)
        self.set_header("Cache-Control", "no-store")
        self.write_reply(Reply(self.service.status(job, self.wps_url)))


class OutputHandler(JobResourceHandler):
    """``<base_url>wps/outputs/<job>/<file>``: an output stored by reference."""

    @allow_unauthenticated
    async def get(self, job_id: str, name: str) -> None:
        job = self.job(job_id)
        try:
            fd = self.manager.open_output(job, name)
        except OSError:
            raise web.HTTPError(404, f"no output {name!r}") from None
        suffix = os.path.splitext(name)[1]
        mime_type = _MIME_BY_SUFFIX.get(suffix) or mimetypes.guess_type(name)[0]
        self.set_header("Content-Type", mime_type or "application/octet-stream")
        with os.fdopen(fd, "rb") as stream:
            self.set_header("Content-Length", str(os.fstat(stream.fileno()).st_size))
            while chunk := stream.read(CHUNK):
                self.write(chunk)
                await self.flush()
        self.finish()


# ---------------------------------------------------------------------- JSON API


class APIBaseHandler(BaseWPSHandler):
    """The JSON API (shaped like OGC API - Processes); errors are JSON too."""

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors as JSON problem details; a fixed 500 one should building it fail."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        try:
            if isinstance(exc, OWSException):
                status, title, detail = int(exc.status), exc.code, exc.text
            elif isinstance(exc, PublishError):
                status, title, detail = exc.status, HTTPStatus(exc.status).phrase, exc.message
            elif isinstance(exc, web.HTTPError):
                status, title = exc.status_code, HTTPStatus(exc.status_code).phrase
                detail = exc.log_message or title
            else:
                status, title, detail = 500, "Internal Server Error", str(exc or "")
            body = json.dumps({"type": title, "title": title, "status": status, "detail": detail})
        except Exception:
            log.exception("WPS API: could not build the error for %r", exc)
            status, title = 500, "Internal Server Error"
            body = json.dumps({"type": title, "title": title, "status": status, "detail": ""})
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(body)


@web.stream_request_body
class ProcessListHandler(APIBaseHandler):
    """``GET``: the processes; ``POST``: publish one from a kernel (JSON: the description,
    the pickled process base64-encoded, the kernel's interpreter and versions)."""

    async def prepare(self) -> None:
        await super().prepare()
        self._body = bytearray()
        self._oversize = False
        if self.request.method != "POST":
            return
        self.require_caller("publishing")  # before any of the body is read
        length = self.request.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > MAX_PUBLISH_REQUEST:
            raise PublishError(
                413, f"the request is {length} bytes; the limit is {MAX_PUBLISH_REQUEST}"
            )

    def data_received(self, chunk: bytes) -> None:
        if self._oversize:
            return
        if len(self._body) + len(chunk) > MAX_PUBLISH_REQUEST:
            self._oversize = True
            self._body = bytearray()
            return
        self._body.extend(chunk)

    @allow_unauthenticated
    def post(self) -> None:
        owner = self.require_caller("publishing").name
        if self._oversize:
            raise PublishError(413, f"the request is larger than {MAX_PUBLISH_REQUEST} bytes")
        self.track_activity()
        try:
            body = json.loads(bytes(self._body))
        except ValueError as exc:
            raise PublishError(400, f"the request is not JSON: {exc}") from None
        process, created = self.service.publish(owner, body)
        url = f"{self.wps_url}/api/processes/{process.identifier}"
        self.set_header("Location", url)
        self.write_json(
            self.service.process_json(process, self.wps_url, detail=True), 201 if created else 200
        )

    @allow_unauthenticated
    def get(self) -> None:
        self.require_caller()
        self.write_json(
            {
                "processes": [
                    self.service.process_json(p, self.wps_url) for p in self.service.registry
                ],
                "links": [
                    {
                        "href": f"{self.wps_url}/api/processes",
                        "rel": "self",
                        "type": "application/json",
                    }
                ],
            }
        )


class ProcessHandler(APIBaseHandler):
    @allow_unauthenticated
    def get(self, process_id: str) -> None:
        self.require_caller()
        process = self.service.registry.get(process_id)
        if process is None:
            raise web.HTTPError(404, f"no process {process_id!r}")
        self.write_json(self.service.process_json(process, self.wps_url, detail=True))

    @allow_unauthenticated
    def delete(self, process_id: str) -> None:
        """Unpublish a process published from a kernel (its owner only)."""
        owner = self.require_caller("unpublishing").name
        self.track_activity()
        self.service.unpublish(owner, process_id)
        self.set_status(204)
        self.finish()


class HealthHandler(APIBaseHandler):
    """``api/health``: whether the background loops work (503 with what is wrong if not:
    the server then refuses new jobs with ServerBusy). For operators' probes."""

    _track_activity = False

    @allow_unauthenticated
    def get(self) -> None:
        self.require_caller()
        problems = dict(self.manager.problems)
        self.write_json(
            {"status": "unhealthy" if problems else "ok", "problems": problems},
            503 if problems else 200,
        )


class JobListHandler(APIBaseHandler):
    _track_activity = False

    @allow_unauthenticated
    def get(self) -> None:
        caller = self.require_caller()
        jobs = sorted(
            self.manager.list(caller.visible), key=lambda j: j.record.created, reverse=True
        )
        self.write_json(
            {
                "jobs": [self.manager.job_json(job, self.wps_url) for job in jobs],
                "links": [
                    {"href": f"{self.wps_url}/api/jobs", "rel": "self", "type": "application/json"}
                ],
            }
        )


class JobHandler(APIBaseHandler):
    @allow_unauthenticated
    def get(self, job_id: str) -> None:
        job = self.manager.get(job_id, self.require_caller().visible)
        self.write_json(self.manager.job_json(job, self.wps_url))

    @allow_unauthenticated
    async def delete(self, job_id: str) -> None:
        caller = self.require_caller()
        job = self.manager.get(job_id, caller.visible)
        caller.require_execute("cancelling a job")
        self.track_activity()
        await self.manager.dismiss(job, by=caller.name)
        if job.id in self.manager.jobs:
            self.write_json(self.manager.job_json(job, self.wps_url))
        else:
            self.write_json(
                {
                    "jobID": job.id,
                    "status": "dismissed",
                    "message": "the finished job and its outputs were removed",
                }
            )


class JobLogHandler(APIBaseHandler):
    """``api/jobs/<job>/log``: the end of the job's launcher.log (what ran, what it printed)."""

    _track_activity = False

    @allow_unauthenticated
    def get(self, job_id: str) -> None:
        job = self.manager.get(job_id, self.require_caller().visible)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(job.dir.log_tail(MAX_LOG_BYTES))


class JobResultsHandler(APIBaseHandler):
    @allow_unauthenticated
    def get(self, job_id: str) -> None:
        job = self.manager.get(job_id, self.require_caller().visible)
        self.write_json(self.service.results_json(job, self.wps_url))


def handlers() -> list[tuple[str, type[web.RequestHandler]]]:
    """URL patterns (the server prepends its base_url) and their handlers."""
    job = r"(?P<job_id>[^/]+)"
    prefix = "/wps"
    return [
        (rf"{prefix}/?", WPSHandler),
        (rf"{prefix}/status/{job}\.xml", StatusHandler),
        (rf"{prefix}/outputs/{job}/(?P<name>[^/]+)", OutputHandler),
        (rf"{prefix}/api/processes/?", ProcessListHandler),
        (rf"{prefix}/api/processes/(?P<process_id>[^/]+)", ProcessHandler),
        (rf"{prefix}/api/health", HealthHandler),
        (rf"{prefix}/api/jobs/?", JobListHandler),
        (rf"{prefix}/api/jobs/{job}/?", JobHandler),
        (rf"{prefix}/api/jobs/{job}/results", JobResultsHandler),
        (rf"{prefix}/api/jobs/{job}/log", JobLogHandler),
    ]
