"""Complex inputs by reference: the spec's Buffer example against a local HTTP server.

The server fetches references itself (GET or POST, within the input's size limit and
``reference_timeout``; ``file://`` only under ``allowedinputpaths``) before the job
is submitted. Every XML response is schema-checked.
"""

from __future__ import annotations

import asyncio
import copy
import http.server
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from lxml import etree
from schema import assert_valid
from test_server import NS, exception_of, state_of, wps_get, wps_post
from wps_test_processes import RESULT_NS

from jupyter_wps.config import load_config
from jupyter_wps.process import ComplexData, ComplexInput, Process, ProcessRegistry
from jupyter_wps.server.service import WPSService
from jupyter_wps.wps.exceptions import FileSizeExceeded
from jupyter_wps.wps.execute import ComplexReference

EXAMPLES = Path(__file__).parent / "data" / "wps-examples"
EXAMPLE = EXAMPLES / "51_wpsExecute_request_ResponseDocument.xml"
EXAMPLE_HREF = "http://foo.bar/some_WFS_request.xml"
XLINK = "{http://www.w3.org/1999/xlink}"
WPS = "{http://www.opengis.net/wps/1.0.0}"
OWS = "{http://www.opengis.net/ows/1.1}"
GML = "http://www.opengis.net/gml"
POLYGON = f"""<?xml version="1.0" encoding="UTF-8"?>
<gml:Polygon xmlns:gml="{GML}" gml:id="playground" srsName="EPSG:4326">
  <gml:exterior><gml:LinearRing>
    <gml:posList>45.0 -75.0 45.0 -74.9 45.1 -74.9 45.1 -75.0 45.0 -75.0</gml:posList>
  </gml:LinearRing></gml:exterior>
</gml:Polygon>
""".encode()
#: the server's limits in these tests (pywps.cfg below)
MAX_INPUT = 64 * 1024
TIMEOUT = 2.0
SLOW = 8.0


# --------------------------------------------------------------------------- a local HTTP server


class ReferenceHandler(http.server.BaseHTTPRequestHandler):
    """What the references point to: a polygon, large and endless files, slow endpoints."""

    protocol_version = "HTTP/1.1"
    posts: list[tuple[str, dict[str, str], bytes]] = []

    def log_message(self, format, *args):  # quiet
        pass

    def _send(self, body: bytes, status: int = 200, content_type: str = "text/xml") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the WPS hung up (a slow or large reference it refused)
            self.close_connection = True

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _stream(self, chunk: bytes, pause: float, total: int) -> None:
        """No Content-Length: the body ends when the connection closes."""
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        sent = 0
        try:
            while sent < total:
                self.wfile.write(chunk)
                self.wfile.flush()
                sent += len(chunk)
                time.sleep(pause)
        except OSError:  # the WPS hung up: what we want
            pass

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/polygon.gml":
            self._send(POLYGON)
        elif path == "/getfeature.xml":  # a body for a POST reference
            self._send(b'<wfs:GetFeature xmlns:wfs="http://www.opengis.net/wfs" typeName="p"/>')
        elif path == "/large.gml":  # says how large it is
            self._send(b"<a>" + b"x" * (4 * MAX_INPUT) + b"</a>")
        elif path == "/endless.gml":  # never says, never ends (within reason)
            self._stream(b"x" * 8192, 0, 1 << 30)
        elif path == "/slow.gml":
            time.sleep(SLOW)
            self._send(POLYGON)
        elif path == "/drip.gml":  # answers at once, then a byte at a time
            self._stream(b"x", 0.2, int(SLOW / 0.2))
        elif path == "/redirect":
            self._redirect("/polygon.gml")
        elif path == "/redirect-file":
            self._redirect("file:///etc/passwd")
        elif path == "/redirect-ftp":
            self._redirect("ftp://127.0.0.1/polygon.gml")
        elif path == "/missing":
            self._send(b"not here", status=404, content_type="text/plain")
        else:
            self._send(b"unknown path", status=400, content_type="text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        ReferenceHandler.posts.append((self.path, dict(self.headers), body))
        if urlsplit(self.path).path == "/wfs" and b"GetFeature" in body:
            self._send(POLYGON)
        else:
            self._send(b"a WFS wants a GetFeature", status=400, content_type="text/plain")


@dataclass
class Site:
    url: str
    allowed: Path
    outside: Path
    config: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ReferenceHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    root = tmp_path_factory.mktemp("references")
    allowed = root / "allowed"
    outside = root / "outside"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "polygon.gml").write_bytes(POLYGON)
    (allowed / "large.gml").write_bytes(b"x" * (MAX_INPUT + 1))
    (allowed / "link.gml").symlink_to(outside / "polygon.gml")
    (outside / "polygon.gml").write_bytes(POLYGON)
    config = root / "pywps.cfg"
    config.write_text(
        "[server]\n"
        f"maxsingleinputsize = {MAX_INPUT // 1024}kb\n"
        f"reference_timeout = {TIMEOUT:g}s\n"
        f"allowedinputpaths = {allowed}\n",
        encoding="utf-8",
    )
    yield Site(f"http://127.0.0.1:{server.server_address[1]}", allowed, outside, config)
    server.shutdown()
    server.server_close()


@pytest.fixture
def wps_settings(site):
    return {"processes": ["wps_test_processes:TEST_PROCESSES"], "config_file": str(site.config)}


# --------------------------------------------------------------------------- helpers


def example_request(href: str, lineage: bool = False) -> etree._Element:
    """The specification's example Execute request, with its reference pointing at ``href``."""
    root = etree.parse(str(EXAMPLE)).getroot()
    reference = root.find(f"{WPS}DataInputs/{WPS}Input/{WPS}Reference")
    assert reference.get(f"{XLINK}href") == EXAMPLE_HREF
    reference.set(f"{XLINK}href", href)
    if lineage:
        root.find(f"{WPS}ResponseForm/{WPS}ResponseDocument").set("lineage", "true")
    return root


def example_kvp(href: str, href_attribute: str = "xlink:href") -> dict[str, str]:
    """The GET request in the example's comment (with the missing ``&`` put back)."""
    return {
        "Service": "WPS",
        "Version": "1.0.0",
        "Language": "en-CA",
        "Request": "Execute",
        "Identifier": "Buffer",
        "DataInputs": f"[InputPolygon=@{href_attribute}={quote(href, safe='')};BufferDistance=400]",
        "ResponseDocument": "[BufferedPolygon=@asReference=true]",
        "storeExecuteResponse": "true",
    }


async def post(jp_fetch, root: etree._Element, expect: int = 200):
    return await wps_post(jp_fetch, etree.tostring(root, xml_declaration=True), expect=expect)


async def fetch_output(jp_fetch, doc) -> etree._Element:
    """Follow the BufferedPolygon reference (with the token) and parse what it holds."""
    assert state_of(doc) == "ProcessSucceeded", etree.tostring(doc)
    (output,) = doc.iterfind("wps:ProcessOutputs/wps:Output", NS)
    assert output.findtext("ows:Identifier", namespaces=NS) == "BufferedPolygon"
    reference = output.find("wps:Reference", NS)
    assert reference is not None, etree.tostring(output)
    assert reference.get("mimeType") == "text/xml"
    url = urlsplit(reference.get("href"))
    parts = url.path.split("/wps/", 1)[1].split("/")
    params = dict(p.split("=", 1) for p in url.query.split("&") if p)
    response = await jp_fetch("wps", *parts, params=params)
    assert response.code == 200
    return etree.fromstring(response.body)


def assert_buffered(result: etree._Element, href: str | None = None) -> None:
    """The Buffer process saw a gml:Polygon and the distance 400."""
    assert result.tag == f"{{{RESULT_NS}}}BufferedPolygon"
    assert result.get("distance") == "400"
    root = result.find(f"{{{RESULT_NS}}}InputRoot")
    assert (root.get("namespace"), root.get("name")) == (GML, "Polygon")
    if href is not None:
        assert root.get("href") == href


def assert_refused(doc, code: str, *words: str) -> None:
    assert exception_of(doc) == (code, "InputPolygon")
    text = doc.findtext("ows:Exception/ows:ExceptionText", namespaces=NS)
    for word in words:
        assert word in text, text


# --------------------------------------------------------------------------- tests


async def test_describe_buffer(jp_fetch):
    doc = await wps_get(
        jp_fetch, service="WPS", version="1.0.0", request="DescribeProcess", identifier="Buffer"
    )
    inputs = {
        i.findtext("ows:Identifier", namespaces=NS): i
        for i in doc.iterfind("ProcessDescription/DataInputs/Input")
    }
    assert set(inputs) == {"InputPolygon", "BufferDistance"}
    assert inputs["BufferDistance"].get("minOccurs") == "0"


async def test_spec_example_post(jp_fetch, site):
    href = f"{site.url}/polygon.gml"
    doc = await post(jp_fetch, example_request(href))
    assert_buffered(await fetch_output(jp_fetch, doc), href)
    assert doc.find("wps:DataInputs", NS) is None  # no lineage unless asked


@pytest.mark.parametrize("href_attribute", ["xlink:href", "href"])
async def test_spec_example_kvp_gives_the_same_output(jp_fetch, site, href_attribute):
    href = f"{site.url}/polygon.gml"
    by_get = await fetch_output(
        jp_fetch, await wps_get(jp_fetch, **example_kvp(href, href_attribute))
    )
    assert_buffered(by_get, href)
    by_post = await fetch_output(jp_fetch, await post(jp_fetch, example_request(href)))
    assert etree.tostring(by_get, method="c14n") == etree.tostring(by_post, method="c14n")


async def test_lineage_echoes_inputs_and_output_definitions(jp_fetch, site):
    href = f"{site.url}/polygon.gml"
    doc = await post(jp_fetch, example_request(href, lineage=True))
    inputs = {
        i.findtext("ows:Identifier", namespaces=NS): i
        for i in doc.iterfind("wps:DataInputs/wps:Input", NS)
    }
    assert set(inputs) == {"InputPolygon", "BufferDistance"}
    reference = inputs["InputPolygon"].find("wps:Reference", NS)
    assert reference.get(f"{XLINK}href") == href
    literal = inputs["BufferDistance"].find("wps:Data/wps:LiteralData", NS)
    assert float(literal.text) == 400
    (definition,) = doc.iterfind("wps:OutputDefinitions/wps:Output", NS)
    assert definition.findtext("ows:Identifier", namespaces=NS) == "BufferedPolygon"
    assert definition.get("asReference") == "true"
    assert_buffered(await fetch_output(jp_fetch, doc), href)


async def test_redirect_to_http_followed(jp_fetch, site):
    doc = await post(jp_fetch, example_request(f"{site.url}/redirect"))
    assert_buffered(await fetch_output(jp_fetch, doc))


@pytest.mark.parametrize("path", ["/large.gml", "/endless.gml"])
async def test_oversize_reference_refused(jp_fetch, site, path):
    started = time.monotonic()
    doc = await post(jp_fetch, example_request(site.url + path), expect=413)
    assert_refused(doc, "FileSizeExceeded", path, str(MAX_INPUT))
    # the endless one was refused after the limit, not read to its end (1 GB)
    assert time.monotonic() - started < 10


async def test_oversize_reference_kvp(jp_fetch, site):
    doc = await wps_get(jp_fetch, expect=413, **example_kvp(f"{site.url}/endless.gml"))
    assert_refused(doc, "FileSizeExceeded")


@pytest.mark.parametrize("path", ["/slow.gml", "/drip.gml"])
async def test_slow_reference_times_out(jp_fetch, site, path):
    started = time.monotonic()
    doc = await post(jp_fetch, example_request(site.url + path), expect=400)
    elapsed = time.monotonic() - started
    assert_refused(doc, "InvalidParameterValue", "timed out")
    assert elapsed < TIMEOUT + 3, elapsed


async def test_fetching_does_not_block_the_server(jp_fetch, site):
    execute = asyncio.ensure_future(
        post(jp_fetch, example_request(f"{site.url}/slow.gml"), expect=400)
    )
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await wps_get(jp_fetch, service="WPS", request="GetCapabilities")
    assert time.monotonic() - started < TIMEOUT / 2
    assert not execute.done()
    assert_refused(await execute, "InvalidParameterValue", "timed out")


@pytest.mark.parametrize(
    "href",
    ["ftp://127.0.0.1/polygon.gml", "data:text/xml,<a/>", "gopher://127.0.0.1/", "polygon.gml"],
)
async def test_other_schemes_refused(jp_fetch, href):
    doc = await post(jp_fetch, example_request(href), expect=400)
    assert_refused(doc, "InvalidParameterValue")


@pytest.mark.parametrize("path", ["/redirect-file", "/redirect-ftp"])
async def test_redirect_to_other_scheme_refused(jp_fetch, site, path):
    doc = await post(jp_fetch, example_request(site.url + path), expect=400)
    assert_refused(doc, "InvalidParameterValue", "redirect")
    assert b"root:" not in etree.tostring(doc)


async def test_http_error_refused(jp_fetch, site):
    doc = await post(jp_fetch, example_request(f"{site.url}/missing"), expect=400)
    assert_refused(doc, "InvalidParameterValue", "404")


async def test_file_reference_inside_allowed_paths(jp_fetch, site):
    href = (site.allowed / "polygon.gml").as_uri()
    doc = await post(jp_fetch, example_request(href))
    assert_buffered(await fetch_output(jp_fetch, doc), href)
    # file://localhost/... is the same file
    doc = await post(jp_fetch, example_request(href.replace("file://", "file://localhost")))
    assert_buffered(await fetch_output(jp_fetch, doc))


@pytest.mark.parametrize(
    "name",
    ["outside", "symlink", "dotdot", "other host", "relative"],
)
async def test_file_reference_outside_allowed_paths(jp_fetch, site, name):
    hrefs = {
        "outside": (site.outside / "polygon.gml").as_uri(),
        "symlink": (site.allowed / "link.gml").as_uri(),  # resolves to outside/
        "dotdot": f"file://{site.allowed}/../outside/polygon.gml",
        "other host": f"file://example.org{site.allowed}/polygon.gml",
        "relative": "file:polygon.gml",
    }
    doc = await post(jp_fetch, example_request(hrefs[name]), expect=400)
    assert_refused(doc, "InvalidParameterValue")


async def test_file_reference_missing_or_too_large(jp_fetch, site):
    doc = await post(jp_fetch, example_request((site.allowed / "nope.gml").as_uri()), expect=400)
    assert_refused(doc, "InvalidParameterValue", "cannot be read")
    doc = await post(jp_fetch, example_request((site.allowed / "large.gml").as_uri()), expect=413)
    assert_refused(doc, "FileSizeExceeded")


def post_reference(root: etree._Element, href: str) -> etree._Element:
    """Make the example's reference a POST with a header (the body is added by the caller)."""
    reference = root.find(f"{WPS}DataInputs/{WPS}Input/{WPS}Reference")
    reference.set(f"{XLINK}href", href)
    reference.set("method", "POST")
    etree.SubElement(reference, f"{WPS}Header", key="X-Test", value="buffer")
    return reference


async def test_post_reference_with_body(jp_fetch, site):
    root = example_request(f"{site.url}/wfs")
    reference = post_reference(root, f"{site.url}/wfs")
    body = etree.SubElement(reference, f"{WPS}Body")
    etree.SubElement(body, "{http://www.opengis.net/wfs}GetFeature", typeName="playgrounds")
    ReferenceHandler.posts.clear()
    doc = await post(jp_fetch, root)
    assert_buffered(await fetch_output(jp_fetch, doc))
    ((path, headers, sent),) = ReferenceHandler.posts
    assert path == "/wfs" and headers["X-Test"] == "buffer"
    assert etree.fromstring(sent).get("typeName") == "playgrounds"
    assert headers["Content-Type"].startswith("text/xml")


async def test_post_reference_with_body_reference(jp_fetch, site):
    root = example_request(f"{site.url}/wfs")
    reference = post_reference(root, f"{site.url}/wfs")
    etree.SubElement(reference, f"{WPS}BodyReference").set(
        f"{XLINK}href", f"{site.url}/getfeature.xml"
    )
    ReferenceHandler.posts.clear()
    doc = await post(jp_fetch, copy.deepcopy(root))
    assert_buffered(await fetch_output(jp_fetch, doc))
    ((_, headers, sent),) = ReferenceHandler.posts
    assert headers["X-Test"] == "buffer"
    assert etree.fromstring(sent).get("typeName") == "p"


async def test_post_reference_lineage_hides_credentials(jp_fetch, site):
    root = example_request(f"{site.url}/wfs", lineage=True)
    reference = post_reference(root, f"{site.url}/wfs")
    etree.SubElement(reference, f"{WPS}Header", key="Authorization", value="Bearer s3cret")
    etree.SubElement(etree.SubElement(reference, f"{WPS}Body"), "GetFeature")
    doc = await post(jp_fetch, root)
    assert_valid(etree.tostring(doc))
    assert b"s3cret" not in etree.tostring(doc)
    assert_buffered(await fetch_output(jp_fetch, doc))


# --------------------------------------------------------------------------- the service alone


def service_for(site: Site) -> WPSService:
    """A WPSService for fetching only (no job manager)."""
    return WPSService(load_config(site.config), ProcessRegistry(), manager=None)


async def test_per_input_limit_is_the_smaller_one(site):
    small = Process("p", inputs=[ComplexInput(identifier="small", max_megabytes=1 / 1024)])
    service = service_for(site)
    inputs = {"small": [ComplexReference(href=f"{site.url}/polygon.gml")]}
    await service.fetch_references(small, inputs)  # fits in 1 KB
    with pytest.raises(FileSizeExceeded) as info:
        await service.fetch_references(
            small, {"small": [ComplexReference(href=f"{site.url}/endless.gml")]}
        )
    assert info.value.locator == "small" and "1024 bytes" in info.value.text
    with pytest.raises(FileSizeExceeded) as info:  # and the server's, when it is smaller
        big = Process("p", inputs=[ComplexInput(identifier="big", max_megabytes=100)])
        await service.fetch_references(
            big, {"big": [ComplexReference(href=f"{site.url}/endless.gml")]}
        )
    assert info.value.locator == "big" and f"{MAX_INPUT} bytes" in info.value.text


async def test_fetched_reference_keeps_href_and_drops_request_details(site):
    proc = Process("p", inputs=[ComplexInput(identifier="x", max_occurs=2)])
    first = ComplexReference(
        href=f"{site.url}/polygon.gml",
        mime_type="text/xml",
        headers={"Authorization": "Bearer s3cret"},
    )
    second = ComplexReference(
        href=f"{site.url}/wfs", method="POST", body=b"<GetFeature/>", mime_type="text/xml"
    )
    inputs = {"x": [first, second]}
    await service_for(site).fetch_references(proc, inputs)
    for value in inputs["x"]:
        assert type(value) is ComplexData
        assert value.data == POLYGON and value.mime_type == "text/xml"
    assert [v.href for v in inputs["x"]] == [first.href, second.href]
