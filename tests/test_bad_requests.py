"""Hostile and broken requests to the in-process server: the right OWS error, nothing leaked.

Every WPS error body is a schema-valid ``ows:ExceptionReport`` with the HTTP
status its exception code calls for; no path trick reaches a file outside a
job's outputs; oversized and entity-bomb bodies are refused, and the server
keeps serving.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
from lxml import etree
from schema import assert_valid
from tornado.httpclient import HTTPResponse

NS = {"wps": "http://www.opengis.net/wps/1.0.0", "ows": "http://www.opengis.net/ows/1.1"}
WPS_NS = 'xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:ows="http://www.opengis.net/ows/1.1"'
#: what must never appear in an answer to a path trick: /etc/passwd, the dot file planted in
#: outputs/, job.dill (the process reference in it), job.json, the workdir's secret file
SECRETS = (b"root:x:0:0", b"TOP-SECRET", b"jupyter_wps.processes", b'"owner"', b"\x80\x04\x95")
MAX_REQUEST_SIZE = 3 * 1024 * 1024  # the default maxrequestsize (3mb)


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def fetch_raw(http_server_client, jp_base_url, jp_auth_header):
    """A request to a raw (already encoded) path under the base URL: no re-quoting."""

    async def fetch(path: str, *, auth: bool = True, **kwargs) -> HTTPResponse:
        headers = dict(jp_auth_header) if auth else {"Authorization": ""}
        headers.update(kwargs.pop("headers", {}))
        kwargs.setdefault("request_timeout", 30)
        return await http_server_client.fetch(
            jp_base_url + path, headers=headers, raise_error=False, **kwargs
        )

    return fetch


def report(response: HTTPResponse, status: int) -> tuple[str, str | None]:
    """Check an error answer (status, schema-valid ExceptionReport); its code and locator."""
    body = response.body or b""
    assert response.code == status, (response.code, body[:2000])
    assert response.headers.get("Content-Type", "").startswith("text/xml"), response.headers
    assert_valid(body)
    root = etree.fromstring(body)
    assert root.tag == "{http://www.opengis.net/ows/1.1}ExceptionReport", body[:2000]
    exception = root.find("ows:Exception", NS)
    assert exception is not None, body[:2000]
    return exception.get("exceptionCode"), exception.get("locator")


def leaks_nothing(response: HTTPResponse, *contents: bytes) -> None:
    body = response.body or b""
    for secret in (*SECRETS, *contents):
        if secret:
            assert secret not in body, (secret, body[:2000])


async def kvp(fetch_raw, **params) -> HTTPResponse:
    return await fetch_raw("wps?" + urllib.parse.urlencode(params))


async def post(fetch_raw, body: bytes, **kwargs) -> HTTPResponse:
    return await fetch_raw("wps", method="POST", body=body, **kwargs)


async def wps_is_serving(fetch_raw) -> None:
    response = await kvp(fetch_raw, service="WPS", request="GetCapabilities")
    assert response.code == 200, response.body
    assert_valid(response.body)


async def finished_job(fetch_raw, wps_workdir: Path) -> tuple[str, str, Path]:
    """A finished say_hello job with its output stored by reference, and its capability.

    (A coroutine, not a fixture: pytest-jupyter runs async tests, not async fixtures.)
    """
    response = await kvp(
        fetch_raw,
        service="WPS",
        version="1.0.0",
        request="Execute",
        identifier="say_hello",
        DataInputs="name=Path",
        ResponseDocument="output@asReference=true",
        storeExecuteResponse="true",
        status="true",
    )
    assert response.code == 200, response.body
    location = urllib.parse.urlsplit(etree.fromstring(response.body).get("statusLocation"))
    job_id = location.path.rsplit("/", 1)[1].removesuffix(".xml")
    cap = urllib.parse.parse_qs(location.query)["cap"][0]
    for _ in range(600):
        status = await fetch_raw(f"wps/status/{job_id}.xml")
        assert status.code == 200, status.body
        if b"ProcessSucceeded" in status.body or b"ProcessFailed" in status.body:
            break
        await asyncio.sleep(0.1)
    assert b"ProcessSucceeded" in status.body, status.body
    jobdir = wps_workdir / job_id
    (jobdir / "outputs" / ".secret").write_bytes(b"TOP-SECRET dot file")
    (jobdir / "outputs" / "link.txt").symlink_to(jobdir / "job.dill")
    return job_id, cap, jobdir


# --------------------------------------------------------------------------- path tricks

BAD_JOB_IDS = [
    "..",
    "%2e%2e",
    "..%2F..%2Fetc%2Fpasswd",
    "..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "not-a-uuid",
    "3f2504e0-4f89-41d3-9a0c-0305e82c3301",  # looks right, does not exist
    "3F2504E0-4F89-41D3-9A0C-0305E82C3301",
    "%00",
]


@pytest.mark.parametrize("job_id", BAD_JOB_IDS)
async def test_status_of_bad_job_ids(fetch_raw, job_id):
    response = await fetch_raw(f"wps/status/{job_id}.xml")
    code, locator = report(response, 404)
    assert (code, locator) == ("NoSuchJob", "jobId")
    leaks_nothing(response)


@pytest.mark.parametrize("job_id", BAD_JOB_IDS)
async def test_outputs_of_bad_job_ids(fetch_raw, job_id):
    response = await fetch_raw(f"wps/outputs/{job_id}/output.txt")
    assert report(response, 404)[0] == "NoSuchJob"
    leaks_nothing(response)


async def test_path_tricks_on_a_real_jobs_id(fetch_raw, wps_workdir):
    job_id, cap, _ = await finished_job(fetch_raw, wps_workdir)
    for trick in (f"{job_id}%2F..%2F{job_id}", f"..%2F{job_id}", f"{job_id}%2F", f"{job_id}%00"):
        response = await fetch_raw(f"wps/status/{trick}.xml?cap={cap}")
        assert report(response, 404)[0] == "NoSuchJob", trick
        leaks_nothing(response)


async def test_unencoded_dot_segments_are_not_served(fetch_raw, wps_workdir):
    """Literal ``..`` segments match no WPS route: a 404 (Jupyter's page), no content."""
    job_id, cap, _ = await finished_job(fetch_raw, wps_workdir)
    for path in (
        "wps/status/../../../../etc/passwd",
        f"wps/outputs/{job_id}/../job.dill",
        f"wps/outputs/{job_id}/../../{job_id}/job.json",
    ):
        response = await fetch_raw(f"{path}?cap={cap}")
        assert response.code == 404, (path, response.code)
        leaks_nothing(response, b'"owner"')


@pytest.mark.parametrize(
    "name",
    [
        "..%2Fjob.dill",
        "%2e%2e%2fjob.dill",
        "%2E%2E%2Fjob.json",
        "..%2F..%2F.jupyter-wps-secret",
        "..",
        "%2e%2e",
        ".secret",
        "%2esecret",
        "link.txt",  # a symlink to job.dill, planted in outputs/
        "job.dill",
        "status.xml",
        "..%5Cjob.dill",
        "output.txt%00.png",
        "%2Fetc%2Fpasswd",
    ],
)
@pytest.mark.parametrize("credentials", ["token", "cap"])
async def test_output_name_tricks(fetch_raw, wps_workdir, name, credentials):
    job_id, cap, jobdir = await finished_job(fetch_raw, wps_workdir)
    query = f"?cap={cap}" if credentials == "cap" else ""
    good = await fetch_raw(f"wps/outputs/{job_id}/output.txt{query}", auth=credentials == "token")
    assert good.code == 200 and good.body == b"Hello Path", good.body  # the real output is served

    response = await fetch_raw(f"wps/outputs/{job_id}/{name}{query}", auth=credentials == "token")

    code, _ = report(response, 404)
    assert code == "NoApplicableCode"
    leaks_nothing(
        response,
        (jobdir / "job.dill").read_bytes()[:64],
        (jobdir.parent / ".jupyter-wps-secret").read_bytes(),
    )


async def test_a_directory_in_outputs_is_no_output(fetch_raw, wps_workdir):
    job_id, cap, jobdir = await finished_job(fetch_raw, wps_workdir)
    (jobdir / "outputs" / "subdir").mkdir()
    response = await fetch_raw(f"wps/outputs/{job_id}/subdir?cap={cap}", auth=False)
    report(response, 404)


async def test_wrong_capability_without_credentials(fetch_raw, wps_workdir):
    job_id, cap, _ = await finished_job(fetch_raw, wps_workdir)
    other = await kvp(
        fetch_raw,
        service="WPS",
        version="1.0.0",
        request="Execute",
        identifier="say_hello",
        DataInputs="name=Other",
        storeExecuteResponse="true",
    )
    other_cap = urllib.parse.parse_qs(
        urllib.parse.urlsplit(etree.fromstring(other.body).get("statusLocation")).query
    )["cap"][0]
    assert other_cap != cap
    ok = await fetch_raw(f"wps/status/{job_id}.xml?cap={cap}", auth=False)
    assert ok.code == 200
    assert_valid(ok.body)
    for wrong in ("forged", "", other_cap, cap[:-1], cap + "A", cap.lower()):
        if wrong == cap:
            continue
        for path in (f"wps/status/{job_id}.xml", f"wps/outputs/{job_id}/output.txt"):
            response = await fetch_raw(f"{path}?cap={wrong}", auth=False)
            assert report(response, 401)[0] == "NoApplicableCode", (path, wrong)
            assert response.headers.get("WWW-Authenticate"), response.headers
            assert b"Hello Path" not in response.body
    # a capability is not credentials for other jobs: an unknown job is still 401, not 404
    response = await fetch_raw(f"wps/status/{uuid.uuid4()}.xml?cap={cap}", auth=False)
    report(response, 401)


# --------------------------------------------------------------------------- bodies


async def test_chunked_body_over_maxrequestsize(fetch_raw):
    """A streamed body (no Content-Length) over the limit: 413 FileSizeExceeded."""
    chunk = b"<!-- " + b"x" * (64 * 1024 - 9) + b" -->"
    chunks = MAX_REQUEST_SIZE // len(chunk) + 8
    sent = 0

    async def producer(write):
        nonlocal sent
        await write(b'<?xml version="1.0"?>\n')
        for _ in range(chunks):
            await write(chunk)
            sent += len(chunk)

    response = await fetch_raw(
        "wps",
        method="POST",
        body_producer=producer,
        headers={"Content-Type": "text/xml"},
    )
    assert sent > MAX_REQUEST_SIZE
    code, locator = report(response, 413)
    assert (code, locator) == ("FileSizeExceeded", "maxrequestsize")
    await wps_is_serving(fetch_raw)
    # and a small streamed body is read whole
    small = b'<wps:GetCapabilities service="WPS" ' + WPS_NS.encode() + b"/>"

    async def small_producer(write):
        await write(small[:10])
        await write(small[10:])

    response = await fetch_raw("wps", method="POST", body_producer=small_producer)
    assert response.code == 200, response.body
    assert_valid(response.body)


async def test_content_length_over_maxrequestsize(fetch_raw):
    response = await post(fetch_raw, b"<a>" + b"x" * MAX_REQUEST_SIZE + b"</a>")
    assert report(response, 413) == ("FileSizeExceeded", "maxrequestsize")
    await wps_is_serving(fetch_raw)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<wps:Execute service="WPS" version="1.0.0" WPS_NS>
  <ows:Identifier>say_hello</ows:Identifier>
  <wps:DataInputs><wps:Input><ows:Identifier>name</ows:Identifier>
    <wps:Data><wps:LiteralData>&lol9;</wps:LiteralData></wps:Data>
  </wps:Input></wps:DataInputs>
</wps:Execute>""".replace(b"WPS_NS", WPS_NS.encode())

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY passwd SYSTEM "file:///etc/passwd">]>
<wps:Execute service="WPS" version="1.0.0" WPS_NS>
  <ows:Identifier>say_hello</ows:Identifier>
  <wps:DataInputs><wps:Input><ows:Identifier>name</ows:Identifier>
    <wps:Data><wps:LiteralData>&passwd;</wps:LiteralData></wps:Data>
  </wps:Input></wps:DataInputs>
</wps:Execute>""".replace(b"WPS_NS", WPS_NS.encode())


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
async def test_entity_bombs_are_refused_quickly(fetch_raw, body):
    start = time.monotonic()
    response = await post(fetch_raw, body)
    elapsed = time.monotonic() - start
    assert report(response, 400)[0] == "NoApplicableCode"
    assert elapsed < 2, f"{elapsed:.1f} s"
    leaks_nothing(response, b"lollollol")
    await wps_is_serving(fetch_raw)


@pytest.mark.parametrize(
    "body",
    [
        b"<wps:Execute",
        b"",
        b"not xml at all",
        b"<a><b></a>",
        b"\xff\xfe<\x00a\x00",
        b'<?xml version="1.0" encoding="nonsense"?><a/>',
    ],
    ids=["unclosed", "empty", "text", "mismatched", "binary", "bad-encoding"],
)
async def test_malformed_xml(fetch_raw, body):
    response = await post(fetch_raw, body)
    assert report(response, 400)[0] == "NoApplicableCode"


# --------------------------------------------------------------------------- WPS errors


async def test_unknown_request(fetch_raw):
    response = await kvp(fetch_raw, service="WPS", version="1.0.0", request="DropTables")
    assert report(response, 501) == ("OperationNotSupported", "DropTables")
    response = await post(fetch_raw, f'<wps:DropTables service="WPS" {WPS_NS}/>'.encode())
    assert report(response, 501) == ("OperationNotSupported", "DropTables")


async def test_execute_without_version(fetch_raw):
    response = await kvp(
        fetch_raw, service="WPS", request="Execute", identifier="say_hello", DataInputs="name=x"
    )
    assert report(response, 400) == ("MissingParameterValue", "version")
    body = f"""<wps:Execute service="WPS" {WPS_NS}>
      <ows:Identifier>say_hello</ows:Identifier></wps:Execute>"""
    assert report(await post(fetch_raw, body.encode()), 400) == ("MissingParameterValue", "version")


async def test_wrong_literal_type(fetch_raw):
    response = await kvp(
        fetch_raw,
        service="WPS",
        version="1.0.0",
        request="Execute",
        identifier="sleep",
        DataInputs="seconds=abc",
    )
    assert report(response, 400) == ("InvalidParameterValue", "seconds")
    body = f"""<wps:Execute service="WPS" version="1.0.0" {WPS_NS}>
      <ows:Identifier>sleep</ows:Identifier>
      <wps:DataInputs><wps:Input><ows:Identifier>seconds</ows:Identifier>
        <wps:Data><wps:LiteralData>abc</wps:LiteralData></wps:Data>
      </wps:Input></wps:DataInputs></wps:Execute>"""
    assert report(await post(fetch_raw, body.encode()), 400) == (
        "InvalidParameterValue",
        "seconds",
    )


async def test_unknown_process(fetch_raw):
    response = await kvp(
        fetch_raw, service="WPS", version="1.0.0", request="Execute", identifier="no_such_process"
    )
    assert report(response, 400) == ("InvalidParameterValue", "no_such_process")
    body = f"""<wps:Execute service="WPS" version="1.0.0" {WPS_NS}>
      <ows:Identifier>no_such_process</ows:Identifier></wps:Execute>"""
    assert report(await post(fetch_raw, body.encode()), 400) == (
        "InvalidParameterValue",
        "no_such_process",
    )
    response = await kvp(
        fetch_raw,
        service="WPS",
        version="1.0.0",
        request="DescribeProcess",
        identifier="no_such_process",
    )
    assert report(response, 400) == ("InvalidParameterValue", "no_such_process")
