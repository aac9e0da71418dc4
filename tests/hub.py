"""A real JupyterHub for the tests: users' servers as those users, the WPS extension in each.

:class:`Hub` starts ``python -m jupyterhub -f <tmp>/jupyterhub_config.py`` as root on its
own free ports of 127.0.0.1 (proxy, hub, proxy API), with its own database and cookie
secret in a temporary directory; the hub starts configurable-http-proxy itself. Its
configuration:

- the users ``wpsalice`` and ``wpsbob`` (``tests/users.py``), ``DummyAuthenticator`` with a
  password, ``allowed_users`` those two;
- ``LocalProcessSpawner``: each single-user server runs *as its user*, the users'
  interpreter (``users.user_python()``) with ``-m jupyterhub.singleuser``; the WPS extension
  is enabled by the install's ``jupyter-config``; each server reads
  ``~/.jupyter-wps-hub-<run>/pywps.cfg`` (``parallelprocesses = 4``, a fresh workdir beside
  it), and reports activity to the hub every :data:`ACTIVITY_INTERVAL` seconds;
- the WPS custom scopes ``custom:wps:read`` and ``custom:wps:execute`` (which includes
  read), and the ``user`` role ``self`` plus ``custom:wps:execute!user``, so that a user
  may hold WPS scopes on her own server (a token of hers with only
  ``custom:wps:read!user=<her>``);
- a service (:data:`SERVICE`) with an API token that the tests use to start and stop
  servers, make tokens with given scopes, share servers and read activity.

Helpers: :attr:`Hub.url`, :meth:`Hub.user_url`, :meth:`Hub.wps_url`, :meth:`Hub.token`,
:meth:`Hub.start_server` (optionally with extra single-user arguments and ``pywps.cfg``
``[server]`` lines; a running server with other settings is restarted),
:meth:`Hub.stop_server`, :meth:`Hub.share`, :meth:`Hub.last_activity`, :meth:`Hub.log`.
:func:`hub_fixture` makes a module-scoped fixture. Bring-up is bounded; teardown stops the
hub (which stops the servers and the proxy), then ends every process still carrying this
hub's marker in its environment (launchers of unfinished jobs included), and removes the
users' run directories.

A test that claims JupyterHub runs the real thing: when JupyterHub, configurable-http-proxy
(installed here with ``npm install -g configurable-http-proxy`` as root when missing) or
the users cannot be had, it skips, and under ``CI=true`` it fails.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import requests
import users
from live import free_port

#: the tests' own hub service (its token starts servers, makes tokens, shares)
SERVICE = "wps-tests"
SERVICE_SCOPES = [
    "admin:users",
    "admin:servers",
    "tokens",
    "access:servers",
    "list:users",
    "read:users",
    "read:servers",
    "read:users:name",
    "shares",
]
CUSTOM_SCOPES = {
    "custom:wps:read": {
        "description": "Read a user's WPS: capabilities, descriptions, jobs and status.",
    },
    "custom:wps:execute": {
        "description": "Execute and dismiss jobs on a user's WPS (and read it).",
        "subscopes": ["custom:wps:read"],
    },
}
#: seconds between a single-user server's activity reports to the hub
ACTIVITY_INTERVAL = 5
#: every process of a test hub carries this variable (value: the run's id) in its environment
MARKER = "JUPYTER_WPS_TEST_HUB"
PASSWORD = "wps-test-password"

_PROXY = "configurable-http-proxy"
_proxy_lock = threading.Lock()
_proxy: dict[str, str | BaseException] = {}


class HubUnavailable(RuntimeError):
    """JupyterHub or configurable-http-proxy cannot be had here."""


def _install_proxy() -> str:
    """configurable-http-proxy's path; installed with npm (as root) when missing."""
    found = shutil.which(_PROXY)
    if found:
        return found
    if os.geteuid() != 0:
        raise HubUnavailable(f"{_PROXY} is not installed (as root: npm install -g {_PROXY})")
    npm = shutil.which("npm")
    if npm is None:
        raise HubUnavailable(f"{_PROXY} is not installed, nor npm to install it (Debian: npm)")
    try:
        result = subprocess.run(
            [npm, "install", "--global", "--no-audit", "--no-fund", _PROXY],
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise HubUnavailable(f"npm install -g {_PROXY} took over 600 s") from exc
    if result.returncode:
        raise HubUnavailable(f"npm install -g {_PROXY} failed: {result.stderr[-2000:]}")
    prefix = subprocess.run([npm, "prefix", "--global"], capture_output=True, text=True).stdout
    found = shutil.which(_PROXY) or shutil.which(_PROXY, path=str(Path(prefix.strip()) / "bin"))
    if not found:
        raise HubUnavailable(f"npm installed {_PROXY} but it is not on PATH nor in {prefix}")
    return found


def proxy_command() -> str:
    """configurable-http-proxy (installed once per process when missing); HubUnavailable."""
    with _proxy_lock:
        if "path" not in _proxy:
            if "error" in _proxy:
                raise _proxy["error"]  # type: ignore[misc]
            try:
                _proxy["path"] = _install_proxy()
            except HubUnavailable as exc:
                _proxy["error"] = exc
                raise
        return str(_proxy["path"])


def require() -> str:
    """What a hub needs here (the proxy's path): a skip, or under ``CI=true`` a failure."""
    try:
        if importlib.util.find_spec("jupyterhub") is None:
            raise HubUnavailable("jupyterhub is not installed (pip install -e .[test])")
        return proxy_command()
    except HubUnavailable as exc:
        if users.in_ci():
            pytest.fail(f"CI=true: a real JupyterHub is required: {exc}", pytrace=False)
        pytest.skip(f"JupyterHub unavailable: {exc}")


@dataclass(frozen=True)
class Endpoint:
    """A WPS endpoint and the headers to call it with (what tests/live.py's helpers take)."""

    wps_url: str
    headers: dict[str, str]


_CONFIG = """\
# written by tests/hub.py
c = get_config()  # noqa

CONFIG_FILES = {config_files!r}


def _pre_spawn(spawner):
    # the server's own pywps.cfg, and the arguments of this start (user_options["args"])
    options = spawner.user_options or {{}}
    spawner.args = [
        "--WPSExtensionApp.config_file=" + CONFIG_FILES[spawner.user.name],
        *options.get("args", []),
    ]


def _apply_user_options(spawner, options):
    pass  # read by _pre_spawn


c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.JupyterHub.db_url = {db_url!r}
c.JupyterHub.cookie_secret_file = {cookie_secret!r}
c.JupyterHub.pid_file = {pid_file!r}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.auth_token = {proxy_token!r}
c.ConfigurableHTTPProxy.pid_file = {proxy_pid_file!r}

c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allowed_users = {allowed!r}

c.JupyterHub.spawner_class = "localprocess"
c.Spawner.ip = "127.0.0.1"
c.Spawner.cmd = {cmd!r}
c.Spawner.environment = {environment!r}
c.Spawner.pre_spawn_hook = _pre_spawn
c.Spawner.apply_user_options = _apply_user_options
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
c.Spawner.poll_interval = 5
c.LocalProcessSpawner.kill_timeout = 5

c.JupyterHub.custom_scopes = {custom_scopes!r}
c.JupyterHub.load_roles = [
    {{"name": "user", "scopes": ["self", "custom:wps:execute!user"]}},
    {{"name": {service!r}, "scopes": {service_scopes!r}, "services": [{service!r}]}},
]
c.JupyterHub.services = [{{"name": {service!r}, "api_token": {service_token!r}}}]
"""


class Hub:
    """A real JupyterHub whose users' servers run the WPS extension as those users."""

    def __init__(
        self,
        root: Path,
        hub_users: Sequence[users.User],
        python: users.UserPython,
        config_text: str = "parallelprocesses = 4\n",
        extra_config: str = "",
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)  # the database, the secrets
        self.users = {user.name: user for user in hub_users}
        self.python = python
        self.config_text = config_text
        #: more of jupyterhub_config.py (a service of the tests' own, say)
        self.extra_config = extra_config
        self.run_id = secrets.token_hex(6)
        self.service_token = secrets.token_hex(24)
        self.port = free_port()
        self.hub_port = free_port()
        self.proxy_api_port = free_port()
        self.process: subprocess.Popen | None = None
        #: per user: the run directory in her home (pywps.cfg, workdir)
        self.user_dirs = {
            name: user.home / f".jupyter-wps-hub-{self.run_id}" for name, user in self.users.items()
        }
        #: per user: (args, [server] lines) of the running server
        self._running: dict[str, tuple[tuple[str, ...], str]] = {}
        self.log_file = self.root / "jupyterhub.log"

    # ------------------------------------------------------------------ URLs and identities

    @property
    def url(self) -> str:
        """The hub's public URL (the proxy), without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/hub/api"

    @property
    def service_headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.service_token}"}

    def user_url(self, name: str) -> str:
        """``<hub>/user/<name>/``: the user's server through the proxy."""
        return f"{self.url}/user/{name}/"

    def wps_url(self, name: str) -> str:
        return f"{self.user_url(name)}wps"

    def workdir(self, name: str) -> Path:
        return self.user_dirs[name] / "wps-work"

    def endpoint(self, name: str, token: str | None, **headers: str) -> Endpoint:
        """``name``'s WPS called with ``token`` (None: no credentials) and extra headers."""
        sent = {"Authorization": f"token {token}"} if token else {}
        return Endpoint(self.wps_url(name), {**sent, **headers})

    # ------------------------------------------------------------------ the hub's API

    def api(self, method: str, path: str, **kwargs: object) -> requests.Response:
        """A request to the hub's REST API with the service's token."""
        kwargs.setdefault("timeout", 30)
        return requests.request(
            method,
            f"{self.api_url}/{path.lstrip('/')}",
            headers=self.service_headers,
            **kwargs,  # type: ignore[arg-type]
        )

    def _checked(self, reply: requests.Response, *codes: int) -> requests.Response:
        if reply.status_code not in codes:
            raise AssertionError(
                f"{reply.request.method} {reply.url}: {reply.status_code} {reply.text[:2000]}\n"
                f"--- hub log ---\n{self.log()}"
            )
        return reply

    def token(self, name: str, scopes: Iterable[str] | None = None, note: str = "") -> str:
        """A new API token of user ``name`` holding ``scopes`` (None: the hub's default)."""
        body: dict[str, object] = {"note": note or "tests/hub.py", "expires_in": 3600}
        if scopes is not None:
            body["scopes"] = list(scopes)
        model = self._checked(self.api("POST", f"users/{name}/tokens", json=body), 200, 201).json()
        if scopes is not None:
            # what was asked (else the hub refuses, 400/403) with its custom subscopes, plus
            # the identity scopes every token gets (its owner's read:users:name, :groups)
            granted, asked = set(model["scopes"]), set(body["scopes"])  # type: ignore[arg-type]
            implied = set()
            for scope in asked:
                base, sep, where = scope.partition("!")
                for sub in CUSTOM_SCOPES.get(base, {}).get("subscopes", []):
                    implied.add(f"{sub}{sep}{where}")
            extra = {s for s in granted - asked - implied if not s.startswith("read:users:")}
            assert asked <= granted and not extra, (model, self.log())
        return model["token"]

    def user_model(self, name: str) -> dict:
        return self._checked(self.api("GET", f"users/{name}"), 200).json()

    def server_model(self, name: str) -> dict | None:
        """The hub's model of ``name``'s default server; None when she has none."""
        return self.user_model(name).get("servers", {}).get("")

    def last_activity(self, name: str) -> datetime:
        """The hub's ``last_activity`` of ``name``'s default server."""
        model = self.server_model(name)
        assert model is not None, f"{name} has no server\n{self.log()}"
        return datetime.fromisoformat(model["last_activity"])

    def share(self, owner: str, with_user: str) -> dict:
        """Share ``owner``'s default server with ``with_user`` (JupyterHub's sharing API)."""
        reply = self.api("POST", f"shares/{owner}/", json={"user": with_user})
        return self._checked(reply, 200).json()

    def unshare(self, owner: str) -> None:
        """Revoke every share of ``owner``'s default server."""
        self._checked(self.api("DELETE", f"shares/{owner}/"), 200, 204)

    # ------------------------------------------------------------------ servers

    def _write_user_config(self, name: str, server_lines: str) -> None:
        user = self.users[name]
        directory = self.user_dirs[name]
        if not directory.exists():
            directory.mkdir(mode=0o700)
            os.chown(directory, user.uid, user.gid)
        path = directory / "pywps.cfg"
        text = f"[server]\nworkdir = {self.workdir(name)}\n{self.config_text}{server_lines}"
        tmp = directory / ".pywps.cfg.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.chown(tmp, user.uid, user.gid)
        tmp.chmod(0o600)
        tmp.replace(path)

    def start_server(
        self, name: str, args: Sequence[str] = (), server_config: str = "", timeout: float = 60
    ) -> None:
        """Start ``name``'s server with extra single-user ``args`` and ``[server]`` lines of
        its pywps.cfg, and wait until it is ready; one running with other settings is
        restarted, one running with these is left alone."""
        wanted = (tuple(args), server_config)
        if self._running.get(name) == wanted and self.server_model(name) is not None:
            return
        if self.server_model(name) is not None:
            self.stop_server(name)
        self._write_user_config(name, server_config)
        reply = self.api("POST", f"users/{name}/server", json={"user_options": {"args": [*args]}})
        self._checked(reply, 201, 202)
        self._wait_server(name, True, timeout)
        self._running[name] = wanted
        # the WPS answers through the proxy (the extension is loaded)
        reply = requests.get(
            self.wps_url(name),
            params={"service": "WPS", "request": "GetCapabilities"},
            headers=self.service_headers,
            timeout=30,
        )
        self._checked(reply, 200)

    def stop_server(self, name: str, timeout: float = 60) -> None:
        """Stop ``name``'s server (the hub's API DELETE) and wait until it is gone."""
        self._running.pop(name, None)
        self._checked(self.api("DELETE", f"users/{name}/server"), 202, 204)
        self._wait_server(name, False, timeout)

    def _wait_server(self, name: str, ready: bool, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            model = self.server_model(name)
            if ready and model is not None and model.get("ready"):
                return
            if not ready and model is None:
                return
            if ready and model is None:
                raise AssertionError(f"{name}'s server failed to start\n{self.log()}")
            if time.monotonic() > deadline:
                state = "ready" if ready else "stopped"
                raise AssertionError(
                    f"{name}'s server not {state} after {timeout} s: {model}\n{self.log()}"
                )
            time.sleep(0.2)

    # ------------------------------------------------------------------ the hub itself

    def _config(self, proxy: str) -> str:
        env = {
            "PATH": f"{Path(self.python.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            **self.python.env,
            "JUPYTERHUB_ACTIVITY_INTERVAL": str(ACTIVITY_INTERVAL),
            MARKER: self.run_id,
        }
        return _CONFIG.format(
            config_files={n: str(d / "pywps.cfg") for n, d in self.user_dirs.items()},
            port=self.port,
            hub_port=self.hub_port,
            proxy_api_port=self.proxy_api_port,
            db_url=f"sqlite:///{self.root / 'jupyterhub.sqlite'}",
            cookie_secret=str(self.root / "jupyterhub_cookie_secret"),
            pid_file=str(self.root / "jupyterhub.pid"),
            proxy=proxy,
            proxy_token=secrets.token_hex(24),
            proxy_pid_file=str(self.root / "proxy.pid"),
            password=PASSWORD,
            allowed=set(self.users),
            cmd=[self.python.executable, "-m", "jupyterhub.singleuser"],
            environment=env,
            custom_scopes=CUSTOM_SCOPES,
            service=SERVICE,
            service_scopes=SERVICE_SCOPES,
            service_token=self.service_token,
        )

    def start(self, timeout: float = 60) -> Hub:
        proxy = proxy_command()
        config = self.root / "jupyterhub_config.py"
        config.write_text(self._config(proxy) + self.extra_config, encoding="utf-8")
        secret = self.root / "jupyterhub_cookie_secret"
        secret.write_text(secrets.token_hex(32))
        secret.chmod(0o600)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("JUPYTERHUB_", "JPY_", "CONFIGPROXY_"))
        }
        env[MARKER] = self.run_id
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.root,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyterhub exited ({self.process.returncode}):\n{self.log()}")
            try:
                # through the proxy, with the service's token: all of it is up
                if self.api("GET", "users", timeout=5).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyterhub did not answer within {timeout} s:\n{self.log()}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the hub (it stops the servers and the proxy), then every process left with
        this hub's marker (launchers of unfinished jobs too); remove the run directories."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(45)
                except subprocess.TimeoutExpired:
                    self._kill_group(self.process.pid)
                    self.process.wait(10)
            self.process = None
        for sig, pause in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
            pids = self.processes()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + pause
            while pids and time.monotonic() < deadline:
                pids = self.processes()
                time.sleep(0.1)
        for directory in self.user_dirs.values():
            shutil.rmtree(directory, ignore_errors=True)
        self._running.clear()

    @staticmethod
    def _kill_group(pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)

    def processes(self) -> list[int]:
        """The live processes of this hub (by the marker in their environment), not zombies."""
        marker = f"{MARKER}={self.run_id}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != "Z" and marker in environ.split(b"\0"):
                found.append(int(entry.name))
        return found

    def log(self, chars: int = 6000) -> str:
        """The end of the hub's log (the proxy's and the users' servers' output too)."""
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no hub log)"


def hub_fixture(
    name: str = "hub",
    config_text: str = "parallelprocesses = 4\n",
    extra_config: Callable[[users.UserPython], str] | None = None,
):
    """A module-scoped fixture: a started :class:`Hub` (skips, or fails under CI, when
    JupyterHub, the proxy or the users cannot be had), stopped at the end.

    In a test module: ``hub = hub_fixture("hub")``; ``extra_config(python)`` adds to the
    hub's configuration (``python``: the interpreter the test users can run).
    """

    @pytest.fixture(scope="module")
    def hub(tmp_path_factory):
        require()
        hub_users = users.users()
        python = users.user_python()
        extra = extra_config(python) if extra_config else ""
        live = Hub(tmp_path_factory.mktemp(name), hub_users, python, config_text, extra)
        try:
            live.start()
            yield live
        finally:
            live.stop()

    return hub
