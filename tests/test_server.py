"""The WPS endpoint of a real Jupyter server (pytest-jupyter), every document schema-checked."""

from __future__ import annotations

import asyncio
import json
import re
from urllib.parse import urlsplit

import pytest
from lxml import etree
from schema import assert_valid
from tornado.httpclient import HTTPClientError

NS = {
    "wps": "http://www.opengis.net/wps/1.0.0",
    "ows": "http://www.opengis.net/ows/1.1",
    "wps2": "http://www.opengis.net/wps/2.0",
}
DEMO = {"say_hello", "sleep", "echo", "ultimate_question"}


async def wps_get(jp_fetch, expect: int = 200, headers=None, **params):
    """A KVP request; returns the parsed, schema-valid document."""
    try:
        response = await jp_fetch("wps", params=params, headers=headers)
    except HTTPClientError as exc:
        assert exc.code == expect, exc.response.body if exc.response else exc
        response = exc.response
    else:
        assert response.code == expect, response.body
    assert_valid(response.body)
    return etree.fromstring(response.body)


async def wps_post(jp_fetch, body: bytes, expect: int = 200, headers=None):
    try:
        response = await jp_fetch("wps", method="POST", body=body, headers=headers)
    except HTTPClientError as exc:
        assert exc.code == expect, exc.response.body if exc.response else exc
        response = exc.response
    else:
        assert response.code == expect, response.body
    assert_valid(response.body)
    return etree.fromstring(response.body)


def exception_of(doc) -> tuple[str, str | None]:
    exc = doc.find("ows:Exception", NS)
    assert exc is not None, etree.tostring(doc)
    return exc.get("exceptionCode"), exc.get("locator")


def state_of(doc) -> str:
    status = doc.find("wps:Status", NS)
    return etree.QName(status[0]).localname


def literal_outputs(doc) -> dict[str, str]:
    return {
        out.findtext("ows:Identifier", namespaces=NS): out.findtext(
            "wps:Data/wps:LiteralData", namespaces=NS
        )
        for out in doc.iterfind("wps:ProcessOutputs/wps:Output", NS)
    }


async def poll(jp_fetch, status_url: str, timeout: float = 60) -> list:
    """Poll a statusLocation until final; returns every document seen."""
    path = urlsplit(status_url)
    parts = path.path.split("/wps/", 1)[1]
    params = dict(p.split("=", 1) for p in path.query.split("&") if p)
    seen = []
    for _ in range(int(timeout / 0.1)):
        response = await jp_fetch("wps", *parts.split("/"), params=params)
        assert_valid(response.body)
        doc = etree.fromstring(response.body)
        seen.append(doc)
        if state_of(doc) in ("ProcessSucceeded", "ProcessFailed"):
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"job did not finish: {etree.tostring(seen[-1])}")


async def test_get_capabilities_lists_demo_processes(jp_fetch):
    doc = await wps_get(jp_fetch, service="WPS", request="GetCapabilities")
    offered = {
        p.findtext("ows:Identifier", namespaces=NS)
        for p in doc.iterfind("wps:ProcessOfferings/wps:Process", NS)
    }
    assert offered >= DEMO
    get = doc.find(".//ows:Operation[@name='Execute']//ows:Get", NS)
    assert get.get("{http://www.w3.org/1999/xlink}href").split("?")[0].endswith("/a%40b/wps")


async def test_describe_all_and_unknown(jp_fetch):
    doc = await wps_get(
        jp_fetch, service="WPS", version="1.0.0", request="DescribeProcess", identifier="ALL"
    )
    assert {
        d.findtext("ows:Identifier", namespaces=NS) for d in doc.iterfind("ProcessDescription")
    } >= DEMO
    doc = await wps_get(
        jp_fetch,
        expect=400,
        service="WPS",
        version="1.0.0",
        request="DescribeProcess",
        identifier="say_hello,nope",
    )
    assert exception_of(doc) == ("InvalidParameterValue", "nope")


async def test_credentials_required(jp_fetch):
    doc = await wps_get(
        jp_fetch,
        expect=401,
        headers={"Authorization": ""},
        service="WPS",
        request="GetCapabilities",
    )
    assert exception_of(doc)[0] == "NoApplicableCode"
    doc = await wps_post(jp_fetch, b"<x/>", expect=401, headers={"Authorization": ""})


async def test_sync_execute_kvp(jp_fetch):
    doc = await wps_get(
        jp_fetch,
        service="WPS",
        version="1.0.0",
        request="Execute",
        identifier="say_hello",
        DataInputs="name=World",
    )
    assert state_of(doc) == "ProcessSucceeded"
    assert literal_outputs(doc) == {"output": "Hello World"}


async def test_raw_data_output(jp_fetch):
    response = await jp_fetch(
        "wps",
        params={
            "service": "WPS",
            "version": "1.0.0",
            "request": "Execute",
            "identifier": "echo",
            "DataInputs": "complex=<a>b</a>@mimeType=text/xml",
            "RawDataOutput": "complex",
        },
    )
    assert response.headers["Content-Type"].startswith("text/xml")
    assert etree.fromstring(response.body).tag == "a"


async def test_async_execute_progress_and_success(jp_fetch):
    doc = await wps_get(
        jp_fetch,
        service="WPS",
        version="1.0.0",
        request="Execute",
        identifier="sleep",
        DataInputs="seconds=2.5",
        storeExecuteResponse="true",
        status="true",
    )
    assert state_of(doc) == "ProcessAccepted"
    status_url = doc.get("statusLocation")
    assert status_url and "?cap=" in status_url
    seen = await poll(jp_fetch, status_url)
    percents = [
        int(d.find("wps:Status/wps:ProcessStarted", NS).get("percentCompleted"))
        for d in seen
        if state_of(d) == "ProcessStarted"
    ]
    assert percents and percents == sorted(percents) and max(percents) > 0
    assert state_of(seen[-1]) == "ProcessSucceeded"
    assert literal_outputs(seen[-1]) == {"output": "Slept for 2.5 seconds"}


async def test_status_capability_without_credentials(jp_fetch):
    doc = await wps_get(
        jp_fetch,
        service="WPS",
        version="1.0.0",
        request="Execute",
        identifier="say_hello",
        DataInputs="name=cap",
        storeExecuteResponse="true",
        status="true",
    )
    url = urlsplit(doc.get("statusLocation"))
    job_path = url.path.split("/wps/", 1)[1].split("/")
    cap = url.query.split("=", 1)[1]
    response = await jp_fetch("wps", *job_path, params={"cap": cap}, headers={"Authorization": ""})
    assert_valid(response.body)
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("wps", *job_path, params={"cap": "forged"}, headers={"Authorization": ""})
    assert info.value.code == 401


async def test_dismiss_running_job(jp_fetch):
    doc = await wps_get(
        jp_fetch,
        service="WPS",
        version="1.0.0",
        request="Execute",
        identifier="sleep",
        DataInputs="seconds=30",
        storeExecuteResponse="true",
        status="true",
    )
    job_id = re.search(r"status/([^.]+)\.xml", doc.get("statusLocation")).group(1)
    for _ in range(100):
        job = json.loads((await jp_fetch("wps", "api", "jobs", job_id)).body)
        if job["status"] == "running":
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "running"
    doc = await wps_get(jp_fetch, service="WPS", version="2.0.0", request="Dismiss", jobId=job_id)
    assert doc.findtext("wps2:Status", namespaces=NS) == "Dismissed"
    job = json.loads((await jp_fetch("wps", "api", "jobs", job_id)).body)
    assert job["status"] == "dismissed"
    doc = await wps_get(jp_fetch, service="WPS", version="2.0.0", request="GetStatus", jobId=job_id)
    assert doc.findtext("wps2:Status", namespaces=NS) == "Dismissed"


async def test_oversize_body_refused(jp_fetch):
    body = b"<a>" + b"x" * (4 * 1024 * 1024) + b"</a>"
    doc = await wps_post(jp_fetch, body, expect=413)
    assert exception_of(doc)[0] == "FileSizeExceeded"
    # and the server still serves
    await wps_get(jp_fetch, service="WPS", request="GetCapabilities")


async def test_xxe_refused(jp_fetch):
    body = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<wps:GetCapabilities xmlns:wps="http://www.opengis.net/wps/1.0.0" service="WPS">'
        b"&e;</wps:GetCapabilities>"
    )
    try:
        await jp_fetch("wps", method="POST", body=body)
    except HTTPClientError as exc:
        assert exc.code == 400
        assert b"root:" not in exc.response.body
        assert_valid(exc.response.body)
    else:
        raise AssertionError("an XML document with a DOCTYPE was accepted")


async def test_json_api(jp_fetch):
    processes = json.loads((await jp_fetch("wps", "api", "processes")).body)
    assert {p["id"] for p in processes["processes"]} >= DEMO
    detail = json.loads((await jp_fetch("wps", "api", "processes", "sleep")).body)
    assert detail["inputs"]["seconds"]["schema"]["type"] == "number"
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("wps", "api", "jobs", "00000000-0000-4000-8000-000000000000")
    assert info.value.code == 404


async def test_sync_execute_does_not_block_the_server(jp_fetch):
    slow = asyncio.ensure_future(
        wps_get(
            jp_fetch,
            service="WPS",
            version="1.0.0",
            request="Execute",
            identifier="sleep",
            DataInputs="seconds=2",
        )
    )
    await asyncio.sleep(0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await wps_get(jp_fetch, service="WPS", request="GetCapabilities")
    assert not slow.done(), "GetCapabilities waited for the sync execute"
    assert loop.time() - started < 1.5
    doc = await slow
    assert literal_outputs(doc) == {"output": "Slept for 2.0 seconds"}


async def test_job_json_fields_results_and_wps2_get_result(jp_fetch):
    doc = await wps_get(
        jp_fetch,
        service="WPS",
        version="1.0.0",
        request="Execute",
        identifier="say_hello",
        DataInputs="name=JSON",
        storeExecuteResponse="true",
        status="true",
    )
    job_id = re.search(r"status/([^.]+)\.xml", doc.get("statusLocation")).group(1)
    await poll(jp_fetch, doc.get("statusLocation"))
    job = json.loads((await jp_fetch("wps", "api", "jobs", job_id)).body)
    assert {
        "jobID",
        "processID",
        "status",
        "message",
        "progress",
        "created",
        "started",
        "finished",
        "updated",
        "links",
    } <= set(job)
    assert (job["jobID"], job["processID"], job["status"], job["progress"]) == (
        job_id,
        "say_hello",
        "successful",
        100,
    )
    assert job["created"] <= job["finished"]
    assert {link["rel"] for link in job["links"]} >= {"self", "status", "results"}
    results = json.loads((await jp_fetch("wps", "api", "jobs", job_id, "results")).body)
    assert results == {"output": "Hello JSON"}
    listed = json.loads((await jp_fetch("wps", "api", "jobs")).body)["jobs"]
    assert job_id in {j["jobID"] for j in listed}

    result = await wps_get(
        jp_fetch, service="WPS", version="2.0.0", request="GetResult", jobId=job_id
    )
    assert result.findtext("wps2:JobID", namespaces=NS) == job_id
    data = result.find(".//wps2:Output/wps2:Data", NS)
    assert "".join(data.itertext()).strip() == "Hello JSON"
    status = await wps_get(
        jp_fetch, service="WPS", version="2.0.0", request="GetStatus", jobId=job_id
    )
    assert status.findtext("wps2:Status", namespaces=NS) == "Succeeded"


async def test_execute_by_xml_post_with_lineage(jp_fetch):
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0"
    xmlns:ows="http://www.opengis.net/ows/1.1">
  <ows:Identifier>echo</ows:Identifier>
  <wps:DataInputs>
    <wps:Input><ows:Identifier>literal</ows:Identifier>
      <wps:Data><wps:LiteralData>posted</wps:LiteralData></wps:Data></wps:Input>
    <wps:Input><ows:Identifier>complex</ows:Identifier>
      <wps:Data><wps:ComplexData mimeType="text/xml"><point x="1"/></wps:ComplexData></wps:Data>
    </wps:Input>
  </wps:DataInputs>
  <wps:ResponseForm><wps:ResponseDocument lineage="true">
    <wps:Output><ows:Identifier>literal</ows:Identifier></wps:Output>
    <wps:Output><ows:Identifier>complex</ows:Identifier></wps:Output>
  </wps:ResponseDocument></wps:ResponseForm>
</wps:Execute>"""
    doc = await wps_post(jp_fetch, body)
    assert state_of(doc) == "ProcessSucceeded"
    assert doc.find("wps:DataInputs", NS) is not None
    assert doc.find("wps:OutputDefinitions", NS) is not None
    assert literal_outputs(doc)["literal"] == "posted"
    point = doc.find(".//wps:Output/wps:Data/wps:ComplexData/point", NS)
    assert point is not None and point.get("x") == "1"


async def test_health_says_what_is_wrong(jp_fetch, jp_serverapp):
    reply = await jp_fetch("wps", "api", "health")
    assert json.loads(reply.body) == {"status": "ok", "problems": {}}
    manager = jp_serverapp.web_app.settings["jupyter_wps_service"].manager
    manager.problems["dispatch"] = "cannot write to the workdir: [Errno 28] No space left"
    try:
        with pytest.raises(HTTPClientError) as unhealthy:
            await jp_fetch("wps", "api", "health")
        assert unhealthy.value.code == 503
        assert json.loads(unhealthy.value.response.body)["problems"]["dispatch"].startswith(
            "cannot write"
        )
        # and new work is refused, saying why
        report = await wps_get(
            jp_fetch,
            503,
            service="WPS",
            request="Execute",
            version="1.0.0",
            identifier="say_hello",
            DataInputs="name=x",
        )
        text = etree.tostring(report)
        assert b"ServerBusy" in text and b"No space left" in text
    finally:
        manager.problems.clear()
