"""The hub-wide WPS service through a real JupyterHub: one URL for all users, jobs run as
the calling user, and status URLs that answer while the user's server is down.

One hub for the module (``tests/hub.py``) with ``jupyter_wps.hub`` registered as the
managed service ``wps``, running as ``nobody`` (neither root nor any user of the jobs),
and a status spool (a ``1777`` directory, as an operator would make it) that the users'
servers are configured with (``status_spool``, ``status_service = wps``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import requests
from hub import hub_fixture
from live import free_port, job_id_of, state_of, wait_until
from lxml import etree
from owslib.wps import ASYNC, WebProcessingService, monitorExecution
from schema import assert_valid
from users import ALICE, BOB

SPOOL = Path(tempfile.gettempdir()) / f"jupyter-wps-spool-{os.getpid()}"


def service_config(python) -> str:
    """The hub's configuration of the service (as the README shows it)."""
    SPOOL.mkdir(exist_ok=True)
    SPOOL.chmod(0o1777)
    command = [
        python.executable, "-m", "jupyter_wps.hub",
        "--spool", str(SPOOL), "--proxy-url", "http://127.0.0.1:{port}",
    ]  # fmt: skip
    return f"""
c.JupyterHub.services.append({{
    "name": "wps",
    "url": "http://127.0.0.1:{free_port()}",
    "command": [part.format(port=c.JupyterHub.port) for part in {command!r}],
    "user": "nobody",
    "cwd": "/tmp",
    "environment": {python.env!r},
    "oauth_no_confirm": True,
}})
for role in c.JupyterHub.load_roles:  # every user may use the service
    if role["name"] == "user":
        role["scopes"].append("access:services!service=wps")
c.JupyterHub.load_roles.append({{
    "name": "wps-service",
    "services": ["wps"],
    "scopes": ["admin:servers", "read:users", "tokens", "custom:wps:execute"],
}})
"""


hub = hub_fixture("hub-service", extra_config=service_config)
SPOOLED = f"status_spool = {SPOOL}\nstatus_service = wps\n"


@pytest.fixture(scope="module")
def service(hub):
    """The service's WPS URL, once it answers."""
    url = f"{hub.url}/services/wps/wps"
    token = hub.token(ALICE, ["access:services!service=wps"])

    def answers() -> bool:
        reply = requests.get(
            url,
            params={"service": "WPS", "request": "GetCapabilities"},
            headers={"Authorization": f"token {token}"},
            timeout=10,
        )
        return reply.status_code == 200

    wait_until(answers, 60, 0.5, "the hub's WPS service to answer")
    yield url
    shutil.rmtree(SPOOL, ignore_errors=True)


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def execute_async(url: str, token: str, seconds: float) -> etree._Element:
    reply = requests.get(
        url,
        params={
            "service": "WPS",
            "version": "1.0.0",
            "request": "Execute",
            "identifier": "sleep",
            "DataInputs": f"seconds={seconds}",
            "storeExecuteResponse": "true",
            "status": "true",
        },
        headers=headers(token),
        timeout=180,
    )
    assert reply.status_code == 200, reply.text
    assert_valid(reply.content)
    return etree.fromstring(reply.content)


@pytest.mark.timeout(300)
def test_one_url_for_everyone_and_nothing_without_credentials(hub, service):
    reply = requests.get(service, params={"service": "WPS", "request": "GetCapabilities"})
    assert reply.status_code == 401
    assert_valid(reply.content)
    # a token holding only the WPS scopes of one's own servers is enough
    token = hub.token(BOB, [f"custom:wps:read!user={BOB}"])
    wps = WebProcessingService(service, headers=headers(token), skip_caps=True)
    wps.getcapabilities()
    assert "say_hello" in [p.identifier for p in wps.processes]
    described = wps.describeprocess("sleep")
    assert [i.identifier for i in described.dataInputs] == ["seconds"]
    # ... but a read-only one cannot execute
    refused = requests.get(
        service,
        params={"service": "WPS", "request": "Execute", "version": "1.0.0",
                "identifier": "say_hello", "DataInputs": "name=x"},
        headers=headers(token),
        timeout=30,
    )  # fmt: skip
    assert refused.status_code == 403
    assert_valid(refused.content)


@pytest.mark.timeout(400)
def test_a_job_runs_as_the_caller_and_its_status_outlives_her_server(hub, service):
    """alice's server is stopped: the service starts it, runs the job there as alice; then
    the server is stopped mid-job (culled): the status URL keeps answering, WPS documents
    only, until the job succeeds, and polling it starts nothing."""
    hub.start_server(ALICE, server_config=SPOOLED)
    hub.stop_server(ALICE)
    token = hub.token(ALICE, [f"custom:wps:execute!user={ALICE}"])

    accepted = execute_async(service, token, seconds=12)
    location = accepted.get("statusLocation")
    assert location.startswith(f"{hub.url}/services/wps/status/{ALICE}/"), location
    assert "?cap=" in location
    assert hub.server_model(ALICE) is not None  # started for the job
    job_id = job_id_of(accepted)
    jobdir = hub.workdir(ALICE) / job_id
    alice_uid = hub.users[ALICE].uid
    assert jobdir.stat().st_uid == alice_uid
    wait_until(lambda: (jobdir / "launcher.claim").exists(), 30, what="the launcher")
    claim_pid = int(json.loads((jobdir / "launcher.claim").read_text())["pid"])
    assert os.stat(f"/proc/{claim_pid}").st_uid == alice_uid  # as alice, not as the service

    hub.stop_server(ALICE)  # culled mid-job
    states, seen_running_while_down = [], False
    deadline = time.monotonic() + 120
    while True:
        reply = requests.get(location, timeout=30, allow_redirects=False)  # no credentials
        assert reply.status_code == 200, reply.text[:500]
        assert reply.headers["Content-Type"].startswith("text/xml"), reply.headers
        assert_valid(reply.content)
        document = etree.fromstring(reply.content)
        assert document.get("statusLocation") == location
        states.append(state_of(document))
        seen_running_while_down |= states[-1] == "ProcessStarted"
        if states[-1] in ("ProcessSucceeded", "ProcessFailed"):
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.5)
    assert states[-1] == "ProcessSucceeded", etree.tostring(document)
    assert seen_running_while_down, states
    assert hub.server_model(ALICE) is None  # polling never started (or kept) her server

    # OWSLib, through the service, on a server that is down again: started, run, watched
    wps = WebProcessingService(service, headers=headers(token), skip_caps=True)
    execution = wps.execute(
        "sleep", [("seconds", "1")], output=[("output", False, None)], mode=ASYNC
    )
    monitorExecution(execution, sleepSecs=1)
    assert execution.isSucceded(), execution.errors
    assert execution.statusLocation.startswith(f"{hub.url}/services/wps/status/{ALICE}/")
    assert execution.processOutputs[0].data == ["Slept for 1.0 seconds"]


@pytest.mark.timeout(300)
def test_each_caller_runs_on_her_own_server(hub, service):
    hub.start_server(BOB, server_config=SPOOLED)
    token = hub.token(BOB, ["access:services!service=wps"])
    accepted = execute_async(service, token, seconds=0.5)
    job_id = job_id_of(accepted)
    assert accepted.get("statusLocation").startswith(f"{hub.url}/services/wps/status/{BOB}/")
    jobdir = hub.workdir(BOB) / job_id
    assert jobdir.stat().st_uid == hub.users[BOB].uid
    assert not (hub.workdir(ALICE) / job_id).exists()
    location = accepted.get("statusLocation")
    wait_until(
        lambda: (
            state_of(etree.fromstring(requests.get(location, timeout=30).content))
            == "ProcessSucceeded"
        ),
        60,
        0.3,
        "bob's job to succeed",
    )
    # another user's status URL without the capability: nothing
    stripped = location.split("?")[0]
    assert requests.get(stripped, timeout=30).status_code == 404
    forged = stripped.replace(f"/status/{BOB}/", f"/status/{ALICE}/") + "?cap=" + "A" * 24
    assert requests.get(forged, timeout=30).status_code == 404
