"""WPS from a real JupyterHub: users' servers run as those users, reached through the proxy.

One hub for the module (``tests/hub.py``): ``wpsalice`` and ``wpsbob``, LocalProcessSpawner,
the WPS custom scopes, a service the tests drive the hub with. Clients are OWSLib and
``requests``, with tokens the hub made, through ``<hub>/user/<name>/wps``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import requests
from hub import Endpoint, hub_fixture
from live import execute, final_status, job, send_execute, state_of, submit, wait_until
from lxml import etree
from owslib.wps import ASYNC, SYNC, WebProcessingService, monitorExecution
from schema import assert_valid
from users import ALICE, BOB, users

hub = hub_fixture("hub")

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "wps.example.org"}
JUPYTER_APIS = ("api/kernels", "api/contents", "api/terminals", "api/sessions")


@pytest.fixture(scope="module")
def servers(hub):
    """alice's and bob's servers, started once (tests that need other settings restart)."""
    hub.start_server(ALICE)
    hub.start_server(BOB)
    return hub


@pytest.fixture(scope="module")
def alice_token(servers):
    return servers.token(ALICE, [f"access:servers!user={ALICE}"])


@pytest.fixture(scope="module")
def bob_token(servers):
    return servers.token(BOB, [f"access:servers!user={BOB}"])


# ------------------------------------------------------------------ helpers


def capabilities(endpoint: Endpoint) -> requests.Response:
    return requests.get(
        endpoint.wps_url,
        params={"service": "WPS", "request": "GetCapabilities"},
        headers=endpoint.headers,
        timeout=30,
        allow_redirects=False,
    )


def api_get(endpoint: Endpoint, path: str, method: str = "GET") -> requests.Response:
    return requests.request(
        method,
        f"{endpoint.wps_url}/api/{path}",
        headers=endpoint.headers,
        timeout=30,
        allow_redirects=False,
    )


def exception_report(reply: requests.Response, status: int, hub=None) -> etree._Element:
    """The reply is a schema-valid OWS ExceptionReport with HTTP ``status``."""
    if reply.status_code != status:
        log = f"\n--- hub log ---\n{hub.log()}" if hub is not None else ""
        raise AssertionError(
            f"{reply.request.method} {reply.url}: expected {status}, got {reply.status_code}: "
            f"{reply.text[:2000]}{log}"
        )
    assert_valid(reply.content)
    doc = etree.fromstring(reply.content)
    assert etree.QName(doc).localname == "ExceptionReport", reply.text[:2000]
    return doc


def job_directory(description: dict) -> Path:
    """The job's directory, from the JSON API's ``job-directory`` link (a file: URI)."""
    links = {link["rel"]: link["href"] for link in description["links"]}
    href = links["job-directory"]
    assert href.startswith("file:"), href
    return Path(unquote(urlparse(href).path))


def read_claim(directory: Path) -> dict | None:
    """The launcher's claim (host, pid, native id, time) once written, else None."""
    try:
        return json.loads((directory / "launcher.claim").read_text())
    except (OSError, ValueError):
        return None  # not yet there, or being written


def proc_uid(pid: int) -> int:
    return os.stat(f"/proc/{pid}").st_uid


def document_bytes(response: object) -> bytes:
    """OWSLib keeps the last status as an element (after execute) or bytes (after a check)."""
    return response if isinstance(response, bytes) else etree.tostring(response)


def http_links(description: dict) -> list[str]:
    return [link["href"] for link in description["links"] if link["rel"] != "job-directory"]


# ------------------------------------------------------------------ a. OWSLib as alice


@pytest.mark.timeout(120)
def test_owslib_through_the_proxy_runs_jobs_as_the_user(servers, alice_token):
    hub = servers
    alice, _ = users()
    headers = {"Authorization": f"token {alice_token}"}
    wps = WebProcessingService(hub.wps_url(ALICE), headers=headers, skip_caps=True)
    wps.getcapabilities()
    assert "say_hello" in [p.identifier for p in wps.processes]
    assert_valid(capabilities(hub.endpoint(ALICE, alice_token)).content)

    hello = wps.execute("say_hello", [("name", "Alice")], mode=SYNC)
    assert hello.status == "ProcessSucceeded", document_bytes(hello.response)
    assert_valid(document_bytes(hello.response))
    assert hello.processOutputs[0].data == ["Hello Alice"]

    # OWSLib asks for storeExecuteResponse and status only when outputs are named
    execution = wps.execute(
        "sleep", [("seconds", "4")], output=[("output", False, None)], mode=ASYNC
    )
    documents = [document_bytes(execution.response)]
    location = execution.statusLocation
    assert location, documents[0]
    assert location.startswith(f"{hub.url}/user/{ALICE}/wps/status/"), location
    job_id = location.rsplit("/", 1)[1].split(".xml")[0]

    # while it runs: the launcher process and the job directory are alice's
    endpoint = hub.endpoint(ALICE, alice_token)
    directory = job_directory(job(endpoint, job_id))
    assert directory.is_relative_to(alice.home), directory
    assert directory.stat().st_uid == alice.uid
    claim = wait_until(lambda: read_claim(directory), timeout=20, what="the launcher's claim")
    assert proc_uid(int(claim["pid"])) == alice.uid, claim

    check = execution.checkStatus

    def checked(*args, **kwargs):
        check(*args, **kwargs)
        documents.append(document_bytes(execution.response))

    execution.checkStatus = checked
    monitorExecution(execution, sleepSecs=1)
    assert execution.status == "ProcessSucceeded", documents[-1]
    assert len(documents) >= 2
    for document in documents:
        assert_valid(document)
    assert execution.processOutputs[0].data == ["Slept for 4.0 seconds"]
    for path in (directory, directory / "status.xml", directory / "job.json"):
        assert path.stat().st_uid == alice.uid, path


# ------------------------------------------------------------------ b. who may call


@pytest.mark.timeout(60)
def test_no_credentials_401_and_another_users_token_403(servers, bob_token):
    hub = servers
    exception_report(capabilities(hub.endpoint(ALICE, None)), 401, hub)

    bob_on_alice = hub.endpoint(ALICE, bob_token)
    exception_report(capabilities(bob_on_alice), 403, hub)
    reply = api_get(bob_on_alice, "jobs")
    assert reply.status_code == 403, (reply.status_code, reply.text[:2000])
    assert isinstance(reply.json(), dict), reply.text
    # bob's token is good on his own server
    assert capabilities(hub.endpoint(BOB, bob_token)).status_code == 200


# ------------------------------------------------------------------ c. WPS-only scopes


@pytest.mark.timeout(120)
def test_wps_scopes_reach_the_wps_and_nothing_else(servers, alice_token, bob_token):
    hub = servers
    alice, _ = users()
    full = hub.endpoint(ALICE, alice_token)
    existing = submit(full, "sleep", "seconds=0.5")
    final_status(full, existing)

    read = hub.endpoint(ALICE, hub.token(ALICE, [f"custom:wps:read!user={ALICE}"]))
    assert_valid(capabilities(read).content)
    assert capabilities(read).status_code == 200
    described = requests.get(
        read.wps_url,
        params={
            "service": "WPS",
            "version": "1.0.0",
            "request": "DescribeProcess",
            "identifier": "say_hello",
        },
        headers=read.headers,
        timeout=30,
    )
    assert described.status_code == 200, described.text
    assert_valid(described.content)
    listed = api_get(read, "jobs")
    assert listed.status_code == 200, listed.text
    assert existing in [j["jobID"] for j in listed.json()["jobs"]]
    status = requests.get(f"{read.wps_url}/status/{existing}.xml", headers=read.headers, timeout=30)
    assert status.status_code == 200, status.text
    assert_valid(status.content)
    exception_report(send_execute(read, "say_hello", "name=x", sync=True), 403, hub)
    exception_report(send_execute(read, "sleep", "seconds=1"), 403, hub)
    assert_jupyter_refused(hub, read)

    run = hub.endpoint(ALICE, hub.token(ALICE, [f"custom:wps:execute!user={ALICE}"]))
    job_id = submit(run, "sleep", "seconds=1")
    done = final_status(run, job_id)
    assert done["status"] == "successful", done
    directory = job_directory(done)
    assert directory.stat().st_uid == alice.uid
    assert (directory / "status.xml").stat().st_uid == alice.uid
    assert_jupyter_refused(hub, run)

    bob_scoped = hub.endpoint(ALICE, hub.token(BOB, [f"custom:wps:execute!user={BOB}"]))
    exception_report(capabilities(bob_scoped), 403, hub)
    exception_report(send_execute(bob_scoped, "say_hello", "name=x", sync=True), 403, hub)


def assert_jupyter_refused(hub, endpoint: Endpoint) -> None:
    for path in JUPYTER_APIS:
        reply = requests.get(
            f"{hub.user_url(ALICE)}{path}",
            headers=endpoint.headers,
            timeout=30,
            allow_redirects=False,
        )
        assert reply.status_code == 403, (path, reply.status_code, reply.text[:500])


# ------------------------------------------------------------------ d. sharing


@pytest.mark.timeout(120)
def test_a_shared_server_bob_sees_his_jobs_alice_sees_all(servers, alice_token):
    hub = servers
    alice = hub.endpoint(ALICE, alice_token)
    hub.share(ALICE, BOB)
    try:
        shared = hub.endpoint(
            ALICE, hub.token(BOB, [f"access:servers!user={BOB}", f"access:servers!server={ALICE}/"])
        )
        assert capabilities(shared).status_code == 200
        bobs = submit(shared, "sleep", "seconds=30")
        alices = submit(alice, "sleep", "seconds=30")

        bob_lists = api_get(shared, "jobs")
        assert bob_lists.status_code == 200, bob_lists.text
        listed = [j["jobID"] for j in bob_lists.json()["jobs"]]
        assert bobs in listed and alices not in listed, listed
        alice_lists = [j["jobID"] for j in api_get(alice, "jobs").json()["jobs"]]
        assert {bobs, alices} <= set(alice_lists), alice_lists

        assert api_get(shared, f"jobs/{alices}").status_code == 404
        hidden = requests.get(
            f"{shared.wps_url}/status/{alices}.xml", headers=shared.headers, timeout=30
        )
        assert hidden.status_code == 404, hidden.text
        assert job(shared, bobs)["status"] in ("accepted", "running")

        cancelled = api_get(alice, f"jobs/{bobs}", method="DELETE")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "dismissed", cancelled.json()
        assert job(shared, bobs)["status"] == "dismissed"
        assert api_get(alice, f"jobs/{alices}", method="DELETE").status_code == 200
    finally:
        hub.unshare(ALICE)


# ------------------------------------------------------------------ e. forwarded origin


@pytest.mark.timeout(120)
def test_forwarded_scheme_and_host_when_the_server_trusts_them(servers, alice_token, bob_token):
    hub = servers
    # the hub's proxy appends its own values (X-Forwarded-Proto: https,http): the first
    # ones are the client's
    trusted = hub.endpoint(ALICE, alice_token, **FORWARDED)
    doc = execute(trusted, "sleep", "seconds=0.5")
    public = f"https://wps.example.org/user/{ALICE}/wps"
    assert doc.get("statusLocation").startswith(f"{public}/status/"), etree.tostring(doc)
    job_id = doc.get("statusLocation").rsplit("/", 1)[1].split(".xml")[0]
    for href in http_links(job(trusted, job_id)):
        assert href.startswith(public), href
    final_status(trusted, job_id)

    # a server that does not trust X-headers keeps the address the request came to
    hub.start_server(BOB, args=["--ServerApp.trust_xheaders=False"])
    untrusted = hub.endpoint(BOB, bob_token, **FORWARDED)
    doc = execute(untrusted, "sleep", "seconds=0.5")
    local = f"{hub.url}/user/{BOB}/wps"
    assert local.startswith("http://127.0.0.1:")
    assert doc.get("statusLocation").startswith(f"{local}/status/"), etree.tostring(doc)
    job_id = doc.get("statusLocation").rsplit("/", 1)[1].split(".xml")[0]
    for href in http_links(job(untrusted, job_id)):
        assert href.startswith(local), href
    final_status(untrusted, job_id)


# ------------------------------------------------------------------ f. running jobs as activity


@pytest.mark.timeout(240)
def test_running_jobs_are_activity_and_a_job_outlives_its_server(servers, alice_token, bob_token):
    hub = servers
    hub.start_server(ALICE, server_config="running_jobs_are_activity = true\n")
    hub.start_server(BOB)  # the default: running jobs are not activity
    alice = hub.endpoint(ALICE, alice_token)
    bob = hub.endpoint(BOB, bob_token)
    location = execute(alice, "sleep", "seconds=40").get("statusLocation")
    alices = location.rsplit("/", 1)[1].split(".xml")[0]
    bobs = submit(bob, "sleep", "seconds=40")

    # the Execute itself is activity: let both servers report it, then nobody polls
    time.sleep(2 * 5 + 1)
    before = {name: hub.last_activity(name) for name in (ALICE, BOB)}
    time.sleep(3 * 5 + 1)
    after = {name: hub.last_activity(name) for name in (ALICE, BOB)}
    assert after[ALICE] > before[ALICE], (before, after, hub.log())
    assert after[BOB] == before[BOB], (before, after)

    # alice's server stops mid-job, and starts again: the job ends, its status URL works
    assert job(alice, alices)["status"] in ("accepted", "running")
    hub.stop_server(ALICE)
    hub.start_server(ALICE, server_config="running_jobs_are_activity = true\n")
    done = final_status(alice, alices, timeout=90)
    assert done["status"] == "successful", done
    reply = requests.get(location, headers=alice.headers, timeout=30)
    assert reply.status_code == 200, reply.text
    assert_valid(reply.content)
    assert state_of(etree.fromstring(reply.content)) == "ProcessSucceeded", reply.text
    api_get(bob, f"jobs/{bobs}", method="DELETE")
