"""Response documents: valid against the OGC schemas, readable by OWSLib, and read back."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from lxml import etree
from owslib.wps import WebProcessingService, WPSExecution
from schema import assert_valid

from jupyter_wps.config import ServiceMetadata
from jupyter_wps.process import (
    AllowedRange,
    BoundingBox,
    BoundingBoxInput,
    BoundingBoxOutput,
    ComplexData,
    ComplexInput,
    ComplexOutput,
    Format,
    LiteralInput,
    LiteralOutput,
    Process,
)
from jupyter_wps.wps import response
from jupyter_wps.wps.exceptions import (
    InvalidParameterValue,
    MissingParameterValue,
    NoApplicableCode,
    NoSuchJob,
)
from jupyter_wps.wps.request import BoundingBoxValue, DataInput, OutputRequest, ResponseForm
from jupyter_wps.wps.response import OutputValue, Status
from jupyter_wps.wps.xml import OWS, OWS2, WPS, WPS2, XLINK, XML_LANG

UTC = dt.timezone.utc
NOW = dt.datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)
URL = "http://wps.example/wps"
GML = Format(
    "text/xml", encoding="UTF-8", schema="http://schemas.opengis.net/gml/3.1.1/feature.xsd"
)
JSON = Format("application/json")
BINARY = Format("application/octet-stream", encoding="base64")
TEXT = Format("text/plain")

INPUTS = [
    LiteralInput("text", title="Text", abstract="Any text", default="hello", min_occurs=0),
    LiteralInput("mode", allowed_values=("fast", "slow")),
    LiteralInput(
        "count",
        data_type="integer",
        allowed_values=(1, 2, AllowedRange(10, 20, 2)),
        default=1,
        max_occurs=5,
    ),
    LiteralInput(
        "distance",
        data_type="double",
        allowed_values=(AllowedRange(0.0, 100.0, closure="closed-open"),),
        uoms=("meters", "feet"),
        default=100.0,
    ),
    LiteralInput("ratio", data_type="float", allowed_values=(AllowedRange(0.0, closure="open"),)),
    LiteralInput("flag", data_type="boolean", default=True),
    LiteralInput("day", data_type="date", default=dt.date(2024, 5, 1)),
    LiteralInput("moment", data_type="dateTime", default=dt.datetime(2024, 5, 1, 12, tzinfo=UTC)),
    LiteralInput("clock", data_type="time", default=dt.time(12, 30)),
    LiteralInput(
        "link", data_type="anyURI", allowed_values=("http://a.example/", "http://b.example/")
    ),
    ComplexInput(
        "features",
        title="Features",
        formats=(GML, JSON, BINARY),
        max_megabytes=2.5,
        metadata=("http://docs.example/features", "GML"),
    ),
    ComplexInput("notes", formats=(TEXT,), min_occurs=0, max_occurs=3),
    BoundingBoxInput("area", title="Area", crss=("EPSG:4326", "EPSG:3857")),
]
OUTPUTS = [
    LiteralOutput("total", title="Total", data_type="integer", uoms=("m", "km")),
    LiteralOutput("label"),
    ComplexOutput("result", title="Result", abstract="The features", formats=(GML, JSON)),
    ComplexOutput("report", formats=(TEXT,)),
    ComplexOutput("blob", formats=(BINARY,)),
    BoundingBoxOutput("extent", crss=("EPSG:3857", "EPSG:4326")),
]


def everything() -> Process:
    return Process(
        "everything",
        "Every kind of input and output",
        inputs=INPUTS,
        outputs=OUTPUTS,
        abstract="A process to describe, not to run.",
        version="2.1.0",
        metadata=("http://docs.example/everything", "demo"),
        status_supported=False,
    )


EVERYTHING = everything()
NOOP = Process("noop", outputs=[LiteralOutput("ok", data_type="boolean")])
METADATA = ServiceMetadata(
    provider_url="http://provider.example/",
    contact_name="Ada Lovelace",
    contact_position="Operator",
    contact_email="ada@example.org",
    contact_phone="+1 555 0100",
    contact_fax="+1 555 0101",
    contact_address="1 Main Street",
    contact_city="Springfield",
    contact_stateorprovince="XY",
    contact_postalcode="12345",
    contact_country="Nowhere",
    contact_url="http://provider.example/contact",
    contact_hours="9-17",
    contact_instructions="Email first",
    contact_role="pointOfContact",
)


def owslib_execution(document: bytes) -> WPSExecution:
    execution = WPSExecution()
    execution.parseResponse(etree.fromstring(document))
    return execution


# --------------------------------------------------------------------------- capabilities


def test_capabilities_validate_and_parse_with_owslib():
    document = response.capabilities([EVERYTHING, NOOP], METADATA, URL, update_sequence="7")
    assert_valid(document)
    wps = WebProcessingService(URL, skip_caps=True)
    wps.getcapabilities(xml=document)
    assert wps.updateSequence == "7"
    assert wps.identification.title == METADATA.title
    assert wps.identification.type == "WPS"
    assert wps.identification.versions == ["1.0.0", "2.0.0"]
    assert wps.identification.keywords == list(METADATA.keywords)
    assert wps.provider.name == METADATA.provider_name
    assert wps.provider.url == METADATA.provider_url
    contact = wps.provider.contact
    assert (contact.name, contact.position, contact.email) == (
        "Ada Lovelace",
        "Operator",
        "ada@example.org",
    )
    assert (contact.phone, contact.fax, contact.city) == (
        "+1 555 0100",
        "+1 555 0101",
        "Springfield",
    )
    assert (contact.region, contact.postcode, contact.country) == ("XY", "12345", "Nowhere")
    assert contact.role == "pointOfContact"
    assert [op.name for op in wps.operations] == ["GetCapabilities", "DescribeProcess", "Execute"]
    for operation in wps.operations:
        urls = {method["type"]: method["url"] for method in operation.methods}
        assert urls == {"Get": URL + "?", "Post": URL}
    assert [p.identifier for p in wps.processes] == ["everything", "noop"]
    first = wps.processes[0]
    assert (first.title, first.abstract, first.processVersion) == (
        EVERYTHING.title,
        EVERYTHING.abstract,
        "2.1.0",
    )
    assert [m.title for m in first.metadata] == ["http://docs.example/everything", "demo"]
    assert first.metadata[0].url == "http://docs.example/everything"
    assert wps.processes[1].title == "noop"
    assert (wps.languages.default, wps.languages.supported) == ("en-US", ["en-US"])


def test_capabilities_with_bare_metadata():
    """ServiceContact is required even when there is nothing to say in it."""
    bare = ServiceMetadata(abstract="", keywords=(), fees="", access_constraints="")
    document = response.capabilities([NOOP], bare, URL + "?map=x", language="fr-CA")
    assert_valid(document)
    root = etree.fromstring(document)
    assert root.get(XML_LANG) == "fr-CA"
    assert root.find(f".//{OWS}ServiceContact") is not None
    assert root.find(f".//{OWS}Get").get(XLINK + "href") == URL + "?map=x&"


def test_capabilities_are_stable_across_calls():
    first = response.capabilities([EVERYTHING], METADATA, URL)
    assert response.capabilities([EVERYTHING], METADATA, URL) == first


# --------------------------------------------------------------------------- describe


def test_descriptions_validate_and_parse_with_owslib():
    document = response.process_descriptions([EVERYTHING, NOOP])
    assert_valid(document)
    wps = WebProcessingService(URL, skip_caps=True)
    processes = wps.describeprocess("all", xml=document)
    assert [p.identifier for p in processes] == ["everything", "noop"]
    described = processes[0]
    assert (described.storeSupported, described.statusSupported) == (True, False)
    assert described.processVersion == "2.1.0"
    inputs = {i.identifier: i for i in described.dataInputs}
    assert list(inputs) == [spec.identifier for spec in INPUTS]
    for spec in INPUTS:
        parsed = inputs[spec.identifier]
        assert parsed.title == (spec.title or spec.identifier)
        assert (parsed.minOccurs, parsed.maxOccurs) == (spec.min_occurs, spec.max_occurs)
        if isinstance(spec, LiteralInput):
            assert parsed.dataType == spec.data_type
    assert inputs["text"].abstract == "Any text"
    assert inputs["text"].anyValue and inputs["text"].defaultValue == "hello"
    assert inputs["mode"].allowedValues == ["fast", "slow"]
    assert inputs["count"].allowedValues == [1, 2] and inputs["count"].defaultValue == 1
    assert inputs["flag"].defaultValue is True
    assert inputs["day"].defaultValue == "2024-05-01"
    assert inputs["moment"].defaultValue == "2024-05-01T12:00:00Z"
    assert inputs["clock"].defaultValue == "12:30:00"
    assert inputs["distance"].defaultValue == "100.0"
    assert inputs["link"].allowedValues == ["http://a.example/", "http://b.example/"]
    features = inputs["features"]
    assert features.dataType == "ComplexData"
    assert features.defaultValue.mimeType == "text/xml"
    assert features.defaultValue.encoding == "UTF-8"
    assert features.defaultValue.schema == GML.schema
    assert features.defaultValue.maximumMegabytes == "3"
    assert [f.mimeType for f in features.supportedValues] == [
        "text/xml",
        "application/json",
        "application/octet-stream",
    ]
    assert features.supportedValues[2].encoding == "base64"
    assert [m.title for m in features.metadata] == ["http://docs.example/features", "GML"]
    area = inputs["area"]
    assert (area.dataType, area.defaultValue) == ("BoundingBoxData", "EPSG:4326")
    assert area.supportedValues == ["EPSG:4326", "EPSG:3857"]
    outputs = {o.identifier: o for o in described.processOutputs}
    assert list(outputs) == [spec.identifier for spec in OUTPUTS]
    assert outputs["total"].dataType == "integer"
    assert outputs["label"].dataType == "string"
    assert outputs["result"].abstract == "The features"
    assert [f.mimeType for f in outputs["result"].supportedValues] == [
        "text/xml",
        "application/json",
    ]
    assert outputs["blob"].defaultValue.encoding == "base64"
    assert outputs["extent"].dataType == "BoundingBoxData"
    assert outputs["extent"].defaultValue == "EPSG:3857"
    assert processes[1].dataInputs == []


def test_descriptions_carry_ranges_uoms_and_data_type_references():
    """What OWSLib does not read: ranges, UOMs and the ows:reference of data types."""
    root = etree.fromstring(response.process_descriptions([EVERYTHING]))
    ows = OWS

    def literal(identifier):
        for item in root.iterfind("ProcessDescription/DataInputs/Input"):
            if item.findtext(ows + "Identifier") == identifier:
                return item.find("LiteralData")
        raise AssertionError(identifier)

    count = literal("count")
    data_type = count.find(ows + "DataType")
    assert data_type.get(ows + "reference") == "http://www.w3.org/TR/xmlschema-2/#integer"
    (interval,) = count.iterfind(f"{ows}AllowedValues/{ows}Range")
    assert [child.text for child in interval] == ["10", "20", "2"]
    assert interval.get(ows + "rangeClosure") == "closed"
    distance = literal("distance")
    assert distance.findtext(f"UOMs/Default/{ows}UOM") == "meters"
    assert [u.text for u in distance.iterfind(f"UOMs/Supported/{ows}UOM")] == ["meters", "feet"]
    assert (
        distance.find(f"{ows}AllowedValues/{ows}Range").get(ows + "rangeClosure") == "closed-open"
    )
    (ratio,) = literal("ratio").iterfind(f"{ows}AllowedValues/{ows}Range")
    assert [child.tag for child in ratio] == [ows + "MinimumValue"]
    assert ratio.get(ows + "rangeClosure") == "open"


def test_descriptions_are_built_once_per_process(monkeypatch):
    process = everything()
    first = response.process_descriptions([process])
    built = []
    monkeypatch.setattr(response, "_description", lambda p: built.append(p))
    assert response.process_descriptions([process]) == first
    assert response.process_descriptions([process], language="de-DE") != first
    assert built == []


def test_a_format_list_cannot_be_empty():
    bad = Process("bad", inputs=[ComplexInput("data", formats=())], outputs=[LiteralOutput("x")])
    with pytest.raises(ValueError, match="data"):
        response.process_descriptions([bad])


# --------------------------------------------------------------------------- exceptions


@pytest.mark.parametrize(
    "exceptions",
    [
        NoApplicableCode("Something broke"),
        MissingParameterValue("Input missing", locator="count"),
        [InvalidParameterValue("Bad value", locator="mode"), NoApplicableCode()],
    ],
)
def test_exception_reports(exceptions):
    document = response.exception_report(exceptions)
    assert_valid(document)
    execution = owslib_execution(document)
    expected = exceptions if isinstance(exceptions, list) else [exceptions]
    assert execution.status == "Exception"
    assert [(e.code, e.locator, e.text) for e in execution.errors] == [
        (e.code, e.locator, e.text) for e in expected
    ]


def test_exception_report_for_wps2_uses_ows2():
    document = response.exception_report(NoSuchJob("no job 42", locator="42"), version="2.0.0")
    assert_valid(document)
    root = etree.fromstring(document)
    assert root.tag == OWS2 + "ExceptionReport"
    assert root.get("version") == "2.0.0"
    assert root[0].get("exceptionCode") == "NoSuchJob"
    assert root[0].get("locator") == "42"


# --------------------------------------------------------------------------- status


#: what OWSLib says for each state (a failure: the exception report it holds)
OWSLIB_STATES = {
    "accepted": "ProcessAccepted",
    "started": "ProcessStarted",
    "paused": "ProcessPaused",
    "succeeded": "ProcessSucceeded",
    "failed": "Exception",
}
STATUSES = [
    Status("accepted", NOW, "Queued"),
    Status("started", NOW, "Sleeping", percent=40),
    Status("started", NOW, percent=0),
    Status("paused", NOW, "Waiting for a node", percent=60),
    Status("succeeded", NOW, "Done"),
    Status("failed", NOW, exception=InvalidParameterValue("count is odd", locator="count")),
    Status("failed", NOW, "It broke"),
]


@pytest.mark.parametrize("status", STATUSES, ids=lambda s: f"{s.state}-{s.message or s.percent}")
def test_status_documents(status):
    document = response.execute_response(
        EVERYTHING, status, URL + "?", status_location="http://wps.example/status/1.xml"
    )
    assert_valid(document)
    execution = owslib_execution(document)
    assert execution.status == OWSLIB_STATES[status.state]
    assert execution.process.identifier == "everything"
    assert execution.statusLocation == "http://wps.example/status/1.xml"
    assert execution.creationTime == "2024-05-01T12:30:15Z"
    summary = response.read_status(document)
    assert (summary.state, summary.creation_time) == (status.state, NOW)
    if status.state == "failed":
        failure = status.exception or NoApplicableCode(status.message)
        assert [(e.code, e.locator, e.text) for e in execution.errors] == [
            (failure.code, failure.locator, failure.text)
        ]
        assert (summary.exception_code, summary.exception_locator) == (
            failure.code,
            failure.locator,
        )
        assert summary.message == failure.text
        return
    assert execution.statusMessage == (status.message or None)
    assert summary.message == status.message
    if status.state == "succeeded":
        assert execution.percentCompleted == summary.percent == 100
    elif status.percent is not None:
        assert execution.percentCompleted == summary.percent == status.percent
    else:
        assert summary.percent is None


@pytest.mark.parametrize(("given", "written"), [(150, 99), (100, 99), (-5, 0)])
def test_percent_completed_is_clamped(given, written):
    document = response.execute_response(NOOP, Status("started", NOW, percent=given), URL)
    assert_valid(document)
    assert owslib_execution(document).percentCompleted == written
    assert response.read_status(document).percent == written


def test_naive_creation_time_is_utc():
    naive = dt.datetime(2024, 5, 1, 12, 30, 15, 999)
    document = response.execute_response(NOOP, Status("accepted", naive), URL)
    assert response.read_status(document).creation_time == NOW


def test_unknown_state_is_refused():
    with pytest.raises(ValueError, match="running"):
        Status("running", NOW)


def test_read_status_refuses_other_documents():
    with pytest.raises(NoApplicableCode):
        response.read_status(response.process_descriptions([NOOP]))


# --------------------------------------------------------------------------- outputs

XML_CONTENT = b'<?xml version="1.0" encoding="UTF-8"?><g:F xmlns:g="urn:g"><g:x>1</g:x></g:F>'
BINARY_CONTENT = bytes(range(256))
SPECS = {spec.identifier: spec for spec in OUTPUTS}


def output_values() -> list[OutputValue]:
    return [
        OutputValue("total", SPECS["total"], 42, uom="m"),
        OutputValue("label", SPECS["label"], "a <label> & more"),
        OutputValue("result", SPECS["result"], ComplexData(XML_CONTENT, mime_type="text/xml")),
        OutputValue("report", SPECS["report"], ComplexData("plain text, <not> XML")),
        OutputValue("blob", SPECS["blob"], ComplexData(path=None, data=BINARY_CONTENT)),
        OutputValue("extent", SPECS["extent"], BoundingBox((1.5, 2.0), (3.0, 4.25))),
    ]


def test_outputs_inline():
    document = response.execute_response(
        EVERYTHING, Status("succeeded", NOW), URL, outputs=output_values()
    )
    assert_valid(document)
    outputs = {o.identifier: o for o in owslib_execution(document).processOutputs}
    assert list(outputs) == ["total", "label", "result", "report", "blob", "extent"]
    assert (outputs["total"].dataType, outputs["total"].data) == ("integer", ["42"])
    assert outputs["label"].data == ["a <label> & more"]
    assert outputs["result"].mimeType == "text/xml"
    (embedded,) = outputs["result"].data
    assert etree.fromstring(embedded).tag == "{urn:g}F"
    assert (outputs["report"].mimeType, outputs["report"].data) == (
        "text/plain",
        ["plain text, <not> XML"],
    )
    assert outputs["blob"].mimeType == "application/octet-stream"
    assert base64.b64decode(outputs["blob"].data[0]) == BINARY_CONTENT
    (box,) = outputs["extent"].data
    assert (box.minx, box.miny, box.maxx, box.maxy) == ("1.5", "2.0", "3.0", "4.25")
    assert box.crs.getcode() == "EPSG:3857"

    read = {o.identifier: o for o in response.read_outputs(document)}
    assert (read["total"].kind, read["total"].value) == ("literal", "42")
    assert read["total"].attributes == {"dataType": "integer", "uom": "m"}
    assert read["result"].kind == "complex" and read["result"].mime_type == "text/xml"
    assert read["result"].value == '<g:F xmlns:g="urn:g"><g:x>1</g:x></g:F>'
    assert read["report"].value == "plain text, <not> XML"
    assert read["blob"].attributes["encoding"] == "base64"
    assert base64.b64decode(read["blob"].value) == BINARY_CONTENT
    assert (read["extent"].kind, read["extent"].value) == ("bbox", "1.5 2.0 3.0 4.25")
    assert read["extent"].attributes == {"crs": "EPSG:3857", "dimensions": "2"}


@pytest.mark.parametrize(
    ("value", "encoding", "expected"),
    [
        (ComplexData(b"\xff\xfe not UTF-8"), "base64", b"\xff\xfe not UTF-8"),
        (ComplexData(b"bell \x07 is no XML character"), "base64", b"bell \x07 is no XML character"),
        (ComplexData(base64.b64encode(b"\x00\x01"), encoding="base64"), "base64", b"\x00\x01"),
        (ComplexData(b"<unclosed>", mime_type="text/xml"), None, "<unclosed>"),
        # a DOCTYPE is never parsed: the document goes in as escaped text
        (ComplexData(b"<!DOCTYPE x []><x/>", mime_type="text/xml"), None, "<!DOCTYPE x []><x/>"),
    ],
    ids=["not-utf8", "control-character", "given-base64", "bad-xml", "doctype"],
)
def test_complex_content_falls_back_to_text_or_base64(value, encoding, expected):
    output = OutputValue("report", SPECS["report"], value)
    document = response.execute_response(NOOP, Status("succeeded", NOW), URL, outputs=[output])
    assert_valid(document)
    (read,) = response.read_outputs(document)
    assert read.attributes.get("encoding") == encoding
    assert (base64.b64decode(read.value) if encoding else read.value) == expected


def test_outputs_by_reference():
    outputs = [
        OutputValue(
            "result",
            SPECS["result"],
            href="http://wps.example/out/r.json",
            mime_type="application/json",
        ),
        OutputValue("blob", SPECS["blob"], href="http://wps.example/out/b.bin"),
        OutputValue("total", SPECS["total"], href="http://wps.example/out/t.txt"),
    ]
    document = response.execute_response(EVERYTHING, Status("succeeded", NOW), URL, outputs=outputs)
    assert_valid(document)
    parsed = owslib_execution(document).processOutputs
    assert [(o.identifier, o.reference, o.mimeType) for o in parsed] == [
        ("result", "http://wps.example/out/r.json", "application/json"),
        ("blob", "http://wps.example/out/b.bin", "application/octet-stream"),
        ("total", "http://wps.example/out/t.txt", None),
    ]
    read = response.read_outputs(document)
    assert [(o.kind, o.href) for o in read] == [
        ("reference", "http://wps.example/out/r.json"),
        ("reference", "http://wps.example/out/b.bin"),
        ("reference", "http://wps.example/out/t.txt"),
    ]
    assert read[1].attributes == {"mimeType": "application/octet-stream", "encoding": "base64"}


# --------------------------------------------------------------------------- lineage

LINEAGE_INPUTS = [
    DataInput("text", "literal", "hello", data_type="string"),
    DataInput("distance", "literal", "12.5", uom="meters"),
    DataInput("count", "kvp", "3"),
    DataInput("features", "complex", XML_CONTENT.decode(), mime_type="text/xml", is_xml=True),
    DataInput("notes", "complex", "plain words", mime_type="text/plain"),
    DataInput("notes", "kvp", "kvp words", mime_type="text/plain"),
    DataInput(
        "features",
        "complex",
        base64.b64encode(b"\x00\x01").decode(),
        mime_type="application/octet-stream",
        encoding="base64",
    ),
    DataInput("area", "bbox", bbox=BoundingBoxValue([1, 2], [3, 4], crs="EPSG:4326", dimensions=2)),
    DataInput("area", "kvp", "1,2,3,4,EPSG:3857"),
    DataInput(
        "features",
        "reference",
        href="http://data.example/f.xml",
        mime_type="text/xml",
        method="post",
        headers={"Authorization": "Bearer s3cret", "Accept": "text/xml"},
        body=b"<query>1</query>",
    ),
    DataInput(
        "notes",
        "reference",
        href="http://data.example/n.txt",
        method="POST",
        body_reference="http://data.example/body.xml",
    ),
    DataInput("notes", "reference", href="http://data.example/plain.txt"),
]


@pytest.mark.parametrize(
    "requested",
    [
        [
            OutputRequest("result", as_reference=True, mime_type="application/json"),
            OutputRequest("total", uom="m"),
        ],
        [],
    ],
    ids=["some", "all"],
)
def test_lineage(requested):
    form = ResponseForm(lineage=True, status=True, store=True, outputs=requested)
    document = response.execute_response(
        EVERYTHING,
        Status("started", NOW, "Working", 10),
        URL,
        lineage=(LINEAGE_INPUTS, form),
        outputs=[OutputValue("total", SPECS["total"], 7)],
    )
    assert_valid(document)
    execution = owslib_execution(document)
    echoed = execution.dataInputs
    assert [i.identifier for i in echoed] == [i.identifier for i in LINEAGE_INPUTS]
    assert echoed[0].title == "Text"
    assert (echoed[0].dataType, echoed[0].data) == ("string", ["hello"])
    assert echoed[2].dataType == "integer" and echoed[2].data == ["3"]
    assert echoed[3].dataType == "ComplexData"
    assert etree.fromstring(echoed[3].data[0]).tag == "{urn:g}F"
    assert echoed[4].data == ["plain words"]
    assert echoed[5].data == ["kvp words"]
    assert echoed[6].data == [base64.b64encode(b"\x00\x01").decode()]
    assert [echoed[7].data[0].minx, echoed[8].data[0].minx] == ["2.0", "1.0"]  # EPSG:4326 is y/x
    assert echoed[8].data[0].crs.getcode() == "EPSG:3857"
    assert [i.reference for i in echoed[9:]] == [
        "http://data.example/f.xml",
        "http://data.example/n.txt",
        "http://data.example/plain.txt",
    ]
    root = etree.fromstring(document)
    wps = WPS
    first, second, third = root.iterfind(f"{wps}DataInputs/{wps}Input/{wps}Reference")
    assert first.get("method") == "POST"
    assert {h.get("key"): h.get("value") for h in first.iterfind(wps + "Header")} == {
        "Authorization": "***",
        "Accept": "text/xml",
    }
    assert first.find(f"{wps}Body/query").text == "1"
    assert second.find(wps + "BodyReference").get(XLINK + "href") == (
        "http://data.example/body.xml"
    )
    assert third.get("method") == "GET" and len(third) == 0
    definitions = root.findall(f"{wps}OutputDefinitions/{wps}Output")
    if requested:
        assert [(d.findtext(OWS + "Identifier"), d.get("asReference")) for d in definitions] == [
            ("result", "true"),
            ("total", "false"),
        ]
        assert definitions[0].get("mimeType") == "application/json"
        assert definitions[1].get("uom") == "m"
    else:
        assert len(definitions) == len(OUTPUTS)


def test_lineage_refuses_a_bad_kvp_bounding_box():
    inputs = [DataInput("area", "kvp", "1,2,3,EPSG:4326")]
    with pytest.raises(InvalidParameterValue) as raised:
        response.execute_response(
            EVERYTHING, Status("accepted", NOW), URL, lineage=(inputs, ResponseForm(lineage=True))
        )
    assert raised.value.locator == "area"


# --------------------------------------------------------------------------- WPS 2.0


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("accepted", "Accepted"),
        ("started", "Running"),
        ("paused", "Running"),
        ("succeeded", "Succeeded"),
        ("failed", "Failed"),
        ("dismissed", "Dismissed"),
    ],
)
def test_status_info(state, expected):
    later = NOW + dt.timedelta(days=7)
    document = response.status_info(
        "job-1", state, percent=120, next_poll=NOW + dt.timedelta(seconds=5), expiration=later
    )
    assert_valid(document)
    root = etree.fromstring(document)
    wps = WPS2
    assert root.tag == wps + "StatusInfo"
    assert [child.tag[len(wps) :] for child in root] == [
        "JobID",
        "Status",
        "ExpirationDate",
        "NextPoll",
        "PercentCompleted",
    ]
    assert [child.text for child in root] == [
        "job-1",
        expected,
        "2024-05-08T12:30:15Z",
        "2024-05-01T12:30:20Z",
        "100",
    ]


def test_status_info_minimal_and_unknown_state():
    document = response.status_info("job-2", "accepted")
    assert_valid(document)
    assert len(etree.fromstring(document)) == 2
    with pytest.raises(ValueError, match="exploded"):
        response.status_info("job-2", "exploded")


def test_result_document():
    outputs = [
        *output_values(),
        OutputValue("result", SPECS["result"], href="http://wps.example/out/r.xml"),
    ]
    document = response.result_document("job-1", outputs, expiration=NOW)
    assert_valid(document)
    root = etree.fromstring(document)
    wps, ows = WPS2, OWS2
    assert root.findtext(wps + "JobID") == "job-1"
    assert root.findtext(wps + "ExpirationDate") == "2024-05-01T12:30:15Z"
    found = {}
    for output in root.iterfind(wps + "Output"):
        found.setdefault(output.get("id"), []).append(output[0])
    (total,) = found["total"]
    assert total.get("mimeType") == "text/plain"
    literal = total.find(wps + "LiteralValue")
    assert (literal.text, literal.get("dataType"), literal.get("uom")) == ("42", "integer", "m")
    inline, reference = found["result"]
    assert inline.get("mimeType") == "text/xml"
    assert inline[0].tag == "{urn:g}F"
    assert reference.tag == wps + "Reference"
    assert reference.get(XLINK + "href") == "http://wps.example/out/r.xml"
    (blob,) = found["blob"]
    assert blob.get("encoding") == "base64"
    assert base64.b64decode(blob.text) == BINARY_CONTENT
    (extent,) = found["extent"]
    box = extent.find(ows + "BoundingBox")
    assert box.get("crs") == "EPSG:3857"
    assert [box.findtext(ows + "LowerCorner"), box.findtext(ows + "UpperCorner")] == [
        "1.5 2.0",
        "3.0 4.25",
    ]


def test_result_document_from_a_status_document():
    """GetResult is served from the stored status document: the outputs read back."""
    outputs = [
        *output_values(),
        OutputValue("result", SPECS["result"], href="http://wps.example/out/r.xml"),
    ]
    status = response.execute_response(EVERYTHING, Status("succeeded", NOW), URL, outputs=outputs)
    read = response.read_outputs(status)
    document = response.result_document("job-1", read, expiration=NOW)
    assert_valid(document)
    assert document == response.result_document("job-1", outputs, expiration=NOW)
