"""Checking Execute inputs and response forms against a process description."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlencode

import pytest

from jupyter_wps.process import (
    AllowedRange,
    BoundingBox,
    BoundingBoxInput,
    BoundingBoxOutput,
    ComplexData,
    ComplexInput,
    ComplexOutput,
    Format,
    InputSpec,
    LiteralInput,
    LiteralOutput,
    OutputSpec,
    Process,
)
from jupyter_wps.wps.exceptions import (
    FileSizeExceeded,
    InvalidParameterValue,
    MissingParameterValue,
    OWSException,
    StorageNotSupported,
)
from jupyter_wps.wps.execute import (
    ComplexReference,
    max_input_bytes,
    validate_inputs,
    validate_response_form,
)
from jupyter_wps.wps.request import (
    BoundingBoxValue,
    DataInput,
    Execute,
    OutputRequest,
    ResponseForm,
    parse_kvp,
)

GML = Format("application/gml+xml", schema="http://schemas.opengis.net/gml/3.1.1/base/gml.xsd")
PNG = Format("image/png", encoding="base64")


def make_process(
    *inputs: InputSpec, outputs: tuple[OutputSpec, ...] = (), **kwargs: bool
) -> Process:
    return Process("proc", inputs=inputs, outputs=outputs, **kwargs)


def kvp(identifier: str, value: str, **attributes: str) -> DataInput:
    return DataInput(identifier, "kvp", value, **attributes)


def assert_raises(
    cls: type[OWSException], locator: str, process: Process, inputs: list[DataInput]
) -> OWSException:
    with pytest.raises(cls) as info:
        validate_inputs(process, inputs)
    assert type(info.value) is cls
    assert info.value.locator == locator
    return info.value


# --------------------------------------------------------------------------- occurrences


def test_unknown_input() -> None:
    process = make_process(LiteralInput("a"))
    assert_raises(InvalidParameterValue, "b", process, [kvp("a", "x"), kvp("b", "y")])


def test_missing_required_input() -> None:
    process = make_process(LiteralInput("a"), LiteralInput("b"))
    error = assert_raises(MissingParameterValue, "b", process, [kvp("a", "x")])
    assert error.code == "MissingParameterValue" and error.status == 400


def test_defaults_and_optional_inputs() -> None:
    process = make_process(
        LiteralInput("n", data_type="integer", min_occurs=0, default=3),
        LiteralInput("required_with_default", default="d"),
        LiteralInput("optional", min_occurs=0),
        ComplexInput("doc", min_occurs=0),
    )
    assert validate_inputs(process, []) == {"n": [3], "required_with_default": ["d"]}
    assert validate_inputs(process, [kvp("n", "5")])["n"] == [5]


def test_occurrences() -> None:
    process = make_process(LiteralInput("band", data_type="integer", min_occurs=2, max_occurs=3))
    values = validate_inputs(process, [kvp("band", str(i)) for i in (4, 5, 6)])
    assert values == {"band": [4, 5, 6]}
    assert_raises(InvalidParameterValue, "band", process, [kvp("band", "1")] * 4)
    assert_raises(MissingParameterValue, "band", process, [kvp("band", "1")])


def test_values_come_in_process_order() -> None:
    process = make_process(LiteralInput("a"), LiteralInput("b"))
    assert list(validate_inputs(process, [kvp("b", "2"), kvp("a", "1")])) == ["a", "b"]


# --------------------------------------------------------------------------- literals


@pytest.mark.parametrize(
    ("data_type", "text", "expected"),
    [
        ("integer", " 42 ", 42),
        ("double", "1.5e3", 1500.0),
        ("boolean", "TRUE", True),
        ("date", "2024-02-29", dt.date(2024, 2, 29)),
        ("string", " padded ", " padded "),
    ],
)
def test_literal_types(data_type: str, text: str, expected: object) -> None:
    process = make_process(LiteralInput("x", data_type=data_type))
    for kind in ("kvp", "literal"):
        assert validate_inputs(process, [DataInput("x", kind, text)]) == {"x": [expected]}


@pytest.mark.parametrize(
    ("data_type", "text"), [("integer", "4.5"), ("double", "ten"), ("boolean", "yes")]
)
def test_literal_bad_values(data_type: str, text: str) -> None:
    process = make_process(LiteralInput("x", data_type=data_type))
    assert_raises(InvalidParameterValue, "x", process, [kvp("x", text)])


@pytest.mark.parametrize(
    ("spec", "good", "bad"),
    [
        (LiteralInput("x", allowed_values=("a", "b")), "b", "c"),
        (LiteralInput("x", data_type="integer", allowed_values=(1, 2)), "2", "3"),
        (LiteralInput("x", data_type="integer", allowed_values=("1", "2")), "02", "3"),
        (LiteralInput("x", data_type="double", allowed_values=(AllowedRange(0, 1),)), "1", "1.01"),
        (
            LiteralInput(
                "x", data_type="double", allowed_values=(AllowedRange(0, 1, closure="open"),)
            ),
            "0.5",
            "0",
        ),
        (
            LiteralInput(
                "x", data_type="integer", allowed_values=(AllowedRange(0, 10, spacing=2),)
            ),
            "4",
            "5",
        ),
        (
            LiteralInput("x", data_type="integer", allowed_values=(AllowedRange(0, 10), 20)),
            "20",
            "15",
        ),
    ],
)
def test_allowed_values(spec: LiteralInput, good: str, bad: str) -> None:
    process = make_process(spec)
    assert len(validate_inputs(process, [kvp("x", good)])["x"]) == 1
    assert_raises(InvalidParameterValue, "x", process, [kvp("x", bad)])


def test_uom() -> None:
    process = make_process(LiteralInput("d", data_type="double", uoms=("meter", "feet")))
    assert validate_inputs(process, [kvp("d", "3", uom="feet")]) == {"d": [3.0]}
    assert_raises(InvalidParameterValue, "d", process, [kvp("d", "3", uom="mile")])
    unitless = make_process(LiteralInput("d", data_type="double"))
    assert validate_inputs(unitless, [kvp("d", "3", uom="mile")]) == {"d": [3.0]}


@pytest.mark.parametrize(
    "data_input",
    [
        DataInput("x", "complex", "<a/>", is_xml=True),
        DataInput("x", "reference", href="http://a"),
        DataInput("x", "bbox", bbox=BoundingBoxValue([0, 0], [1, 1])),
    ],
)
def test_literal_refuses_other_kinds(data_input: DataInput) -> None:
    assert_raises(InvalidParameterValue, "x", make_process(LiteralInput("x")), [data_input])


# --------------------------------------------------------------------------- complex


def test_complex_default_format_is_filled_in() -> None:
    process = make_process(ComplexInput("doc", formats=(GML, Format("text/xml"))))
    assert validate_inputs(process, [kvp("doc", "<gml:Point/>")]) == {
        "doc": [ComplexData(data="<gml:Point/>", mime_type=GML.mime_type, schema=GML.schema)]
    }


def test_complex_requested_format() -> None:
    process = make_process(
        ComplexInput("doc", formats=(GML, Format("text/xml"), PNG), max_occurs=2)
    )
    xml = DataInput("doc", "complex", b"<a/>", mime_type="TEXT/XML", is_xml=True)
    png = DataInput("doc", "complex", "aGVsbG8=", mime_type="image/png", encoding="base64")
    (as_xml, as_png) = validate_inputs(process, [xml, png])["doc"]
    assert as_xml == ComplexData(data=b"<a/>", mime_type="TEXT/XML")
    assert as_png.encoding == "base64" and as_png.read() == b"hello"


@pytest.mark.parametrize(
    "attributes",
    [{"mime_type": "application/json"}, {"mime_type": "image/png", "encoding": "UTF-8"}],
)
def test_complex_unsupported_format(attributes: dict[str, str]) -> None:
    process = make_process(ComplexInput("doc", formats=(GML, PNG)))
    assert_raises(InvalidParameterValue, "doc", process, [kvp("doc", "x", **attributes)])


def test_complex_reference_is_not_fetched() -> None:
    process = make_process(ComplexInput("doc", formats=(GML,), max_megabytes=0.000001))
    reference = DataInput(
        "doc",
        "reference",
        href="http://wfs/x",
        method="POST",
        headers={"Accept": "text/xml"},
        body=b"<q/>",
    )
    (value,) = validate_inputs(process, [reference])["doc"]
    assert isinstance(value, ComplexReference) and isinstance(value, ComplexData)
    assert value.data is None and value.href == "http://wfs/x"
    assert (value.mime_type, value.schema) == (GML.mime_type, GML.schema)
    assert (value.method, value.headers, value.body) == ("POST", {"Accept": "text/xml"}, b"<q/>")


def test_complex_refuses_literal_and_bbox() -> None:
    process = make_process(ComplexInput("doc"))
    assert_raises(InvalidParameterValue, "doc", process, [DataInput("doc", "literal", "1")])
    bbox = DataInput("doc", "bbox", bbox=BoundingBoxValue([0], [1]))
    assert_raises(InvalidParameterValue, "doc", process, [bbox])


def test_complex_size_limits() -> None:
    process = make_process(ComplexInput("doc"))
    with pytest.raises(FileSizeExceeded) as info:
        validate_inputs(process, [kvp("doc", "x" * 11)], max_single_input_size=10)
    assert info.value.locator == "doc" and info.value.status == 413
    assert validate_inputs(process, [kvp("doc", "é" * 5)], max_single_input_size=10)
    small = make_process(ComplexInput("doc", max_megabytes=1 / 1024))  # 1 KiB
    assert_raises(FileSizeExceeded, "doc", small, [kvp("doc", "x" * 1025)])
    assert validate_inputs(small, [kvp("doc", "x" * 1024)])


def test_max_input_bytes() -> None:
    assert max_input_bytes(ComplexInput("d"), None) is None
    assert max_input_bytes(ComplexInput("d"), 100) == 100
    assert max_input_bytes(ComplexInput("d", max_megabytes=1), None) == 1024 * 1024
    assert max_input_bytes(ComplexInput("d", max_megabytes=1), 100) == 100


# --------------------------------------------------------------------------- bounding boxes


def test_bbox_from_xml() -> None:
    process = make_process(BoundingBoxInput("area", crss=("EPSG:4326", "EPSG:3857")))
    value = BoundingBoxValue([1, 2], [3, 4], "urn:ogc:def:crs:EPSG::3857", 2)
    assert validate_inputs(process, [DataInput("area", "bbox", bbox=value)]) == {
        "area": [BoundingBox((1, 2), (3, 4), "EPSG:3857")]
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,2,3,4", BoundingBox((1, 2), (3, 4), "EPSG:4326")),
        ("1,2,3,4,EPSG:4326", BoundingBox((1, 2), (3, 4), "EPSG:4326")),
        ("170,-10,-170,10,epsg:4326", BoundingBox((170, -10), (-170, 10), "EPSG:4326")),
        (
            "1,2,0,3,4,5,http://www.opengis.net/def/crs/EPSG/0/4326,3",
            BoundingBox((1, 2, 0), (3, 4, 5), "EPSG:4326"),
        ),
    ],
)
def test_bbox_from_kvp(text: str, expected: BoundingBox) -> None:
    process = make_process(BoundingBoxInput("area"))
    assert validate_inputs(process, [kvp("area", text)]) == {"area": [expected]}


@pytest.mark.parametrize(
    "crs",
    [
        "EPSG:4326",
        "urn:ogc:def:crs:EPSG::4326",
        "urn:ogc:def:crs:EPSG:6.6:4326",
        "URN:OGC:DEF:CRS:EPSG:4326",
        "urn:x-ogc:def:crs:EPSG:4326",
        "http://www.opengis.net/def/crs/EPSG/0/4326",
        "https://www.opengis.net/def/crs/EPSG/0/4326",
        "http://www.opengis.net/gml/srs/epsg.xml#4326",
    ],
)
@pytest.mark.parametrize("declared", ["EPSG:4326", "urn:ogc:def:crs:EPSG::4326"])
def test_crs_spellings_are_equivalent(crs: str, declared: str) -> None:
    process = make_process(BoundingBoxInput("area", crss=("EPSG:3857", declared)))
    (value,) = validate_inputs(process, [kvp("area", f"1,2,3,4,{crs}")])["area"]
    assert value.crs == declared


@pytest.mark.parametrize(
    "crs",
    [
        "EPSG:3857",
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "http://www.opengis.net/def/crs/EPSG/0/43260",
        "foo",
    ],
)
def test_unsupported_crs(crs: str) -> None:
    process = make_process(BoundingBoxInput("area"))
    assert_raises(InvalidParameterValue, "area", process, [kvp("area", f"1,2,3,4,{crs}")])


def test_crs84_spellings() -> None:
    process = make_process(BoundingBoxInput("area", crss=("urn:ogc:def:crs:OGC:1.3:CRS84",)))
    for crs in ("OGC:CRS84", "http://www.opengis.net/def/crs/OGC/1.3/CRS84"):
        (value,) = validate_inputs(process, [kvp("area", f"1,2,3,4,{crs}")])["area"]
        assert value.crs == "urn:ogc:def:crs:OGC:1.3:CRS84"


@pytest.mark.parametrize("text", ["1,2,x,4", "1,2,3", "a,b,c,d", "1,2,3,4,EPSG:4326,3", ""])
def test_bad_bbox(text: str) -> None:
    process = make_process(BoundingBoxInput("area"))
    assert_raises(InvalidParameterValue, "area", process, [kvp("area", text)])


def test_bbox_refuses_other_kinds() -> None:
    process = make_process(BoundingBoxInput("area"))
    assert_raises(InvalidParameterValue, "area", process, [DataInput("area", "literal", "1")])
    reference = DataInput("area", "reference", href="http://a")
    assert_raises(InvalidParameterValue, "area", process, [reference])


# --------------------------------------------------------------------------- response form

OUTPUTS = (
    LiteralOutput("count", data_type="integer", uoms=("m",)),
    ComplexOutput("map", formats=(Format("image/png"), Format("image/tiff"))),
    BoundingBoxOutput("extent"),
)


def check_form(form: ResponseForm, **kwargs: bool) -> None:
    validate_response_form(make_process(outputs=OUTPUTS, **kwargs), form)


def test_response_forms_that_are_fine() -> None:
    check_form(ResponseForm())
    check_form(
        ResponseForm(
            store=True,
            status=True,
            lineage=True,
            outputs=[
                OutputRequest("count", as_reference=True, uom="m"),
                OutputRequest("map", mime_type="IMAGE/TIFF"),
                OutputRequest("extent"),
            ],
        )
    )
    check_form(ResponseForm(raw=True, outputs=[OutputRequest("map", mime_type="image/png")]))
    check_form(ResponseForm(store=True), status_supported=False)


@pytest.mark.parametrize(
    ("form", "kwargs", "cls", "locator"),
    [
        (ResponseForm(outputs=[OutputRequest("nope")]), {}, InvalidParameterValue, "nope"),
        (
            ResponseForm(outputs=[OutputRequest("map", mime_type="image/jpeg")]),
            {},
            InvalidParameterValue,
            "map",
        ),
        (
            ResponseForm(raw=True, outputs=[OutputRequest("map", encoding="base64")]),
            {},
            InvalidParameterValue,
            "map",
        ),
        (
            ResponseForm(outputs=[OutputRequest("count", uom="feet")]),
            {},
            InvalidParameterValue,
            "count",
        ),
        (
            ResponseForm(store=True),
            {"store_supported": False},
            StorageNotSupported,
            "storeExecuteResponse",
        ),
        (ResponseForm(status=True), {}, InvalidParameterValue, "status"),
        (
            ResponseForm(store=True, status=True),
            {"status_supported": False},
            InvalidParameterValue,
            "status",
        ),
        (
            ResponseForm(raw=True, store=True, outputs=[OutputRequest("count")]),
            {},
            InvalidParameterValue,
            "storeExecuteResponse",
        ),
    ],
)
def test_response_form_errors(
    form: ResponseForm, kwargs: dict[str, bool], cls: type[OWSException], locator: str
) -> None:
    with pytest.raises(cls) as info:
        check_form(form, **kwargs)
    assert type(info.value) is cls
    assert (info.value.code, info.value.locator, info.value.status) == (cls.code, locator, 400)


# --------------------------------------------------------------------------- end to end


def test_kvp_request_to_handler_inputs() -> None:
    process = make_process(
        LiteralInput("width", data_type="integer", uoms=("meter",)),
        LiteralInput("band", data_type="integer", max_occurs=5),
        ComplexInput("poly", formats=(GML,)),
        BoundingBoxInput("area"),
        outputs=OUTPUTS,
    )
    query = urlencode(
        {
            "service": "WPS",
            "version": "1.0.0",
            "request": "Execute",
            "identifier": "proc",
            "DataInputs": "width=35@uom=meter;band=1;band=2;"
            "poly=@xlink:href=http%3A%2F%2Fwfs%3Fa%3D1%26b%3D2;area=0,0,10,10,EPSG:4326",
            "ResponseDocument": "map@mimeType=image/png@asReference=true",
            "storeExecuteResponse": "true",
        }
    )
    request = parse_kvp(parse_qs(query))
    assert isinstance(request, Execute)
    validate_response_form(process, request.response)
    values = validate_inputs(process, request.inputs)
    assert values["width"] == [35] and values["band"] == [1, 2]
    assert values["poly"][0].href == "http://wfs?a=1&b=2"
    assert values["area"] == [BoundingBox((0, 0), (10, 10), "EPSG:4326")]
