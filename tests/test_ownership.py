"""Where identities are stable (JupyterHub), jobs belong to their user and others see nothing."""

from __future__ import annotations

import json

import pytest
from lxml import etree
from schema import assert_valid
from tornado.httpclient import HTTPClientError

ALICE = {"Authorization": "token alice-token"}
BOB = {"Authorization": "token bob-token"}
NS = {"wps": "http://www.opengis.net/wps/1.0.0", "ows": "http://www.opengis.net/ows/1.1"}


@pytest.fixture
def jp_server_config(jp_server_config):
    jp_server_config["ServerApp"]["identity_provider_class"] = "identity.StableIdentityProvider"
    return jp_server_config


async def execute(jp_fetch, headers) -> str:
    response = await jp_fetch(
        "wps",
        headers=headers,
        params={
            "service": "WPS",
            "version": "1.0.0",
            "request": "Execute",
            "identifier": "sleep",
            "DataInputs": "seconds=5",
            "storeExecuteResponse": "true",
            "status": "true",
        },
    )
    location = etree.fromstring(response.body).get("statusLocation")
    return location.rsplit("/", 1)[1].split(".xml")[0]


async def expect_error(fetch, code: int):
    with pytest.raises(HTTPClientError) as info:
        await fetch
    assert info.value.code == code, info.value.response.body
    return info.value.response.body


async def test_jobs_belong_to_their_user(jp_fetch):
    alice_job = await execute(jp_fetch, ALICE)
    bob_job = await execute(jp_fetch, BOB)

    alice_jobs = json.loads((await jp_fetch("wps", "api", "jobs", headers=ALICE)).body)["jobs"]
    assert [j["jobID"] for j in alice_jobs] == [alice_job]
    bob_jobs = json.loads((await jp_fetch("wps", "api", "jobs", headers=BOB)).body)["jobs"]
    assert [j["jobID"] for j in bob_jobs] == [bob_job]

    # bob cannot read, poll or cancel alice's job: it does not exist for him
    await expect_error(jp_fetch("wps", "api", "jobs", alice_job, headers=BOB), 404)
    await expect_error(jp_fetch("wps", "status", f"{alice_job}.xml", headers=BOB), 404)
    await expect_error(jp_fetch("wps", "api", "jobs", alice_job, method="DELETE", headers=BOB), 404)
    body = await expect_error(
        jp_fetch(
            "wps",
            headers=BOB,
            params={"service": "WPS", "version": "2.0.0", "request": "Dismiss", "jobId": alice_job},
        ),
        404,
    )
    assert_valid(body)
    assert b"NoSuchJob" in body

    # alice's job still runs, and she can cancel it
    job = json.loads((await jp_fetch("wps", "api", "jobs", alice_job, headers=ALICE)).body)
    assert job["status"] in ("accepted", "running")
    await jp_fetch("wps", "api", "jobs", alice_job, method="DELETE", headers=ALICE)
    await jp_fetch("wps", "api", "jobs", bob_job, method="DELETE", headers=BOB)


async def test_unknown_user_gets_an_exception_report(jp_fetch):
    body = await expect_error(
        jp_fetch(
            "wps",
            headers={"Authorization": "token mallory"},
            params={"service": "WPS", "request": "GetCapabilities"},
        ),
        401,
    )
    assert_valid(body)


class TestTheServersOwner:
    """On alice's own server (JUPYTERHUB_USER=alice), a job another identity submitted
    (a user she shares it with, a service) runs as her: she sees and can cancel it."""

    @pytest.fixture
    def jp_server_config(self, jp_server_config, monkeypatch):
        monkeypatch.setenv("JUPYTERHUB_USER", "alice")  # read when the extension starts
        return jp_server_config

    async def test_the_owner_sees_and_cancels_every_job(self, jp_fetch):
        alice_job = await execute(jp_fetch, ALICE)
        bob_job = await execute(jp_fetch, BOB)

        listed = json.loads((await jp_fetch("wps", "api", "jobs", headers=ALICE)).body)["jobs"]
        assert {j["jobID"] for j in listed} == {alice_job, bob_job}
        bob_sees = json.loads((await jp_fetch("wps", "api", "jobs", headers=BOB)).body)["jobs"]
        assert [j["jobID"] for j in bob_sees] == [bob_job]
        await expect_error(jp_fetch("wps", "api", "jobs", alice_job, headers=BOB), 404)

        status = await jp_fetch("wps", "status", f"{bob_job}.xml", headers=ALICE)
        assert_valid(status.body)
        reply = await jp_fetch("wps", "api", "jobs", bob_job, method="DELETE", headers=ALICE)
        assert json.loads(reply.body)["status"] == "dismissed"
        assert "dismissed by alice" in json.loads(reply.body)["message"]
        await jp_fetch("wps", "api", "jobs", alice_job, method="DELETE", headers=ALICE)
