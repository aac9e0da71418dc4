"""Find the WPS of the Jupyter server this kernel runs under, and connect to it.

Tried in order (the first that applies wins):

1. explicit arguments: ``connect(url, token=...)``;
2. ``JUPYTER_WPS_URL`` (the WPS endpoint) and ``JUPYTER_WPS_TOKEN``;
3. a JupyterHub single-user server's environment, which its kernels inherit:
   ``JUPYTERHUB_API_TOKEN`` and ``JUPYTERHUB_SERVICE_PREFIX``, with the server's own
   address ``JUPYTERHUB_SERVICE_URL`` (else ``JUPYTERHUB_PUBLIC_URL``, else
   ``JUPYTERHUB_HOST`` + prefix). The token goes in an ``Authorization`` header:
   JupyterHub 5 and later ignore ``?token=``;
4. the runtime files (``jpserver-<pid>.json``) of running Jupyter servers, in the
   directory of this kernel's connection file and in Jupyter's runtime directory:
   the server that started this kernel (a parent process), else the server whose
   ``root_dir`` contains the working directory.

Nothing here imports tornado or the server side of jupyter_wps.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from .processes import WPSClient

__all__ = ["Endpoint", "ServerNotFound", "connect", "connected_last", "find_endpoint"]

ENV_URL = "JUPYTER_WPS_URL"
ENV_TOKEN = "JUPYTER_WPS_TOKEN"
_WILDCARDS = ("", "0.0.0.0", "::", "[::]")


#: the client connect() returned last in this kernel (or %wps connect chose): what
#: publish() and unpublish() use when they are given no client
_connected_last: WPSClient | None = None


class ServerNotFound(LookupError):
    """No Jupyter server (or WPS URL) could be found; the message says what was tried."""


@dataclass(frozen=True)
class Endpoint:
    """A WPS endpoint, the token to send it, and how it was found."""

    url: str
    token: str | None
    source: str


def connect(
    url: str | None = None,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    verify: bool | str = True,
    timeout: float = 30,
) -> WPSClient:
    """Connect to a WPS and return a client whose methods are its processes.

    With no ``url``, finds the Jupyter server this kernel runs under (see the
    module documentation for the order). ``url`` is a WPS 1.0.0 endpoint
    (``http://host:8888/wps`` for jupyter-wps, any PyWPS, ...); ``token`` is
    sent as ``Authorization: token ...``; ``headers`` are sent with every
    request to the WPS's host (they override the token's header); ``verify``
    and ``timeout`` are passed to requests.

    >>> client = connect()
    >>> client.say_hello(name="World")
    'Hello World'
    """
    from .processes import WPSClient

    sent = {k.lower() for k in headers or {}}
    endpoint = find_endpoint(url, token, lookup_token="authorization" not in sent)
    all_headers = {"Authorization": f"token {endpoint.token}"} if endpoint.token else {}
    all_headers.update(headers or {})
    client = WPSClient(
        endpoint.url, headers=all_headers, verify=verify, timeout=timeout, source=endpoint.source
    )
    remember(client)  # connected: a client that failed to connect is never the last
    return client


def connected_last() -> WPSClient | None:
    """The client this kernel connected last (``connect()`` or ``%wps connect``), if any."""
    return _connected_last


def remember(client: WPSClient) -> None:
    """Make ``client`` the one connected last (``%wps connect VARIABLE`` chooses one)."""
    global _connected_last
    _connected_last = client


def find_endpoint(
    url: str | None = None,
    token: str | None = None,
    environ: Mapping[str, str] | None = None,
    lookup_token: bool = True,
) -> Endpoint:
    """The WPS endpoint to use (see the module documentation); ServerNotFound if none.

    An explicit ``url`` without a token takes the token of a server found the
    usual ways whose URL it starts with (so ``connect("http://localhost:8888/wps")``
    works for the local server), else none.
    """
    env = os.environ if environ is None else environ
    tried: list[str] = []
    if url:
        if token is None and lookup_token:
            token = _known_token(url, env)
        return Endpoint(url, token, "the url argument")
    for finder in (_from_wps_env, _from_jupyterhub_env, _from_runtime_files):
        found = finder(env, tried)
        if found is not None:
            return found if token is None else replace(found, token=token)
    lines = "\n".join(f"  - {line}" for line in tried)
    raise ServerNotFound(
        f"no Jupyter server with a WPS found. Tried:\n{lines}\n"
        f"Pass connect(url, token=...) or set {ENV_URL} (and {ENV_TOKEN})."
    )


# --------------------------------------------------------------------------- sources


def _wps_url(base: str) -> str:
    """The WPS endpoint of a Jupyter server at ``base`` (which includes its base_url)."""
    return base.rstrip("/") + "/wps"


def _from_wps_env(env: Mapping[str, str], tried: list[str]) -> Endpoint | None:
    url = env.get(ENV_URL)
    if not url:
        tried.append(f"{ENV_URL}: not set")
        return None
    return Endpoint(url, env.get(ENV_TOKEN) or None, f"{ENV_URL}")


def _hub_base(env: Mapping[str, str]) -> tuple[str | None, str]:
    """The single-user server's own URL from JupyterHub's variables, and which one."""
    prefix = env.get("JUPYTERHUB_SERVICE_PREFIX", "/")
    service_url = env.get("JUPYTERHUB_SERVICE_URL")
    public_url = env.get("JUPYTERHUB_PUBLIC_URL")
    # the address the server binds (JupyterHub >= 1.x): direct, no proxy; with internal
    # SSL it wants a client certificate, so prefer the public URL then
    if service_url and not (service_url.startswith("https:") and public_url):
        parts = urlsplit(service_url)
        host = parts.hostname or ""
        if host in _WILDCARDS:
            loopback = "[::1]" if ":" in host else "127.0.0.1"
            netloc = f"{loopback}:{parts.port}" if parts.port else loopback
            parts = parts._replace(netloc=netloc)
        return urlunsplit(parts), "JUPYTERHUB_SERVICE_URL"
    if public_url:
        return public_url, "JUPYTERHUB_PUBLIC_URL"
    host = env.get("JUPYTERHUB_HOST", "")
    if host.startswith(("http://", "https://")):
        return host.rstrip("/") + prefix, "JUPYTERHUB_HOST + JUPYTERHUB_SERVICE_PREFIX"
    return None, ""


def _from_jupyterhub_env(env: Mapping[str, str], tried: list[str]) -> Endpoint | None:
    token = env.get("JUPYTERHUB_API_TOKEN")
    if not token or not env.get("JUPYTERHUB_SERVICE_PREFIX"):
        tried.append(
            "JupyterHub single-user environment: JUPYTERHUB_API_TOKEN and "
            "JUPYTERHUB_SERVICE_PREFIX not both set"
        )
        return None
    base, how = _hub_base(env)
    if base is None:
        tried.append(
            "JupyterHub single-user environment: none of JUPYTERHUB_SERVICE_URL, "
            "JUPYTERHUB_PUBLIC_URL or a JUPYTERHUB_HOST with a scheme is set"
        )
        return None
    return Endpoint(_wps_url(base), token, f"JupyterHub single-user environment ({how})")


@dataclass(frozen=True)
class _RunningServer:
    info: dict[str, Any]
    file: Path

    @property
    def pid(self) -> int:
        return int(self.info.get("pid", -1))

    @property
    def root_dir(self) -> Path:
        return Path(os.path.realpath(self.info.get("root_dir") or "/"))

    def endpoint(self, why: str) -> Endpoint:
        return Endpoint(
            _wps_url(self.info["url"]), self.info.get("token") or None, f"{self.file} ({why})"
        )


def _from_runtime_files(env: Mapping[str, str], tried: list[str]) -> Endpoint | None:
    dirs = _runtime_dirs(env)
    servers = _running_servers(dirs)
    where = ", ".join(str(d) for d in dirs) or "(no runtime directory)"
    if not servers:
        tried.append(f"runtime files: no jpserver-*.json of a running server in {where}")
        return None
    ancestors = _ancestor_pids()
    for server in servers:
        if server.pid in ancestors:
            return server.endpoint("the server that started this kernel")
    cwd = Path(os.path.realpath(os.getcwd()))
    containing = [s for s in servers if cwd.is_relative_to(s.root_dir)]
    if containing:
        best = max(containing, key=lambda s: (len(s.root_dir.parts), s.file.stat().st_mtime))
        return best.endpoint(f"its root_dir {best.root_dir} contains {cwd}")
    roots = ", ".join(sorted({str(s.root_dir) for s in servers}))
    tried.append(
        f"runtime files in {where}: {len(servers)} running server(s), none is a parent "
        f"process of this one and none's root_dir ({roots}) contains {cwd}"
    )
    return None


def _known_token(url: str, env: Mapping[str, str]) -> str | None:
    """The token of a server found the usual ways that ``url`` belongs to."""
    candidates: list[Endpoint] = []
    for finder in (_from_wps_env, _from_jupyterhub_env):
        found = finder(env, [])
        if found is not None:
            candidates.append(found)
    candidates += [s.endpoint("") for s in _running_servers(_runtime_dirs(env))]
    for candidate in candidates:
        base = candidate.url[: -len("wps")] if candidate.url.endswith("/wps") else candidate.url
        if candidate.token and _normal(url).startswith(_normal(base)):
            return candidate.token
    return None


def _normal(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host == "localhost":
        host = "127.0.0.1"
    return f"{parts.scheme}://{host}:{parts.port or ''}{parts.path}"


# --------------------------------------------------------------------------- runtime files


def _runtime_dirs(env: Mapping[str, str]) -> list[Path]:
    """The directory of this kernel's connection file, then Jupyter's runtime directory."""
    dirs = []
    connection_file = _connection_file(sys.argv)
    if connection_file:
        dirs.append(Path(connection_file).parent)
    if env.get("JUPYTER_RUNTIME_DIR"):
        dirs.append(Path(env["JUPYTER_RUNTIME_DIR"]))
    else:
        try:
            from jupyter_core.paths import jupyter_runtime_dir

            dirs.append(Path(jupyter_runtime_dir()))
        except ImportError:  # pragma: no cover - jupyter_server depends on jupyter_core
            pass
    unique: list[Path] = []
    for path in dirs:
        path = Path(os.path.realpath(path))
        if path not in unique:
            unique.append(path)
    return unique


def _connection_file(argv: list[str]) -> str | None:
    """The kernel's connection file (``-f FILE`` as Jupyter starts ipykernel), if any."""
    for index, arg in enumerate(argv):
        if arg == "-f" and index + 1 < len(argv):
            return argv[index + 1]
        for flag in ("--f=", "--KernelApp.connection_file=", "--IPKernelApp.connection_file="):
            if arg.startswith(flag):
                return arg[len(flag) :]
    return None


def _running_servers(dirs: list[Path]) -> list[_RunningServer]:
    """The readable runtime files of running servers (files are never deleted here)."""
    found = []
    for directory in dirs:
        try:
            files = sorted(directory.glob("jpserver-*.json"))
        except OSError:
            continue
        for file in files:
            try:
                info = json.loads(file.read_text(encoding="utf-8"))
                pid = int(info["pid"])
                url = info["url"]
            except (OSError, ValueError, KeyError, TypeError):
                continue  # being written, or not a server file
            if not url or info.get("sock") or not _alive(pid):
                continue  # a UNIX socket server cannot be reached with requests
            found.append(_RunningServer(info, file))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _ancestor_pids() -> set[int]:
    """This process's parent, grandparent, ... (from /proc where there is one)."""
    pids = set()
    pid = os.getppid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        pid = int(stat.rpartition(")")[2].split()[1])
    return pids
