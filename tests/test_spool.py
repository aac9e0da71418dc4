"""The status spool: status documents that outlive a user's server.

A server configured with ``status_spool`` and ``status_service`` hands out status
URLs of the hub's WPS service; the launcher copies every status it writes into the
spool, the server its verdicts; the service serves them by capability, with
public URLs, never following a symlink. The whole path through a real JupyterHub
(a server stopped mid-job): test_hub.py.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree
from schema import assert_valid
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from jupyter_wps.config import ConfigError, load_config
from jupyter_wps.hub import HubWPS, UserServers, make_app
from jupyter_wps.jobs import spool
from jupyter_wps.processes import say_hello
from jupyter_wps.registry import load_registry
from jupyter_wps.server.manager import Job, JobManager
from jupyter_wps.wps.request import ResponseForm

NS = {"wps": "http://www.opengis.net/wps/1.0.0", "ows": "http://www.opengis.net/ows/1.1"}
JOB = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def spooling(tmp_path, monkeypatch):
    """A manager of user alice whose statuses go to a spool served by service ``wps``."""
    monkeypatch.setenv("JUPYTERHUB_BASE_URL", "/hub-prefix/")
    root = tmp_path / "spool"
    root.mkdir(mode=0o1777)
    workdir = tmp_path / "work"
    config = load_config(
        None,
        {"workdir": str(workdir), "status_spool": str(root), "status_service": "wps"},
    )
    return JobManager(config, workdir, owner="alice"), root


def write_job(manager: JobManager):
    jobdir, record = manager._write_job(
        JOB,
        say_hello,
        {"name": [f"x{os.getpid()}"]},
        ResponseForm(store=True, status=True),
        "alice",
        None,
        False,
        {},
    )
    return jobdir, record


def test_the_spool_needs_capabilities_and_the_service_a_spool(tmp_path):
    with pytest.raises(ConfigError, match="capability_urls"):
        load_config(None, {"status_spool": str(tmp_path), "capability_urls": False})
    with pytest.raises(ConfigError, match="status_spool"):
        load_config(None, {"status_service": "wps"})


def test_statuses_are_copied_to_the_spool_and_urls_point_at_the_service(spooling):
    manager, root = spooling
    user_dir = root / "alice"
    assert stat.S_IMODE(os.lstat(user_dir).st_mode) == 0o711  # nobody lists it
    jobdir, record = write_job(manager)
    capability = manager.capability(JOB)
    assert record.spool == f"{user_dir}/{JOB}-{capability}"
    copy = Path(record.spool + spool.STATUS_SUFFIX)
    assert copy.read_bytes() == jobdir.read_status()  # ProcessAccepted, as written
    assert stat.S_IMODE(copy.stat().st_mode) == 0o644

    served = manager.complete_urls(
        jobdir.read_status(), "https://hub.example.org/user/alice/wps", JOB
    )
    location = etree.fromstring(served).get("statusLocation")
    assert location == (
        f"https://hub.example.org/hub-prefix/services/wps/status/alice/{JOB}.xml?cap={capability}"
    )

    # the launcher copies each status it writes
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_wps.launcher", str(jobdir.path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert b"ProcessSucceeded" in copy.read_bytes()
    assert copy.read_bytes() == jobdir.read_status()
    assert spool.read(root, "alice", JOB, capability) == jobdir.read_status()


def test_a_verdict_is_spooled_as_the_final_document(spooling):
    manager, root = spooling

    async def dismiss():
        jobdir, record = write_job(manager)
        job = Job(jobdir, record)
        manager.jobs[job.id] = job
        await manager.dismiss(job, by="alice")
        return job

    job = asyncio.run(dismiss())
    capability = manager.capability(JOB)
    document = spool.read(root, "alice", JOB, capability)
    assert document is not None and b"Dismissed: dismissed by alice" in document
    assert_valid(document)
    manager.remove(job)
    assert spool.read(root, "alice", JOB, capability) is None


@pytest.mark.parametrize(
    "user, job_id, capability",
    [
        ("../alice", JOB, "abcdefgh"),
        ("alice", "../../etc/passwd", "abcdefgh"),
        ("alice", JOB, "../../x"),
        ("alice", JOB, "short"),
    ],
)
def test_spool_names_with_tricks_are_never_read(tmp_path, user, job_id, capability):
    assert spool.read(tmp_path, user, job_id, capability) is None


def test_the_spool_follows_no_symlink(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / f"{JOB}-abcdefgh.status.xml").write_bytes(b"<secret/>")
    (tmp_path / "alice").symlink_to(tmp_path / "elsewhere")
    assert spool.read(tmp_path, "alice", JOB, "abcdefgh") is None
    with pytest.raises(PermissionError):
        spool.user_spool(tmp_path, "alice")


# --------------------------------------------------------------------------- the service


def test_the_hub_service_serves_spooled_statuses_with_public_urls(spooling):
    """The service's status endpoint, in-process: no hub needed to read the spool."""
    manager, root = spooling
    jobdir, record = write_job(manager)
    capability = manager.capability(JOB)

    async def scenario():
        hub = HubWPS(
            config=manager.config,
            registry=load_registry(manager.config),
            servers=UserServers(
                "http://127.0.0.1:1/hub/api",
                "unused",
                "http://127.0.0.1:1",
                hub_base="/hub-prefix/",
            ),
            spool=root,
            name="wps",
            prefix="/hub-prefix/services/wps/",
            hub_auth=None,
        )
        sock, port = bind_unused_port()
        server = HTTPServer(make_app(hub))
        server.add_sockets([sock])
        client = AsyncHTTPClient()
        base = f"http://127.0.0.1:{port}/hub-prefix/services/wps/status/alice/{JOB}.xml"
        try:
            reply = await client.fetch(
                f"{base}?cap={capability}",
                headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hub.example.org"},
            )
            for wrong in (f"{base}?cap=AAAAAAAAAAAAAAAAAAAAAAAA", base):
                with pytest.raises(HTTPClientError) as refused:
                    await client.fetch(wrong)
                assert refused.value.code == 404
                assert_valid(refused.value.response.body)
        finally:
            server.stop()
        return reply

    reply = asyncio.run(scenario())
    assert reply.headers["Content-Type"].startswith("text/xml")
    assert_valid(reply.body)
    root_element = etree.fromstring(reply.body)
    assert root_element.get("statusLocation") == (
        f"https://hub.example.org/hub-prefix/services/wps/status/alice/{JOB}.xml?cap={capability}"
    )
    assert root_element.get("serviceInstance").startswith(
        "https://hub.example.org/hub-prefix/user/alice/wps?"
    )
