"""A live ``jupyter server`` process on a port, as users run it (not in-process)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from lxml import etree
from schema import assert_valid


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """Starts and stops a Jupyter server with the WPS extension and a given pywps.cfg."""

    def __init__(
        self,
        root: Path,
        config_text: str = "",
        base_url: str = "/",
        env: dict[str, str] | None = None,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.workdir = self.root / "wps-work"
        self.config_file = self.root / "pywps.cfg"
        self.config_file.write_text(
            f"[server]\nworkdir = {self.workdir}\n" + config_text, encoding="utf-8"
        )
        self.token = secrets.token_hex(16)
        self.base_url = base_url
        self.port = 0
        self.process: subprocess.Popen | None = None
        #: extra environment variables of the server process
        self.env = dict(env or {})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    @property
    def wps_url(self) -> str:
        return f"{self.url}wps"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def _spawn(self) -> subprocess.Popen:
        self.port = free_port()
        env = {**os.environ, "JUPYTER_PLATFORM_DIRS": "1", **self.env}
        # the child keeps its own copy of the log file's descriptor
        with open(self.root / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "jupyter_server",
                    "--no-browser",
                    "--allow-root",
                    f"--port={self.port}",
                    "--ip=127.0.0.1",
                    f"--ServerApp.base_url={self.base_url}",
                    f"--IdentityProvider.token={self.token}",
                    f"--ServerApp.root_dir={self.root}",
                    f"--WPSExtensionApp.config_file={self.config_file}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.root,
                start_new_session=True,
            )
        return self.process

    def start(self, timeout: float = 60) -> LiveServer:
        self._spawn()
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter server exited: {self.log()}")
            try:
                reply = requests.get(
                    self.wps_url,
                    params={"service": "WPS", "request": "GetCapabilities"},
                    headers=self.headers,
                    timeout=2,
                )
                if reply.status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"jupyter server did not answer: {self.log()}")

    def stop(self, kill: bool = False) -> None:
        """Stop the server (SIGKILL: as if its allocation ended). Launchers keep running."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def run_until_exit(self, timeout: float = 60) -> tuple[int, str]:
        """Start a server that is expected to stop by itself: its exit status and whole log.

        A server still running after ``timeout`` is stopped and RuntimeError raised.
        """
        process = self._spawn()
        try:
            returncode = process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise RuntimeError(f"jupyter server did not exit: {self.log()}") from None
        self.process = None
        return returncode, (self.root / "server.log").read_text(errors="replace")

    def log(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")[-4000:]


def server_fixture(name: str, config_text: str = "parallelprocesses = 4\n"):
    """A module-scoped fixture: a LiveServer with ``config_text``, stopped at the end.

    In a test module: ``server = server_fixture("widgets", "parallelprocesses = 16\n")``.
    """

    @pytest.fixture(scope="module")
    def server(tmp_path_factory):
        live = LiveServer(tmp_path_factory.mktemp(name), config_text).start()
        try:
            yield live
        finally:
            live.stop()

    return server


# ------------------------------------------------------------------ talking to a live server

NS = {"wps": "http://www.opengis.net/wps/1.0.0", "ows": "http://www.opengis.net/ows/1.1"}


def execute(
    server: LiveServer,
    identifier: str,
    inputs: str = "",
    sync: bool = False,
    headers: dict[str, str] | None = None,
    **extra: str,
) -> etree._Element:
    """An Execute by KVP (async unless ``sync``; ``extra`` KVP parameters): the valid answer.

    ``server`` is anything with ``wps_url`` and ``headers`` (``headers`` replaces its own).
    """
    reply = send_execute(server, identifier, inputs, sync, headers, **extra)
    assert reply.status_code == 200, reply.text
    assert_valid(reply.content)
    return etree.fromstring(reply.content)


def send_execute(
    server: LiveServer,
    identifier: str,
    inputs: str = "",
    sync: bool = False,
    headers: dict[str, str] | None = None,
    **extra: str,
) -> requests.Response:
    """An Execute by KVP (async unless ``sync``), whatever the answer."""
    params = {
        "service": "WPS",
        "version": "1.0.0",
        "request": "Execute",
        "identifier": identifier,
        "DataInputs": inputs,
    }
    if not sync:
        params.update(storeExecuteResponse="true", status="true")
    params.update(extra)
    sent = server.headers if headers is None else headers
    return requests.get(server.wps_url, headers=sent, timeout=60, params=params)


def state_of(doc: etree._Element) -> str:
    """ProcessAccepted, ProcessStarted, ProcessSucceeded, ProcessFailed..."""
    return etree.QName(doc.find("wps:Status", NS)[0]).localname


def job_id_of(doc: etree._Element) -> str:
    return doc.get("statusLocation").rsplit("/", 1)[1].split(".xml")[0]


def submit(server: LiveServer, identifier: str, inputs: str = "", **extra: str) -> str:
    """An async Execute, accepted: the job id."""
    doc = execute(server, identifier, inputs, **extra)
    assert state_of(doc) == "ProcessAccepted", etree.tostring(doc)
    return job_id_of(doc)


def job(server: LiveServer, job_id: str) -> dict:
    """The job as the JSON API shows it."""
    reply = requests.get(f"{server.wps_url}/api/jobs/{job_id}", headers=server.headers, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


def record(server: LiveServer, job_id: str) -> dict:
    """The job's job.json."""
    return json.loads((server.workdir / job_id / "job.json").read_text())


def wait_until(predicate, timeout: float = 60, interval: float = 0.1, what: str = "it"):
    """The first true value of ``predicate()``, polled; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def final_status(server: LiveServer, job_id: str, timeout: float = 60) -> dict:
    """The job (JSON API) once it is successful, failed or dismissed."""
    return wait_until(
        lambda: (j := job(server, job_id))["status"] in ("successful", "failed", "dismissed") and j,
        timeout,
        what=f"job {job_id} to end",
    )
