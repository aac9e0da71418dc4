"""Against a live ``jupyter server`` on a port: OWSLib, many jobs at once, restarts."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from live import LiveServer, server_fixture
from lxml import etree
from owslib.wps import ASYNC, SYNC, BoundingBoxDataInput, ComplexDataInput, WebProcessingService
from schema import assert_valid

NS = {"wps": "http://www.opengis.net/wps/1.0.0", "ows": "http://www.opengis.net/ows/1.1"}
DEMO = ["say_hello", "sleep", "echo", "ultimate_question"]


server = server_fixture("live")


def client(server: LiveServer) -> WebProcessingService:
    return WebProcessingService(server.wps_url, headers=server.headers, version="1.0.0")


def document_of(execution) -> bytes:
    """OWSLib keeps the last response as an element after execute, as bytes after checkStatus."""
    response = execution.response
    return response if isinstance(response, bytes) else etree.tostring(response)


def wait_for(execution, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not execution.isComplete():
        assert time.monotonic() < deadline, "the job did not finish"
        execution.checkStatus(sleepSecs=0.2)
        assert_valid(document_of(execution))
    return execution


def test_owslib_lists_and_describes(server):
    wps = client(server)
    assert set(DEMO) <= {p.identifier for p in wps.processes}
    for identifier in DEMO:
        description = wps.describeprocess(identifier)
        assert description.identifier == identifier
    sleep = wps.describeprocess("sleep")
    (seconds,) = sleep.dataInputs
    assert seconds.dataType.endswith("double")
    assert seconds.minOccurs == 0
    echo = wps.describeprocess("echo")
    kinds = {i.identifier: i.dataType for i in echo.dataInputs}
    assert kinds["complex"] == "ComplexData" and kinds["bbox"] == "BoundingBoxData"


@pytest.mark.parametrize("mode", [SYNC, ASYNC])
def test_owslib_executes_every_demo_process(server, mode):
    wps = client(server)
    cases = {
        "say_hello": ([("name", "OWSLib")], {"output": "Hello OWSLib"}),
        "sleep": ([("seconds", "1")], {"output": "Slept for 1.0 seconds"}),
        "ultimate_question": ([], {"output": "42"}),
        "echo": ([("literal", "lit")], {"literal": "lit"}),
    }
    for identifier, (inputs, expected) in cases.items():
        # OWSLib sends a ResponseDocument (and so asks for async) only when outputs are named
        outputs = [(name, False) for name in expected]
        execution = wps.execute(identifier, inputs, output=outputs, mode=mode)
        assert_valid(document_of(execution))
        if mode == ASYNC:
            assert execution.status == "ProcessAccepted" and execution.statusLocation
        else:
            assert execution.status == "ProcessSucceeded" and not execution.statusLocation
        wait_for(execution)
        assert execution.isSucceded(), (identifier, execution.errors)
        values = {o.identifier: o.data[0] for o in execution.processOutputs}
        assert values == expected, identifier


def test_owslib_echo_complex_and_bbox(server):
    wps = client(server)
    execution = wps.execute(
        "echo",
        [
            ("complex", ComplexDataInput('{"a": 1}', mimeType="application/json")),
            # EPSG:3857 is x/y: OWSLib reads EPSG:4326 corners as lat/lon (swapped)
            ("bbox", BoundingBoxDataInput([1.5, 2, 3, 4.25], crs="EPSG:3857")),
        ],
        output=[("complex", True), ("bbox", False)],
        mode=ASYNC,
    )
    wait_for(execution)
    assert execution.isSucceded(), execution.errors
    outputs = {o.identifier: o for o in execution.processOutputs}
    reference = outputs["complex"].reference
    assert reference and "/wps/outputs/" in reference
    fetched = requests.get(reference, timeout=10)  # the capability in the URL suffices
    assert fetched.status_code == 200 and fetched.json() == {"a": 1}
    assert outputs["complex"].mimeType == "application/json"
    bbox = outputs["bbox"].data[0]
    assert [float(v) for v in (bbox.minx, bbox.miny, bbox.maxx, bbox.maxy)] == [1.5, 2, 3, 4.25]


def test_fifty_async_jobs_all_succeed_while_status_reads_parse(server):
    def submit(i: int) -> str:
        reply = requests.get(
            server.wps_url,
            headers=server.headers,
            timeout=30,
            params={
                "service": "WPS",
                "version": "1.0.0",
                "request": "Execute",
                "identifier": "say_hello",
                "DataInputs": f"name=job{i}",
                "storeExecuteResponse": "true",
                "status": "true",
            },
        )
        assert reply.status_code == 200, reply.text
        return etree.fromstring(reply.content).get("statusLocation")

    with ThreadPoolExecutor(10) as pool:
        locations = list(pool.map(submit, range(50)))
    assert len(set(locations)) == 50
    pending = dict(enumerate(locations))
    reads = 0
    deadline = time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        for i, url in list(pending.items()):
            reply = requests.get(url, timeout=10)  # capability URL: no headers needed
            reads += 1
            doc = etree.fromstring(reply.content)  # every read parses: writes are atomic
            state = etree.QName(doc.find("wps:Status", NS)[0]).localname
            assert state != "ProcessFailed", reply.text
            if state == "ProcessSucceeded":
                assert doc.findtext(".//wps:LiteralData", namespaces=NS) == f"Hello job{i}"
                del pending[i]
    assert not pending, f"{len(pending)} jobs did not finish"
    assert reads >= 50
