"""The hub-wide WPS: a JupyterHub service that gives outside clients one URL.

Registered with the hub (managed: ``command = [python, -m, jupyter_wps.hub, ...]``,
or external), it answers at ``<hub>/services/<name>/``:

- ``wps`` (and the prefix itself): WPS 1.0.0 for any hub user, by token
  (``Authorization: token ...``) or the hub's OAuth cookie. GetCapabilities and
  DescribeProcess list the processes the operator offers to all users (this
  service's own registry: the same entry points and ``pywps.cfg`` as the users'
  servers). Execute, and the WPS 2.0 job operations, run on behalf of the caller
  and as the caller: on their own server (started through the hub's API when it
  is not running), with a token the service makes for them, never as the
  service's own user.
- ``status/<user>/<job>.xml?cap=...``: the status documents that users' servers
  configured with ``status_service`` hand out, read from the status spool
  (:mod:`jupyter_wps.jobs.spool`). They answer whether or not the user's server
  runs, and polling them touches nothing of it (no activity: culling works).

The service needs a token with the scopes ``admin:servers`` (start users'
servers), ``read:users`` and ``tokens`` (make a token for the caller), and read
access to the spool. It imports neither jupyter_server nor the job manager.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler
from tornado import httpclient, ioloop, web

from .config import Config, ConfigError, load_config
from .jobs import spool
from .jobs.document import complete_urls
from .process import Process, ProcessRegistry
from .registry import load_registry, select
from .server.auth import EXECUTE_SCOPE, READ_SCOPE, forwarded_origin
from .wps import response as wps_response
from .wps.exceptions import (
    AccessDenied,
    NoApplicableCode,
    OWSException,
    ServerBusy,
)
from .wps.request import DescribeProcess, GetCapabilities, parse_kvp, parse_xml_request

log = logging.getLogger("jupyter_wps.hub")

XML = "text/xml; charset=utf-8"
#: seconds a user's server may take to start before an Execute is refused (ServerBusy)
SERVER_START_TIMEOUT = 120.0
#: seconds a token the service makes for a user lives (renewed before it runs out)
TOKEN_LIFETIME = 3600
#: headers of the user's server's answer passed on to the client
PASSED_HEADERS = ("Content-Type", "Content-Disposition", "Location", "WWW-Authenticate")


@dataclass
class UserServers:
    """The hub's API, as the service uses it: users' servers and tokens for them."""

    api_url: str
    api_token: str
    #: where users' servers are reached (the proxy: ``<proxy>/user/<name>/wps``)
    proxy_url: str
    hub_base: str = "/"
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    _client: httpclient.AsyncHTTPClient = field(default_factory=httpclient.AsyncHTTPClient)

    async def _api(self, method: str, path: str, body: Any = None) -> Any:
        reply = await self._client.fetch(
            f"{self.api_url.rstrip('/')}/{path}",
            method=method,
            headers={"Authorization": f"token {self.api_token}"},
            body=None if body is None else json.dumps(body),
            allow_nonstandard_methods=True,
            raise_error=False,
            request_timeout=30,
        )
        if reply.code >= 400:
            raise ServerBusy(f"the hub answered {reply.code} to {method} {path}: {reply.body!r}")
        return json.loads(reply.body) if reply.body else None

    async def token(self, name: str) -> str:
        """A token for ``name`` that reaches their WPS (made once, renewed before it ends)."""
        token, expires = self._tokens.get(name, ("", 0.0))
        if time.monotonic() < expires:
            return token
        model = await self._api(
            "POST",
            f"users/{quote(name)}/tokens",
            {
                "scopes": [f"{EXECUTE_SCOPE}!user={name}"],
                "expires_in": TOKEN_LIFETIME,
                "note": "jupyter-wps hub service",
            },
        )
        self._tokens[name] = (model["token"], time.monotonic() + TOKEN_LIFETIME * 0.8)
        return model["token"]

    async def running(self, name: str) -> bool:
        """Whether the user's default server is up (nothing is started to find out)."""
        user = await self._api("GET", f"users/{quote(name)}")
        return bool((user.get("servers") or {}).get("", {}).get("ready"))

    async def get(self, name: str, path: str) -> httpclient.HTTPResponse:
        """A GET on the user's running server, as the user."""
        return await self._client.fetch(
            f"{self.proxy_url.rstrip('/')}{self.hub_base}user/{quote(name)}/wps/{path}",
            headers={"Authorization": f"token {await self.token(name)}"},
            raise_error=False,
            request_timeout=30,
        )

    async def published(self, name: str) -> list[Process]:
        """The processes ``name`` published from her kernels, if her server runs (their
        summaries: enough for GetCapabilities)."""
        if not await self.running(name):
            return []
        reply = await self.get(name, "api/processes")
        if reply.code != 200:
            log.warning("the processes of %s: HTTP %s", name, reply.code)
            return []
        return [
            Process(
                item["id"],
                item.get("title") or "",
                abstract=item.get("description") or "",
                version=item.get("version") or "1.0.0",
            )
            for item in json.loads(reply.body).get("processes", [])
            if item.get("published")
        ]

    async def ensure_running(self, name: str) -> None:
        """Start the user's default server if it is not running, and wait until it is ready."""
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        started = False
        while time.monotonic() < deadline:
            user = await self._api("GET", f"users/{quote(name)}")
            server = (user.get("servers") or {}).get("", {})
            if server.get("ready"):
                return
            if not started and not server.get("pending"):
                log.info("starting the server of %s for a WPS request", name)
                await self._api("POST", f"users/{quote(name)}/server")
                started = True
            await asyncio.sleep(0.5)
        raise ServerBusy(f"the server of {name} did not start in {SERVER_START_TIMEOUT:.0f} s")

    async def forward(
        self, name: str, method: str, query: str, body: bytes | None, origin: tuple[str, str]
    ) -> httpclient.HTTPResponse:
        """Send a WPS request to the user's own server, as the user."""
        await self.ensure_running(name)
        url = f"{self.proxy_url.rstrip('/')}{self.hub_base}user/{quote(name)}/wps"
        return await self._client.fetch(
            f"{url}?{query}" if query else url,
            method=method,
            body=body,
            headers={
                "Authorization": f"token {await self.token(name)}",
                "Content-Type": "text/xml; charset=utf-8",
                # the client's scheme and host: the server builds its public URLs from them
                "X-Forwarded-Proto": origin[0],
                "X-Forwarded-Host": origin[1],
            },
            raise_error=False,
            request_timeout=600,
            follow_redirects=False,
        )


@dataclass
class HubWPS:
    """What the handlers share: configuration, processes, the hub, the spool."""

    config: Config
    registry: ProcessRegistry
    servers: UserServers
    spool: Path | None
    name: str
    prefix: str
    hub_auth: HubOAuth
    _capabilities: dict[str, bytes] = field(default_factory=dict)

    async def capabilities(self, url: str, user: str) -> bytes:
        """The operator's processes, and the caller's own published ones."""
        published = [
            p for p in await self.servers.published(user) if p.identifier not in self.registry
        ]
        if published:
            processes = [*self.registry, *published]
            return wps_response.capabilities(
                processes, self.config.metadata, url, self.config.language
            )
        if url not in self._capabilities:
            self._capabilities[url] = wps_response.capabilities(
                self.registry, self.config.metadata, url, self.config.language
            )
        return self._capabilities[url]


class BaseHandler(web.RequestHandler):
    """OWS ExceptionReports for every error; the client's public origin."""

    @property
    def hub(self) -> HubWPS:
        return self.settings["jupyter_wps_hub"]

    @property
    def origin(self) -> tuple[str, str]:
        # behind the hub's proxy (and whatever TLS front the operator put before it)
        return forwarded_origin(self.request.headers, self.request.protocol, self.request.host)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if not isinstance(exc, OWSException):
            text = exc.log_message if isinstance(exc, web.HTTPError) else None
            exc = NoApplicableCode(text or "internal server error", status=status_code)
        self.set_status(int(exc.status))
        if exc.status == 401:
            self.set_header("WWW-Authenticate", 'token realm="jupyterhub"')
        self.set_header("Content-Type", XML)
        self.finish(wps_response.exception_report(exc))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, OWSException):
            log.info("WPS %s %s: %s", value.code, value.locator or "", value.text)
        else:
            super().log_exception(typ, value, tb)


@web.stream_request_body
class WPSHandler(BaseHandler):
    """The hub-wide WPS endpoint."""

    async def prepare(self) -> None:
        self._body = bytearray()
        model = await self.hub.hub_auth.get_user(self, sync=False)
        if not model:
            raise AccessDenied("authentication required: send a JupyterHub token", status=401)
        name = model["name"]
        scopes = {f"access:services!service={self.hub.name}", "access:services"}
        full = bool(self.hub.hub_auth.check_scopes(scopes, model))
        own = {f"{EXECUTE_SCOPE}!user={name}", f"{READ_SCOPE}!user={name}"}
        if model.get("kind", "user") != "user" or not (
            full or self.hub.hub_auth.check_scopes(own, model)
        ):
            raise AccessDenied(f"{model.get('kind', 'user')} {name} may not use this WPS")
        execute = {f"{EXECUTE_SCOPE}!user={name}"}
        self.user = name
        self.may_execute = full or bool(self.hub.hub_auth.check_scopes(execute, model))
        length = self.request.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.hub.config.maxrequestsize:
            raise AccessDenied(f"the request is {length} bytes; too large", status=413)

    def data_received(self, chunk: bytes) -> None:
        if len(self._body) + len(chunk) <= self.hub.config.maxrequestsize:
            self._body.extend(chunk)

    @property
    def wps_url(self) -> str:
        scheme, host = self.origin
        return f"{scheme}://{host}{self.hub.prefix}wps"

    async def get(self) -> None:
        args = {
            k: [v.decode("utf-8", "replace") for v in vs]
            for k, vs in self.request.query_arguments.items()
        }
        await self._answer(parse_kvp(args), None)

    async def post(self) -> None:
        await self._answer(parse_xml_request(bytes(self._body)), bytes(self._body))

    async def _answer(self, request: Any, body: bytes | None) -> None:
        if isinstance(request, GetCapabilities):
            self._reply(await self.hub.capabilities(self.wps_url, self.user))
        elif isinstance(request, DescribeProcess) and all(
            i.upper() == "ALL" or i in self.hub.registry for i in request.identifiers
        ):
            self._reply(self._describe(request.identifiers))
        elif isinstance(request, DescribeProcess) and not await self.hub.servers.running(self.user):
            self._describe(request.identifiers)  # the unknown one: InvalidParameterValue
        else:  # Execute, the job operations, published processes: on the caller's server
            if not self.may_execute and not isinstance(request, DescribeProcess):
                raise AccessDenied(f"{request.operation} needs the {EXECUTE_SCOPE} scope")
            starts_work = not isinstance(request, DescribeProcess)
            if starts_work and body is None and "Authorization" not in self.request.headers:
                # a cookie alone never starts work: a link on another site would
                raise AccessDenied(f"{request.operation} needs a token (Authorization header)")
            reply = await self.hub.servers.forward(
                self.user, self.request.method, self.request.query, body, self.origin
            )
            self.set_status(reply.code)
            for name in PASSED_HEADERS:
                if name in reply.headers:
                    self.set_header(name, reply.headers[name])
            self.finish(reply.body or b"")

    def _describe(self, identifiers: list[str]) -> bytes:
        processes = select(self.hub.registry, identifiers)
        return wps_response.process_descriptions(processes, self.hub.config.language)

    def _reply(self, document: bytes) -> None:
        self.set_header("Content-Type", XML)
        self.finish(document)


class StatusHandler(BaseHandler):
    """A job's status from the spool: no credentials but the job's capability, and
    nothing of the user's server touched (it may be stopped)."""

    def get(self, user: str, job_id: str) -> None:
        capability = self.get_query_argument("cap", "")
        document = spool.read(self.hub.spool, user, job_id, capability) if self.hub.spool else None
        if document is None:
            raise AccessDenied(f"no job {job_id!r} (or not with this capability)", status=404)
        scheme, host = self.origin
        user_wps = f"{scheme}://{host}{self.hub.servers.hub_base}user/{quote(user)}/wps"
        status_base = f"{scheme}://{host}{self.hub.prefix}status/{quote(user)}"
        self.set_header("Content-Type", XML)
        self.set_header("Cache-Control", "no-store")
        self.finish(complete_urls(document, user_wps, f"?cap={capability}", status_base))


def make_app(hub: HubWPS) -> web.Application:
    prefix = hub.prefix
    return web.Application(
        [
            (rf"{prefix}oauth_callback", HubOAuthCallbackHandler),
            (rf"{prefix}?", WPSHandler),
            (rf"{prefix}wps/?", WPSHandler),
            (rf"{prefix}status/(?P<user>[^/]+)/(?P<job_id>[^/]+)\.xml", StatusHandler),
        ],
        jupyter_wps_hub=hub,
        hub_auth=hub.hub_auth,
        cookie_secret=os.urandom(32),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="jupyter-wps-hub", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="", help="pywps.cfg: processes, [metadata:main]")
    parser.add_argument("--spool", default="", help="the status spool (else [server] status_spool)")
    parser.add_argument(
        "--proxy-url",
        default=os.environ.get("JUPYTERHUB_PUBLIC_URL", "") or "http://127.0.0.1:8000",
        help="where the service reaches users' servers (the hub's proxy)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="[%(levelname)s %(asctime)s %(name)s] %(message)s"
    )
    try:
        config = load_config(args.config or None)
    except ConfigError as exc:
        raise SystemExit(f"jupyter-wps-hub: {exc}") from None
    spool_dir = args.spool or config.status_spool
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/wps/")
    hub_auth = HubOAuth(api_token=os.environ["JUPYTERHUB_API_TOKEN"], cache_max_age=60)
    hub = HubWPS(
        config=config,
        registry=load_registry(config),
        servers=UserServers(
            api_url=os.environ["JUPYTERHUB_API_URL"],
            api_token=os.environ["JUPYTERHUB_API_TOKEN"],
            proxy_url=args.proxy_url,
            hub_base=os.environ.get("JUPYTERHUB_BASE_URL", "/"),
        ),
        spool=Path(spool_dir) if spool_dir else None,
        name=os.environ.get("JUPYTERHUB_SERVICE_NAME", "wps"),
        prefix=prefix,
        hub_auth=hub_auth,
    )
    bind = urlsplit(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101"))
    make_app(hub).listen(bind.port or 80, bind.hostname or "127.0.0.1", xheaders=False)
    log.info(
        "jupyter-wps hub service at %s (%d processes, spool %s)",
        prefix,
        len(hub.registry),
        spool_dir or "none",
    )
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
