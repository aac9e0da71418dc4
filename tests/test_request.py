"""Parsing WPS requests from KVP (GET) and XML (POST) into request objects."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode

import pytest
from lxml import etree

from jupyter_wps.wps.exceptions import (
    FileSizeExceeded,
    InvalidParameterValue,
    MissingParameterValue,
    NoApplicableCode,
    OperationNotSupported,
    OWSException,
    VersionNegotiationFailed,
)
from jupyter_wps.wps.request import (
    BoundingBoxValue,
    DataInput,
    DescribeProcess,
    Execute,
    GetCapabilities,
    JobRequest,
    OutputRequest,
    ResponseForm,
    negotiate_version,
    parse_bbox,
    parse_kvp,
    parse_xml_request,
)

EXAMPLES = Path(__file__).parent / "data" / "wps-examples"
EXECUTE_EXAMPLE = EXAMPLES / "51_wpsExecute_request_ResponseDocument.xml"

WPS_NS = (
    'xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:ows="http://www.opengis.net/ows/1.1" '
    'xmlns:xlink="http://www.w3.org/1999/xlink"'
)
WPS2_NS = 'xmlns:wps="http://www.opengis.net/wps/2.0" xmlns:ows="http://www.opengis.net/ows/2.0"'


def kvp(query: str | dict[str, str]) -> object:
    """Parse as a server would: the query string decoded once, then :func:`parse_kvp`."""
    if isinstance(query, dict):
        query = urlencode(query)
    return parse_kvp(parse_qs(query))


def execute_kvp(**params: str) -> Execute:
    request = kvp({"service": "WPS", "version": "1.0.0", "request": "Execute", **params})
    assert isinstance(request, Execute)
    return request


def execute_xml(inner: str, attributes: str = 'service="WPS" version="1.0.0"') -> Execute:
    request = parse_xml_request(
        f"<wps:Execute {WPS_NS} {attributes}>"
        f"<ows:Identifier>proc</ows:Identifier>{inner}</wps:Execute>".encode()
    )
    assert isinstance(request, Execute)
    return request


def xml_input(identifier: str, content: str) -> str:
    return (
        f"<wps:DataInputs><wps:Input><ows:Identifier>{identifier}</ows:Identifier>"
        f"{content}</wps:Input></wps:DataInputs>"
    )


def assert_ows(
    info: pytest.ExceptionInfo[OWSException],
    cls: type[OWSException],
    code: str,
    locator: str | None,
    status: int = 400,
) -> None:
    assert type(info.value) is cls
    assert info.value.code == code
    assert info.value.locator == locator
    assert info.value.status == status


# --------------------------------------------------------------------------- spec example


def example_kvp(xml_text: str) -> dict[str, str]:
    """The KVP equivalent the example gives in its comment, as parameter -> value."""
    comment = re.search(r"Equivalent GET request is(.*?)-->", xml_text, re.S)
    assert comment is not None
    query = comment.group(1).split("?", 1)[1]
    params = {}
    for line in query.split("\n"):
        line = line.strip().rstrip("&")
        if line:
            name, _, value = line.partition("=")
            params[name] = value
    return params


def comparable(request: Execute) -> tuple[str, list[DataInput], ResponseForm]:
    """What XML and KVP requests must agree on: XML literals are KVP strings."""
    inputs = [
        dataclasses.replace(i, kind="kvp") if i.kind == "literal" else i for i in request.inputs
    ]
    return request.identifier, inputs, request.response


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*_request*.xml")), ids=lambda p: p.name)
def test_example_requests_parse(path: Path) -> None:
    request = parse_xml_request(path.read_bytes())
    assert request.operation in path.name


@pytest.mark.parametrize("href", ["xlink:href", "href"])
def test_example_execute_xml_and_kvp_agree(href: str) -> None:
    text = EXECUTE_EXAMPLE.read_text().replace("xlink:href", href)
    from_xml = parse_xml_request(text.encode())
    from_kvp = kvp(example_kvp(text))
    assert isinstance(from_xml, Execute) and isinstance(from_kvp, Execute)
    assert comparable(from_xml) == comparable(from_kvp)
    assert from_kvp.language == "en-CA"
    assert from_xml.identifier == "Buffer"
    polygon, distance = from_xml.inputs
    assert polygon == DataInput(
        "InputPolygon", kind="reference", href="http://foo.bar/some_WFS_request.xml"
    )
    assert (distance.identifier, distance.kind, distance.value) == (
        "BufferDistance",
        "literal",
        "400",
    )
    assert from_xml.response == ResponseForm(
        store=True, outputs=[OutputRequest("BufferedPolygon", as_reference=True)]
    )


# --------------------------------------------------------------------------- KVP common


def test_kvp_get_capabilities_names_are_case_insensitive() -> None:
    request = kvp("SERVICE=wps&Request=getcapabilities&acceptVersions=1.0.0, 2.0.0&LANGUAGE=en")
    assert request == GetCapabilities(accept_versions=["1.0.0", "2.0.0"], language="en")


def test_kvp_accepts_plain_and_bytes_mappings() -> None:
    assert parse_kvp({"service": "WPS", "request": "GetCapabilities"}) == GetCapabilities()
    tornado_style = {"service": [b"WPS"], "request": [b"GetCapabilities"]}
    assert parse_kvp(tornado_style) == GetCapabilities()


@pytest.mark.parametrize(
    ("query", "cls", "locator", "status"),
    [
        ("request=GetCapabilities", MissingParameterValue, "service", 400),
        ("service=&request=GetCapabilities", MissingParameterValue, "service", 400),
        ("service=WMS&request=GetCapabilities", InvalidParameterValue, "service", 400),
        ("service=WPS", MissingParameterValue, "request", 400),
        ("service=WPS&request=GetMap", OperationNotSupported, "GetMap", 501),
        ("service=WPS&request=DescribeProcess&identifier=a", MissingParameterValue, "version", 400),
        (
            "service=WPS&request=DescribeProcess&version=2.0.0&identifier=a",
            VersionNegotiationFailed,
            "version",
            400,
        ),
        (
            "service=WPS&request=Execute&version=0.4.0&identifier=a",
            VersionNegotiationFailed,
            "version",
            400,
        ),
        ("service=WPS&request=Execute&version=1.0.0", MissingParameterValue, "identifier", 400),
        (
            "service=WPS&request=Execute&version=1.0.0&identifier=a,b",
            InvalidParameterValue,
            "identifier",
            400,
        ),
        (
            "service=WPS&request=DescribeProcess&version=1.0.0",
            MissingParameterValue,
            "identifier",
            400,
        ),
        ("service=WPS&request=GetStatus&version=2.0.0", MissingParameterValue, "jobId", 400),
        (
            "service=WPS&request=GetResult&version=3.0.0&jobId=x",
            VersionNegotiationFailed,
            "version",
            400,
        ),
    ],
)
def test_kvp_errors(query: str, cls: type[OWSException], locator: str, status: int) -> None:
    with pytest.raises(cls) as info:
        kvp(query)
    assert_ows(info, cls, cls.code, locator, status)


def test_kvp_describe_process() -> None:
    request = kvp("service=WPS&request=describeprocess&version=1.0.0&Identifier=a,b")
    assert request == DescribeProcess(identifiers=["a", "b"])
    request = kvp("service=WPS&request=DescribeProcess&version=1.0.0&identifier=ALL")
    assert request == DescribeProcess(identifiers=["ALL"])


@pytest.mark.parametrize("operation", ["GetStatus", "GetResult", "Dismiss"])
@pytest.mark.parametrize("version", ["1.0.0", "2.0.0"])
@pytest.mark.parametrize("name", ["jobId", "JOBID"])
def test_kvp_job_requests(operation: str, version: str, name: str) -> None:
    request = kvp(f"service=WPS&request={operation.lower()}&version={version}&{name}=j-1")
    assert request == JobRequest(operation=operation, version=version, job_id="j-1")


# --------------------------------------------------------------------------- KVP Execute


def test_kvp_execute_attributes_and_occurrences() -> None:
    request = execute_kvp(
        identifier="proc",
        DataInputs=(
            "width=35@datatype=xs:integer@uom=meter;"
            "band=1;band=2; band=3;"
            "doc=<a/>@mimeType=text/xml@encoding=UTF-8@schema=http%3A%2F%2Fs%2Fa.xsd;"
            "bbox=46,102,47,103,urn:ogc:def:crs:EPSG:6.6:4326,2"
        ),
        language="fr",
    )
    assert request.identifier == "proc" and request.language == "fr"
    assert request.inputs == [
        DataInput("width", "kvp", "35", data_type="xs:integer", uom="meter"),
        DataInput("band", "kvp", "1"),
        DataInput("band", "kvp", "2"),
        DataInput("band", "kvp", "3"),
        DataInput(
            "doc", "kvp", "<a/>", mime_type="text/xml", encoding="UTF-8", schema="http://s/a.xsd"
        ),
        DataInput("bbox", "kvp", "46,102,47,103,urn:ogc:def:crs:EPSG:6.6:4326,2"),
    ]
    assert request.response == ResponseForm()


def test_kvp_execute_double_encoded_separators_survive() -> None:
    value = "a;b=c@d%e"
    request = execute_kvp(
        identifier="proc",
        DataInputs=f"text={quote(value, safe='')}@mimeType={quote('text/plain', safe='')}",
    )
    assert request.inputs == [DataInput("text", "kvp", value, mime_type="text/plain")]


def test_kvp_execute_reference_with_href() -> None:
    href = "http://foo.bar/wfs?request=GetFeature&typeName=a:b"
    request = execute_kvp(
        identifier="proc",
        DataInputs=f"poly=@href={quote(href, safe='')}@method=GET@mimeType=text/xml",
    )
    assert request.inputs == [
        DataInput("poly", "reference", href=href, mime_type="text/xml"),
    ]


def test_kvp_execute_raw_data_output() -> None:
    request = execute_kvp(
        identifier="proc",
        RawDataOutput="out@mimeType=image/png@encoding=base64@schema=s@uom=m",
    )
    assert request.response == ResponseForm(
        raw=True,
        outputs=[
            OutputRequest("out", mime_type="image/png", encoding="base64", schema="s", uom="m")
        ],
    )


def test_kvp_execute_response_document_and_flags() -> None:
    request = execute_kvp(
        identifier="proc",
        ResponseDocument="a@asReference=TRUE@mimeType=text/xml;b=@uom=m",
        storeExecuteResponse="True",
        status="true",
        lineage="FALSE",
    )
    assert request.response == ResponseForm(
        store=True,
        status=True,
        outputs=[
            OutputRequest("a", as_reference=True, mime_type="text/xml"),
            OutputRequest("b", uom="m"),
        ],
    )


def test_kvp_status_without_store_parses() -> None:
    assert execute_kvp(identifier="proc", status="true").response == ResponseForm(status=True)


@pytest.mark.parametrize(
    ("params", "locator"),
    [
        ({"storeExecuteResponse": "yes"}, "storeExecuteResponse"),
        ({"status": "1"}, "status"),
        ({"lineage": "maybe"}, "lineage"),
        ({"RawDataOutput": "a;b"}, "RawDataOutput"),
        ({"RawDataOutput": "a", "ResponseDocument": "b"}, "RawDataOutput"),
        ({"RawDataOutput": "a@asReference=true"}, "RawDataOutput"),
        ({"ResponseDocument": "a@asReference=yes"}, "ResponseDocument"),
        ({"ResponseDocument": "a=1"}, "ResponseDocument"),
        ({"DataInputs": "novalue"}, "DataInputs"),
        ({"DataInputs": "=1"}, "DataInputs"),
        ({"DataInputs": "a=1@uom"}, "DataInputs"),
        ({"DataInputs": "a=1@colour=red"}, "a"),
        ({"DataInputs": "a=1@href=http://x"}, "a"),
        ({"DataInputs": "a=@href=http://x@method=POST"}, "a"),
    ],
)
def test_kvp_execute_errors(params: dict[str, str], locator: str) -> None:
    with pytest.raises(InvalidParameterValue) as info:
        execute_kvp(identifier="proc", **params)
    assert_ows(info, InvalidParameterValue, "InvalidParameterValue", locator)


# --------------------------------------------------------------------------- XML common


def test_xml_get_capabilities() -> None:
    request = parse_xml_request(
        f'<wps:GetCapabilities {WPS_NS} service="WPS" language="en"><ows:AcceptVersions>'
        "<ows:Version>2.0.0</ows:Version><ows:Version>1.0.0</ows:Version>"
        "</ows:AcceptVersions></wps:GetCapabilities>".encode()
    )
    assert request == GetCapabilities(accept_versions=["2.0.0", "1.0.0"], language="en")


def test_xml_get_capabilities_wps2() -> None:
    request = parse_xml_request(
        f'<wps:GetCapabilities {WPS2_NS} service="WPS"><ows:AcceptVersions>'
        "<ows:Version>2.0.0</ows:Version></ows:AcceptVersions></wps:GetCapabilities>".encode()
    )
    assert request == GetCapabilities(accept_versions=["2.0.0"])


def test_xml_describe_process() -> None:
    request = parse_xml_request(
        f'<wps:DescribeProcess {WPS_NS} service="WPS" version="1.0.0" language="de">'
        "<ows:Identifier>a</ows:Identifier><ows:Identifier> b </ows:Identifier>"
        "</wps:DescribeProcess>".encode()
    )
    assert request == DescribeProcess(identifiers=["a", "b"], language="de")


@pytest.mark.parametrize(
    ("attributes", "cls", "locator"),
    [
        ('version="1.0.0"', MissingParameterValue, "service"),
        ('service="WMS" version="1.0.0"', InvalidParameterValue, "service"),
        ('service="WPS"', MissingParameterValue, "version"),
        ('service="WPS" version="2.0.0"', VersionNegotiationFailed, "version"),
    ],
)
@pytest.mark.parametrize("operation", ["DescribeProcess", "Execute"])
def test_xml_service_and_version_are_required(
    operation: str, attributes: str, cls: type[OWSException], locator: str
) -> None:
    body = (
        f"<wps:{operation} {WPS_NS} {attributes}>"
        f"<ows:Identifier>a</ows:Identifier></wps:{operation}>"
    )
    with pytest.raises(cls) as info:
        parse_xml_request(body.encode())
    assert_ows(info, cls, cls.code, locator)


def test_xml_describe_process_needs_an_identifier() -> None:
    body = f'<wps:DescribeProcess {WPS_NS} service="WPS" version="1.0.0"/>'
    with pytest.raises(MissingParameterValue) as info:
        parse_xml_request(body.encode())
    assert_ows(info, MissingParameterValue, "MissingParameterValue", "Identifier")


@pytest.mark.parametrize("operation", ["GetStatus", "GetResult", "Dismiss"])
def test_xml_wps2_job_requests(operation: str) -> None:
    body = (
        f'<wps:{operation} {WPS2_NS} service="WPS" version="2.0.0">'
        f"<wps:JobID> j-1 </wps:JobID></wps:{operation}>"
    )
    assert parse_xml_request(body.encode()) == JobRequest(
        operation=operation, version="2.0.0", job_id="j-1"
    )


def test_xml_job_request_needs_job_id() -> None:
    body = f'<wps:GetStatus {WPS2_NS} service="WPS" version="2.0.0"/>'
    with pytest.raises(MissingParameterValue) as info:
        parse_xml_request(body.encode())
    assert_ows(info, MissingParameterValue, "MissingParameterValue", "JobID")


def test_xml_unknown_root() -> None:
    with pytest.raises(OperationNotSupported) as info:
        parse_xml_request(f'<wps:GetMap {WPS_NS} service="WPS"/>'.encode())
    assert_ows(info, OperationNotSupported, "OperationNotSupported", "GetMap", 501)
    with pytest.raises(OperationNotSupported) as info:
        parse_xml_request(b'<Execute service="WPS" version="1.0.0"/>')
    assert info.value.locator == "Execute"


def test_xml_wps2_execute_is_a_version_problem() -> None:
    with pytest.raises(VersionNegotiationFailed) as info:
        parse_xml_request(f'<wps:Execute {WPS2_NS} service="WPS" version="2.0.0"/>'.encode())
    assert_ows(info, VersionNegotiationFailed, "VersionNegotiationFailed", "version")


@pytest.mark.parametrize("body", [b"", b"<wps:Execute", b"not xml at all", b"<a></b>"])
def test_xml_malformed(body: bytes) -> None:
    with pytest.raises(NoApplicableCode) as info:
        parse_xml_request(body)
    assert_ows(info, NoApplicableCode, "NoApplicableCode", None)


def test_xml_too_large() -> None:
    body = EXECUTE_EXAMPLE.read_bytes()
    with pytest.raises(FileSizeExceeded):
        parse_xml_request(body, max_bytes=len(body) - 1)
    assert isinstance(parse_xml_request(body, max_bytes=len(body)), Execute)


XXE = f"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<wps:Execute {WPS_NS} service="WPS" version="1.0.0">
<ows:Identifier>&xxe;</ows:Identifier></wps:Execute>"""

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">\n'
        for i in range(1, 10)
    )
    + f']>\n<wps:Execute {WPS_NS} service="WPS" version="1.0.0">'
    "<ows:Identifier>&lol9;</ows:Identifier></wps:Execute>"
)


@pytest.mark.parametrize("body", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
def test_xml_with_doctype_is_refused_quickly(body: str) -> None:
    start = time.monotonic()
    with pytest.raises(NoApplicableCode) as info:
        parse_xml_request(body.encode())
    assert time.monotonic() - start < 1
    assert_ows(info, NoApplicableCode, "NoApplicableCode", None)
    assert "root:" not in info.value.text and "lollol" not in info.value.text


# --------------------------------------------------------------------------- XML Execute


def test_xml_literal_data() -> None:
    request = execute_xml(
        xml_input(
            "n",
            '<wps:Data><wps:LiteralData dataType="integer" uom="m">7</wps:LiteralData></wps:Data>',
        )
    )
    assert request.inputs == [DataInput("n", "literal", "7", data_type="integer", uom="m")]


def test_xml_complex_data_xml_content_keeps_namespaces() -> None:
    request = execute_xml(
        xml_input(
            "doc",
            '<wps:Data><wps:ComplexData mimeType="application/gml+xml" schema="s">'
            '<gml:Point xmlns:gml="http://www.opengis.net/gml"><gml:pos>1 2</gml:pos></gml:Point>'
            "<ignored/></wps:ComplexData></wps:Data>",
        )
    )
    (data_input,) = request.inputs
    assert data_input.kind == "complex" and data_input.is_xml
    assert (data_input.mime_type, data_input.schema) == ("application/gml+xml", "s")
    assert isinstance(data_input.value, bytes)
    point = etree.fromstring(data_input.value)
    assert point.tag == "{http://www.opengis.net/gml}Point"
    assert point.findtext("{http://www.opengis.net/gml}pos") == "1 2"


def test_xml_complex_data_text_cdata_and_base64() -> None:
    request = execute_xml(
        "<wps:DataInputs>"
        "<wps:Input><ows:Identifier>csv</ows:Identifier><wps:Data>"
        '<wps:ComplexData mimeType="text/csv"><![CDATA[a,b\n1,<2>]]></wps:ComplexData>'
        "</wps:Data></wps:Input>"
        "<wps:Input><ows:Identifier>bin</ows:Identifier><wps:Data>"
        '<wps:ComplexData mimeType="image/png" encoding="base64">aGVsbG8=</wps:ComplexData>'
        "</wps:Data></wps:Input>"
        "</wps:DataInputs>"
    )
    assert request.inputs == [
        DataInput("csv", "complex", "a,b\n1,<2>", mime_type="text/csv"),
        DataInput("bin", "complex", "aGVsbG8=", mime_type="image/png", encoding="base64"),
    ]


@pytest.mark.parametrize(
    "element",
    [
        "wps:BoundingBoxData",
        "ows:BoundingBox",
    ],
)
def test_xml_bounding_box(element: str) -> None:
    request = execute_xml(
        xml_input(
            "area",
            f'<wps:Data><{element} crs="EPSG:4326" dimensions="2">'
            "<ows:LowerCorner>10 -5.5</ows:LowerCorner><ows:UpperCorner>20 5</ows:UpperCorner>"
            f"</{element}></wps:Data>",
        )
    )
    assert request.inputs == [
        DataInput("area", "bbox", bbox=BoundingBoxValue([10.0, -5.5], [20.0, 5.0], "EPSG:4326", 2))
    ]


@pytest.mark.parametrize(
    ("bbox", "cls"),
    [
        ("<ows:LowerCorner>1 2</ows:LowerCorner>", MissingParameterValue),
        (
            "<ows:LowerCorner>1 x</ows:LowerCorner><ows:UpperCorner>3 4</ows:UpperCorner>",
            InvalidParameterValue,
        ),
        (
            "<ows:LowerCorner>1 2</ows:LowerCorner><ows:UpperCorner>3</ows:UpperCorner>",
            InvalidParameterValue,
        ),
    ],
)
def test_xml_bad_bounding_box(bbox: str, cls: type[OWSException]) -> None:
    with pytest.raises(cls) as info:
        execute_xml(
            xml_input(
                "area", f"<wps:Data><wps:BoundingBoxData>{bbox}</wps:BoundingBoxData></wps:Data>"
            )
        )
    assert info.value.locator == "area"


def test_xml_reference_with_headers_and_body() -> None:
    request = execute_xml(
        xml_input(
            "features",
            '<wps:Reference xlink:href="http://wfs/x" method="POST" mimeType="text/xml" '
            'encoding="UTF-8" schema="http://s">'
            '<wps:Header key="Accept" value="text/xml"/><wps:Header key="X-A" value="1"/>'
            '<wps:Body><wfs:GetFeature xmlns:wfs="http://www.opengis.net/wfs"/></wps:Body>'
            "</wps:Reference>",
        )
    )
    (data_input,) = request.inputs
    assert data_input.kind == "reference"
    assert (data_input.href, data_input.method) == ("http://wfs/x", "POST")
    assert data_input.headers == {"Accept": "text/xml", "X-A": "1"}
    assert (data_input.mime_type, data_input.encoding, data_input.schema) == (
        "text/xml",
        "UTF-8",
        "http://s",
    )
    assert isinstance(data_input.body, bytes)
    assert etree.fromstring(data_input.body).tag == "{http://www.opengis.net/wfs}GetFeature"


def test_xml_reference_with_text_body_and_body_reference() -> None:
    request = execute_xml(
        "<wps:DataInputs>"
        '<wps:Input><ows:Identifier>a</ows:Identifier><wps:Reference href="http://a" method="POST">'
        "<wps:Body>q=1</wps:Body></wps:Reference></wps:Input>"
        "<wps:Input><ows:Identifier>b</ows:Identifier>"
        '<wps:Reference xlink:href="http://b" method="post">'
        '<wps:BodyReference xlink:href="http://body"/></wps:Reference></wps:Input>'
        "</wps:DataInputs>"
    )
    a, b = request.inputs
    assert (a.href, a.body, a.method) == ("http://a", b"q=1", "POST")
    assert (b.href, b.body_reference, b.method) == ("http://b", "http://body", "POST")


def test_xml_raw_data_output() -> None:
    request = execute_xml(
        '<wps:ResponseForm><wps:RawDataOutput mimeType="image/png" encoding="base64" '
        'schema="s" uom="m"><ows:Identifier>out</ows:Identifier></wps:RawDataOutput>'
        "</wps:ResponseForm>"
    )
    assert request.response == ResponseForm(
        raw=True,
        outputs=[
            OutputRequest("out", mime_type="image/png", encoding="base64", schema="s", uom="m")
        ],
    )


def test_xml_raw_data_output_agrees_with_kvp() -> None:
    from_xml = execute_xml(
        xml_input("n", "<wps:Data><wps:LiteralData>7</wps:LiteralData></wps:Data>")
        + '<wps:ResponseForm><wps:RawDataOutput mimeType="text/plain">'
        "<ows:Identifier>out</ows:Identifier></wps:RawDataOutput></wps:ResponseForm>"
    )
    from_kvp = execute_kvp(
        identifier="proc", DataInputs="n=7", RawDataOutput="out@mimeType=text/plain"
    )
    assert comparable(from_xml) == comparable(from_kvp)


def test_xml_response_document_booleans() -> None:
    request = execute_xml(
        '<wps:ResponseForm><wps:ResponseDocument storeExecuteResponse="1" status=" true " '
        'lineage="0"><wps:Output asReference="1" mimeType="text/xml" uom="m">'
        "<ows:Identifier>a</ows:Identifier></wps:Output>"
        "<wps:Output><ows:Identifier>b</ows:Identifier></wps:Output>"
        "</wps:ResponseDocument></wps:ResponseForm>"
    )
    assert request.response == ResponseForm(
        store=True,
        status=True,
        outputs=[
            OutputRequest("a", as_reference=True, mime_type="text/xml", uom="m"),
            OutputRequest("b"),
        ],
    )


@pytest.mark.parametrize(
    ("inner", "cls", "locator"),
    [
        (
            '<wps:ResponseForm><wps:ResponseDocument status="yes"/></wps:ResponseForm>',
            InvalidParameterValue,
            "status",
        ),
        (
            "<wps:ResponseForm>"
            '<wps:ResponseDocument storeExecuteResponse="True"/></wps:ResponseForm>',
            InvalidParameterValue,
            "storeExecuteResponse",
        ),
        (
            '<wps:ResponseForm><wps:ResponseDocument><wps:Output asReference="no">'
            "<ows:Identifier>a</ows:Identifier></wps:Output></wps:ResponseDocument></wps:ResponseForm>",
            InvalidParameterValue,
            "asReference",
        ),
        (
            "<wps:ResponseForm><wps:ResponseDocument><wps:Output/></wps:ResponseDocument></wps:ResponseForm>",
            MissingParameterValue,
            "Identifier",
        ),
        ("<wps:ResponseForm/>", MissingParameterValue, "ResponseForm"),
        (
            "<wps:DataInputs><wps:Input><wps:Data><wps:LiteralData>1</wps:LiteralData>"
            "</wps:Data></wps:Input></wps:DataInputs>",
            MissingParameterValue,
            "Identifier",
        ),
        (xml_input("a", ""), MissingParameterValue, "a"),
        (xml_input("a", "<wps:Data/>"), MissingParameterValue, "a"),
        (xml_input("a", "<wps:Reference/>"), MissingParameterValue, "a"),
        (
            xml_input("a", '<wps:Reference href="http://a" method="PUT"/>'),
            InvalidParameterValue,
            "a",
        ),
        (
            xml_input("a", '<wps:Reference href="http://a"><wps:Header key="k"/></wps:Reference>'),
            MissingParameterValue,
            "a",
        ),
        (
            xml_input("a", '<wps:Reference href="http://a"><wps:BodyReference/></wps:Reference>'),
            MissingParameterValue,
            "a",
        ),
    ],
)
def test_xml_execute_errors(inner: str, cls: type[OWSException], locator: str) -> None:
    with pytest.raises(cls) as info:
        execute_xml(inner)
    assert_ows(info, cls, cls.code, locator)


def test_xml_execute_needs_an_identifier() -> None:
    body = f'<wps:Execute {WPS_NS} service="WPS" version="1.0.0"/>'
    with pytest.raises(MissingParameterValue) as info:
        parse_xml_request(body.encode())
    assert_ows(info, MissingParameterValue, "MissingParameterValue", "Identifier")


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("versions", "expected"),
    [([], "1.0.0"), (["2.0.0", "1.0.0"], "1.0.0"), (["1.0.0"], "1.0.0")],
)
def test_negotiate_version(versions: list[str], expected: str) -> None:
    assert negotiate_version(versions) == expected


def test_negotiate_version_fails() -> None:
    with pytest.raises(VersionNegotiationFailed) as info:
        negotiate_version(["2.0.0", "0.4.0"])
    assert_ows(info, VersionNegotiationFailed, "VersionNegotiationFailed", "AcceptVersions")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,2,3,4", BoundingBoxValue([1, 2], [3, 4])),
        ("1, 2, 3, 4,EPSG:4326", BoundingBoxValue([1, 2], [3, 4], "EPSG:4326")),
        (
            "1,2,0,3,4,9,urn:ogc:def:crs:EPSG::4979,3",
            BoundingBoxValue([1, 2, 0], [3, 4, 9], "urn:ogc:def:crs:EPSG::4979", 3),
        ),
        ("170,-10,-170,10", BoundingBoxValue([170, -10], [-170, 10])),
    ],
)
def test_parse_bbox(text: str, expected: BoundingBoxValue) -> None:
    assert parse_bbox(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "1,2,3", "1,2,a,4", "1,2,3,4,", "1,2,3,4,EPSG:4326,3", "1,2,3,4,c,2,x", "nan,1,2,3"],
)
def test_parse_bbox_errors(text: str) -> None:
    with pytest.raises(InvalidParameterValue) as info:
        parse_bbox(text, locator="area")
    assert info.value.locator == "area"
