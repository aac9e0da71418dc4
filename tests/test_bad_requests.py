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
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote

import pytest
from lxml import etree
from schema import assert_valid
from tornado.httpclient import HTTPResponse

from jupyter_wps.server import handlers
from jupyter_wps.wps.exceptions import InvalidParameterValue, NoApplicableCode
from jupyter_wps.wps.request import parse_kvp
from jupyter_wps.wps.response import FALLBACK_EXCEPTION_REPORT, exception_report

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


# --------------------------------------------------------------------------- malformed values
# Whatever bytes a request has, the answer is a schema-valid ExceptionReport naming the
# parameter; characters XML cannot carry are refused before anything uses them.


def raw_wps(**params: str) -> str:
    """``wps?`` and the parameters as given: values are already URL-encoded."""
    return "wps?" + "&".join(f"{key}={value}" for key, value in params.items())


EXECUTE = {"service": "WPS", "version": "1.0.0", "request": "Execute"}


@pytest.mark.parametrize(
    "path, locator",
    [
        # the cases
        (raw_wps(**EXECUTE, identifier="ALL"), "identifier"),
        (raw_wps(**EXECUTE, identifier="all"), "identifier"),
        (raw_wps(**EXECUTE, identifier="say_hello,echo"), "identifier"),
        (raw_wps(service="WPS", version="1.0.0", request="Execute%00"), "request"),
        (
            raw_wps(service="WPS", version="1.0.0", request="DescribeProcess", identifier="x%01y"),
            "identifier",
        ),
        (
            raw_wps(
                **EXECUTE,
                identifier="say_hello",
                DataInputs="name=x",
                ResponseDocument="output@uom=%00",
                storeExecuteResponse="true",
                status="true",
            ),
            "ResponseDocument",
        ),
        # the same characters elsewhere: in names, double-encoded inside KVP lists
        (raw_wps(service="WPS", request="GetCapabilities", **{"x%00y": "1"}), "x\\x00y"),
        (raw_wps(service="WPS%1F", request="GetCapabilities"), "service"),
        (raw_wps(**EXECUTE, identifier="say_hello", DataInputs="name=%2500"), "DataInputs"),
        (raw_wps(**EXECUTE, identifier="say_hello", DataInputs="na%2501me=x"), "DataInputs"),
        (
            raw_wps(**EXECUTE, identifier="echo", RawDataOutput="literal@mimeType=%251B"),
            "RawDataOutput",
        ),
        (
            raw_wps(**EXECUTE, identifier="say_hello", DataInputs="name=x", language="en%0B"),
            "language",
        ),
        # a reference that is no URL
        (
            raw_wps(**EXECUTE, identifier="echo", DataInputs="complex=@xlink:href=http://%5B::1"),
            "complex",
        ),
    ],
    ids=[
        "execute-ALL",
        "execute-all",
        "execute-list",
        "request-nul",
        "describe-control",
        "uom-nul",
        "name-nul",
        "service-control",
        "input-double-encoded",
        "input-name-double-encoded",
        "raw-output-escape",
        "language-vt",
        "href-not-url",
    ],
)
async def test_malformed_values_get_a_report(fetch_raw, wps_workdir, path, locator):
    response = await fetch_raw(path)
    assert report(response, 400) == ("InvalidParameterValue", locator)
    assert not [p for p in wps_workdir.iterdir() if p.is_dir()], "a job was created"
    await wps_is_serving(fetch_raw)


async def test_unknown_operation_with_odd_characters(fetch_raw):
    response = await fetch_raw(
        raw_wps(service="WPS", version="1.0.0", request="Drop%E2%80%AETables")
    )
    assert report(response, 501)[0] == "OperationNotSupported"
    response = await fetch_raw(raw_wps(service="WPS", version="1.0.0", request="%FF%FE"))
    assert report(response, 501)[0] == "OperationNotSupported"


async def test_execute_all_by_xml(fetch_raw):
    body = f"""<wps:Execute service="WPS" version="1.0.0" {WPS_NS}>
      <ows:Identifier>ALL</ows:Identifier></wps:Execute>"""
    assert report(await post(fetch_raw, body.encode()), 400) == (
        "InvalidParameterValue",
        "Identifier",
    )


@pytest.mark.parametrize(
    "body",
    [
        b'<wps:DescribeProcess service="WPS" version="1.0.0" WPS_NS>'
        b"<ows:Identifier>say_&#1;</ows:Identifier></wps:DescribeProcess>",
        b'<wps:DescribeProcess service="WPS" version="1.0.0" WPS_NS>'
        b"<ows:Identifier>say\x00</ows:Identifier></wps:DescribeProcess>",
        b'<wps:GetCapabilities service="WPS\xff\xfe" WPS_NS/>',
        b'<?xml version="1.0" encoding="UTF-16"?><wps:GetCapabilities service="WPS" WPS_NS/>',
    ],
    ids=["char-reference", "nul-byte", "invalid-utf8", "wrong-encoding"],
)
async def test_xml_with_characters_xml_cannot_carry(fetch_raw, body):
    response = await post(fetch_raw, body.replace(b"WPS_NS", WPS_NS.encode()))
    assert report(response, 400)[0] == "NoApplicableCode"
    await wps_is_serving(fetch_raw)


def test_parse_kvp_refuses_what_http_cannot_send():
    """Lone surrogates and U+FFFE reach parse_kvp only from other callers; refused all the same."""
    for value in ("say\ud800", "say\ufffe", "say\uffff", "\x00"):
        with pytest.raises(InvalidParameterValue) as caught:
            parse_kvp(
                {"service": "WPS", "version": "1.0.0", "request": "Execute", "identifier": value}
            )
        assert caught.value.locator == "identifier"
        assert_valid(exception_report(caught.value))


def test_exception_report_quotes_anything():
    every = "".join(chr(c) for c in range(0x100)) + "\ud800\udfff\ufffe\uffff\U0001f600"
    error = InvalidParameterValue(every, locator=every)
    error.text = error.locator = every  # even set after construction
    for version in ("1.0.0", "2.0.0"):
        document = exception_report([error, NoApplicableCode(every)], version=version)
        root = etree.fromstring(document)
        if version == "1.0.0":
            assert_valid(document)
        text = root.find("{*}Exception/{*}ExceptionText").text
        assert "\\x00" in text and "\\ud800" in text and "\\ufffe" in text and "\U0001f600" in text
    assert_valid(FALLBACK_EXCEPTION_REPORT)


async def test_a_report_that_cannot_be_built_still_gets_a_body(fetch_raw, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("All strings must be XML compatible")

    monkeypatch.setattr(handlers, "exception_report", broken)
    response = await kvp(fetch_raw, service="WPS", version="1.0.0", request="DropTables")
    assert report(response, 500) == ("NoApplicableCode", None)
    assert response.body == FALLBACK_EXCEPTION_REPORT


# --------------------------------------------------------------------------- XSRF
# A WPS request that changes state (Execute, Dismiss) authenticated by the login cookie
# alone needs the page's _xsrf token, by GET as by POST: a link on another site, or an
# image in a notebook, must not start jobs. Token clients are unaffected.


class Browser:
    """Cookies, as a browser keeps them, logged in through Jupyter's login form."""

    def __init__(self, fetch_raw) -> None:
        self.fetch_raw = fetch_raw
        self.cookies: dict[str, str] = {}

    def _keep(self, response: HTTPResponse) -> None:
        for header in response.headers.get_list("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value

    @property
    def xsrf(self) -> str:
        return self.cookies["_xsrf"]

    async def login(self, token: str) -> Browser:
        self._keep(await self.fetch("login"))
        form = urllib.parse.urlencode({"_xsrf": self.xsrf, "password": token})
        response = await self.fetch("login", method="POST", body=form, follow_redirects=False)
        assert response.code == 302, (response.code, response.body[:500])
        assert any(name.startswith("username-") for name in self.cookies), self.cookies
        return self

    async def fetch(
        self, path: str, headers: dict[str, str] | None = None, **kwargs
    ) -> HTTPResponse:
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = await self.fetch_raw(
            path, auth=False, headers={"Cookie": cookie, **(headers or {})}, **kwargs
        )
        self._keep(response)
        return response


@pytest.fixture
def browser(fetch_raw, jp_serverapp):
    async def logged_in() -> Browser:
        return await Browser(fetch_raw).login(jp_serverapp.identity_provider.token)

    return logged_in


def wrong_xsrf(token: str) -> str:
    """A well-formed token that is not the cookie's: its last hex digit changed.

    (tornado's tokens are ``2|mask|masked token|timestamp``; the timestamp is not compared)
    """
    version, mask, masked, stamp = token.split("|")
    masked = masked[:-1] + ("0" if masked[-1] != "0" else "1")
    return "|".join((version, mask, masked, stamp))


def job_dirs(workdir: Path) -> set[str]:
    return {path.name for path in workdir.iterdir() if path.is_dir()}


HELLO = urllib.parse.urlencode({**EXECUTE, "identifier": "say_hello", "DataInputs": "name=X"})
HELLO_XML = f"""<wps:Execute service="WPS" version="1.0.0" {WPS_NS}>
  <ows:Identifier>say_hello</ows:Identifier>
  <wps:DataInputs><wps:Input><ows:Identifier>name</ows:Identifier>
    <wps:Data><wps:LiteralData>X</wps:LiteralData></wps:Data></wps:Input></wps:DataInputs>
</wps:Execute>""".encode()


async def test_cookie_reads_need_no_xsrf(browser):
    session = await browser()
    for query in (
        "request=GetCapabilities",
        "version=1.0.0&request=DescribeProcess&identifier=ALL",
    ):
        response = await session.fetch(f"wps?service=WPS&{query}")
        assert response.code == 200, response.body
        assert_valid(response.body)


@pytest.mark.parametrize(
    "referer",
    [None, "https://evil.example/page", "same-origin"],
    ids=["none", "cross-site", "same-site"],
)
async def test_cookie_get_execute_without_xsrf_is_refused(browser, wps_workdir, referer):
    session = await browser()
    before = job_dirs(wps_workdir)
    headers = {}
    if referer == "same-origin":  # an image in a notebook's markdown: jupyter_server lets GETs by
        response = await session.fetch("wps")  # a same-site Referer through; not this one
        headers["Referer"] = response.effective_url
    elif referer:
        headers["Referer"] = referer
    for query in (
        HELLO,
        HELLO + "&_xsrf=forged",
        HELLO + "&_xsrf=" + quote(wrong_xsrf(session.xsrf)),
    ):
        response = await session.fetch(f"wps?{query}", headers=headers)
        code, locator = report(response, 403)
        assert (code, locator) == ("NoApplicableCode", "_xsrf")
        assert b"_xsrf" in response.body and b"Authorization: token" in response.body
    assert job_dirs(wps_workdir) == before


async def test_cookie_get_execute_with_xsrf_runs(browser):
    session = await browser()
    quoted = urllib.parse.quote(session.xsrf)
    response = await session.fetch(f"wps?{HELLO}&_xsrf={quoted}")
    assert response.code == 200, response.body
    assert b"ProcessSucceeded" in response.body
    response = await session.fetch(f"wps?{HELLO}", headers={"X-XSRFToken": session.xsrf})
    assert response.code == 200, response.body


async def test_token_get_execute_needs_no_xsrf(fetch_raw):
    response = await fetch_raw(f"wps?{HELLO}")
    assert response.code == 200, response.body
    assert b"ProcessSucceeded" in response.body


async def test_cookie_post_execute_needs_xsrf(browser, wps_workdir):
    session = await browser()
    before = job_dirs(wps_workdir)
    response = await session.fetch("wps", method="POST", body=HELLO_XML)
    assert report(response, 403)[0] == "NoApplicableCode"
    assert b"_xsrf" in response.body
    assert job_dirs(wps_workdir) == before
    response = await session.fetch(
        "wps", method="POST", body=HELLO_XML, headers={"X-XSRFToken": session.xsrf}
    )
    assert response.code == 200, response.body
    assert b"ProcessSucceeded" in response.body


async def test_cookie_dismiss_needs_xsrf(browser, fetch_raw, wps_workdir):
    job_id, _, _ = await finished_job(fetch_raw, wps_workdir)
    session = await browser()
    dismiss = f"wps?service=WPS&version=2.0.0&request=Dismiss&jobId={job_id}"
    assert report(await session.fetch(dismiss), 403) == ("NoApplicableCode", "_xsrf")
    # the JSON API: DELETE goes through the framework's XSRF check (a JSON error)
    response = await session.fetch(f"wps/api/jobs/{job_id}", method="DELETE")
    assert response.code == 403, response.body
    assert (wps_workdir / job_id).is_dir()
    status = await fetch_raw(f"wps/status/{job_id}.xml")
    assert b"ProcessSucceeded" in status.body
    response = await session.fetch(f"{dismiss}&_xsrf={urllib.parse.quote(session.xsrf)}")
    assert response.code == 200, response.body
    assert_valid(response.body)
    assert b"Dismissed" in response.body


async def test_cookie_api_delete_with_xsrf(browser, fetch_raw, wps_workdir):
    job_id, _, _ = await finished_job(fetch_raw, wps_workdir)
    session = await browser()
    response = await session.fetch(
        f"wps/api/jobs/{job_id}", method="DELETE", headers={"X-XSRFToken": session.xsrf}
    )
    assert response.code == 200, response.body
