"""WPS requests: parsed from KVP (GET) and XML (POST) into plain objects.

WPS 1.0.0: GetCapabilities, DescribeProcess, Execute.
WPS 2.0.0 (on the same endpoint, also accepted with version 1.0.0 as a vendor
extension): GetStatus, GetResult, Dismiss.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from lxml import etree

from ..config import OVERRIDABLE
from .exceptions import (
    InvalidParameterValue,
    MissingParameterValue,
    NoApplicableCode,
    OperationNotSupported,
    VersionNegotiationFailed,
    xml_incompatible,
)
from .xml import NS, OWS, OWS2, WPS, WPS2, XLINK, parse_xml

SUPPORTED_VERSIONS = ("1.0.0", "2.0.0")
#: WPS 2.0 operations on one job; they also accept version 1.0.0 (vendor extension).
JOB_OPERATIONS = ("GetStatus", "GetResult", "Dismiss")
OPERATIONS = ("GetCapabilities", "DescribeProcess", "Execute", *JOB_OPERATIONS)


@dataclass
class BoundingBoxValue:
    lower: list[float]
    upper: list[float]
    crs: str | None = None
    dimensions: int | None = None


@dataclass
class DataInput:
    """One occurrence of an Execute input, as the client sent it (not yet validated).

    From XML the kind is known (``literal``, ``complex``, ``bbox``, ``reference``);
    from KVP it is ``kvp``: the raw string in ``value``, interpreted later
    against the process description.
    """

    identifier: str
    kind: str
    value: str | bytes | None = None
    #: LiteralData attributes
    data_type: str | None = None
    uom: str | None = None
    #: ComplexData / Reference attributes
    mime_type: str | None = None
    encoding: str | None = None
    schema: str | None = None
    #: ComplexData given as XML (the content is serialized into ``value``)
    is_xml: bool = False
    #: Reference
    href: str | None = None
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    body_reference: str | None = None
    #: BoundingBoxData
    bbox: BoundingBoxValue | None = None


@dataclass
class OutputRequest:
    """An output the client asks for (ResponseDocument/Output or RawDataOutput)."""

    identifier: str
    as_reference: bool = False
    mime_type: str | None = None
    encoding: str | None = None
    schema: str | None = None
    uom: str | None = None


@dataclass
class ResponseForm:
    raw: bool = False
    store: bool = False
    status: bool = False
    lineage: bool = False
    #: empty: all outputs, inline (the spec's default)
    outputs: list[OutputRequest] = field(default_factory=list)


@dataclass
class Request:
    operation: str
    version: str = "1.0.0"
    language: str | None = None


@dataclass
class GetCapabilities(Request):
    operation: str = "GetCapabilities"
    accept_versions: list[str] = field(default_factory=list)


@dataclass
class DescribeProcess(Request):
    operation: str = "DescribeProcess"
    #: ``["ALL"]`` means every process
    identifiers: list[str] = field(default_factory=list)


@dataclass
class Execute(Request):
    operation: str = "Execute"
    identifier: str = ""
    inputs: list[DataInput] = field(default_factory=list)
    response: ResponseForm = field(default_factory=ResponseForm)
    #: batch resources asked for (vendor KVP parameters: walltime, memory, cores, ...)
    resources: dict[str, str] = field(default_factory=dict)


@dataclass
class JobRequest(Request):
    """GetStatus, GetResult or Dismiss of one job (WPS 2.0)."""

    operation: str = "GetStatus"
    job_id: str = ""


# --------------------------------------------------------------------------- common


def negotiate_version(accept_versions: Sequence[str]) -> str:
    """The version GetCapabilities answers with (OWS Common 1.1 version negotiation).

    Capabilities are only written in WPS 1.0.0, so that is the answer whenever the
    client accepts it (or states no preference).
    """
    if not accept_versions or "1.0.0" in accept_versions:
        return "1.0.0"
    raise VersionNegotiationFailed(
        f"none of the versions {', '.join(accept_versions)} is supported; use 1.0.0",
        locator="AcceptVersions",
    )


def _check_service(service: str | None) -> None:
    if not service or not service.strip():
        raise MissingParameterValue("the service parameter is missing", locator="service")
    if service.strip().upper() != "WPS":
        raise InvalidParameterValue(
            f"service {service!r} is not offered here; use WPS", locator="service"
        )


def _check_version(version: str | None, operation: str) -> str:
    """The requested version, if ``operation`` exists in it here."""
    if not version or not version.strip():
        raise MissingParameterValue(
            f"the version parameter is required for {operation}", locator="version"
        )
    version = version.strip()
    allowed = SUPPORTED_VERSIONS if operation in JOB_OPERATIONS else ("1.0.0",)
    if version not in allowed:
        raise VersionNegotiationFailed(
            f"{operation} is not supported in version {version}; use {' or '.join(allowed)}",
            locator="version",
        )
    return version


def _quote(text: str, limit: int = 80) -> str:
    """``text`` quoted for a message, cut short when long."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _xml_text(text: str, locator: str, what: str) -> str:
    """``text`` if XML 1.0 can carry it; else InvalidParameterValue (no reply could quote it).

    Every name and value of a KVP request passes here before it is used.
    """
    bad = xml_incompatible(text)
    if bad is not None:
        raise InvalidParameterValue(
            f"{what} {_quote(text)} contains {bad!r}, a character XML cannot carry",
            locator=locator,
        )
    return text


def _url(href: str, locator: str) -> str:
    """A reference's URL, if it can be parsed as one."""
    try:
        urlsplit(href)
    except ValueError as exc:
        raise InvalidParameterValue(
            f"{_quote(href)} is not a URL: {exc}", locator=locator
        ) from None
    return href


def _finite(text: str, locator: str | None) -> float:
    """A coordinate: a finite number."""
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise InvalidParameterValue(f"{text!r} is not a coordinate", locator=locator)
    return number


def _corners(
    lower: list[float], upper: list[float], dimensions: str | None, locator: str | None
) -> BoundingBoxValue:
    """Check the corners agree with each other and with the stated dimensions."""
    if not lower or len(lower) != len(upper):
        raise InvalidParameterValue(
            "a bounding box needs two corners with the same number of coordinates",
            locator=locator,
        )
    dims = None
    if dimensions is not None:
        try:
            dims = int(dimensions)
        except ValueError:
            raise InvalidParameterValue(
                f"bounding box dimensions {dimensions!r} is not an integer", locator=locator
            ) from None
        if dims != len(lower):
            raise InvalidParameterValue(
                f"bounding box of {dims} dimensions with {len(lower)} coordinates per corner",
                locator=locator,
            )
    return BoundingBoxValue(lower=lower, upper=upper, dimensions=dims)


def parse_bbox(text: str, locator: str | None = None) -> BoundingBoxValue:
    """A KVP bounding box: ``minx,miny,maxx,maxy[,crs[,dimensions]]`` (any dimension).

    The coordinates of the lower corner come first, then the upper corner's
    (the OWS Common 1.1 KVP encoding); WPS 1.0.0 adds the optional dimensions.
    """
    parts = [part.strip() for part in text.split(",")]
    numbers: list[float] = []
    for part in parts:
        try:
            numbers.append(_finite(part, locator))
        except InvalidParameterValue:
            break
    rest = parts[len(numbers) :]
    if len(numbers) % 2 or len(rest) > 2 or (rest and not rest[0]):
        raise InvalidParameterValue(
            f"{text!r} is not a bounding box (minx,miny,maxx,maxy[,crs[,dimensions]])",
            locator=locator,
        )
    half = len(numbers) // 2
    bbox = _corners(numbers[:half], numbers[half:], rest[1] if len(rest) == 2 else None, locator)
    bbox.crs = rest[0] if rest else None
    return bbox


# --------------------------------------------------------------------------- KVP


def parse_kvp(args: Mapping[str, Sequence[str | bytes]] | Mapping[str, str | bytes]) -> Request:
    """A request from KVP (HTTP GET) arguments, e.g. ``parse_qs`` output or tornado's.

    Parameter names are case-insensitive; of a repeated parameter the first value counts.
    """
    params = _lower_keys(args)
    _check_service(params.get("service"))
    name = params.get("request", "").strip()
    if not name:
        raise MissingParameterValue("the request parameter is missing", locator="request")
    operation = next((op for op in OPERATIONS if op.lower() == name.lower()), None)
    if operation is None:
        raise OperationNotSupported(f"operation {name!r} is not supported", locator=name)
    language = params.get("language") or None
    if operation == "GetCapabilities":
        return GetCapabilities(
            language=language, accept_versions=_split_list(params.get("acceptversions", ""))
        )
    version = _check_version(params.get("version"), operation)
    if operation == "DescribeProcess":
        identifiers = _split_list(params.get("identifier", ""))
        if not identifiers:
            raise MissingParameterValue(
                "DescribeProcess needs an identifier (or ALL)", locator="identifier"
            )
        return DescribeProcess(version=version, language=language, identifiers=identifiers)
    if operation == "Execute":
        return _kvp_execute(params, version, language)
    job_id = params.get("jobid", "").strip()
    if not job_id:
        raise MissingParameterValue(f"{operation} needs a jobId", locator="jobId")
    return JobRequest(operation=operation, version=version, language=language, job_id=job_id)


def _lower_keys(
    args: Mapping[str, Sequence[str | bytes]] | Mapping[str, str | bytes],
) -> dict[str, str]:
    """Parameters by lower-cased name, first value only, bytes (tornado) decoded.

    A name or value XML cannot carry is refused here, before anything uses it.
    """
    params: dict[str, str] = {}
    for key, values in args.items():
        _xml_text(key, key, "the parameter name")
        if isinstance(values, (str, bytes)):
            values = [values]
        decoded = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]
        for value in decoded:
            _xml_text(value, key, f"the value of {key}")
        if decoded:
            params.setdefault(key.lower(), decoded[0])
    return params


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _kvp_bool(params: dict[str, str], name: str) -> bool:
    value = params.get(name.lower(), "").strip().lower()
    if value in ("", "false"):
        return False
    if value == "true":
        return True
    raise InvalidParameterValue(f"{name} must be true or false", locator=name)


def _strip_brackets(text: str) -> str:
    """``[a=1;b=2]`` -> ``a=1;b=2``: some clients (and the spec's examples) bracket lists."""
    text = text.strip()
    return text[1:-1] if text.startswith("[") and text.endswith("]") else text


def _kvp_items(text: str, locator: str) -> list[tuple[str, str | None, list[tuple[str, str]]]]:
    """Split ``id=value@attr=val@...;id2...`` into (id, value, [(attr, val)...]).

    The value is None when there is no ``=`` (outputs: ``id@attr=val``).

    Separators are found first and each piece URL-decoded after, so that
    (double-)encoded ``;``, ``@`` and ``=`` survive inside values (and are checked again:
    decoding can bring back characters XML cannot carry).
    """

    def decoded(piece: str) -> str:
        return _xml_text(unquote(piece), locator, f"in {locator}, the decoded text")

    items = []
    for item in _strip_brackets(text).split(";"):
        if not item.strip():
            continue
        head, *raw_attributes = item.split("@")
        name, sep, value = head.partition("=")
        identifier = decoded(name).strip()
        if not identifier:
            raise InvalidParameterValue(f"{_quote(item)} has no identifier", locator=locator)
        attributes = []
        for raw in raw_attributes:
            attribute, sep_attribute, attribute_value = raw.partition("=")
            if not sep_attribute or not attribute.strip():
                raise InvalidParameterValue(
                    f"{_quote(raw)} in {_quote(item)} is not of the form attribute=value",
                    locator=locator,
                )
            attributes.append((decoded(attribute).strip(), decoded(attribute_value)))
        items.append((identifier, decoded(value) if sep else None, attributes))
    return items


#: KVP input attributes (compared case-insensitively) -> DataInput fields
_INPUT_ATTRIBUTES = {
    "mimetype": "mime_type",
    "encoding": "encoding",
    "schema": "schema",
    "uom": "uom",
    "datatype": "data_type",
    "href": "href",
    "xlink:href": "href",
}
_OUTPUT_ATTRIBUTES = {
    "mimetype": "mime_type",
    "encoding": "encoding",
    "schema": "schema",
    "uom": "uom",
}


def _kvp_inputs(text: str) -> list[DataInput]:
    inputs = []
    for identifier, value, attributes in _kvp_items(text, "DataInputs"):
        # a reference needs no "=": id@xlink:href=... as well as id=@xlink:href=...
        if value is None and not any(a.lower() in ("href", "xlink:href") for a, _ in attributes):
            raise InvalidParameterValue(
                f"input {identifier} is not of the form id=value[@attribute=value...]",
                locator="DataInputs",
            )
        data_input = DataInput(identifier=identifier, kind="kvp", value=value)
        for attribute, attribute_value in attributes:
            name = attribute.lower()
            if name == "method":
                # WPS 1.0.0, 10.2.2.1: no POST references in KVP (there is no body to send)
                if attribute_value.strip().upper() != "GET":
                    raise InvalidParameterValue(
                        "references in KVP requests can only use method GET", locator=identifier
                    )
            elif name in _INPUT_ATTRIBUTES:
                setattr(data_input, _INPUT_ATTRIBUTES[name], attribute_value)
            else:
                raise InvalidParameterValue(
                    f"unknown attribute {attribute!r} of input {identifier}", locator=identifier
                )
        if data_input.href is not None:
            if value:
                raise InvalidParameterValue(
                    f"input {identifier} has both a value and an href", locator=identifier
                )
            _url(data_input.href, identifier)
            data_input.kind = "reference"
            data_input.value = None
        inputs.append(data_input)
    return inputs


def _kvp_outputs(text: str, locator: str) -> list[OutputRequest]:
    outputs = []
    for identifier, value, attributes in _kvp_items(text, locator):
        if value:
            raise InvalidParameterValue(
                f"output {identifier} cannot have a value ({value!r})", locator=locator
            )
        output = OutputRequest(identifier=identifier)
        for attribute, attribute_value in attributes:
            name = attribute.lower()
            if name == "asreference" and locator == "ResponseDocument":
                if attribute_value.strip().lower() not in ("true", "false"):
                    raise InvalidParameterValue(
                        f"asReference of {identifier} must be true or false", locator=locator
                    )
                output.as_reference = attribute_value.strip().lower() == "true"
            elif name in _OUTPUT_ATTRIBUTES:
                setattr(output, _OUTPUT_ATTRIBUTES[name], attribute_value)
            else:
                raise InvalidParameterValue(
                    f"unknown attribute {attribute!r} of output {identifier}", locator=locator
                )
        outputs.append(output)
    return outputs


def _one_process(identifier: str, locator: str) -> str:
    """The identifier of the one process an Execute runs (not a list, not ALL)."""
    if not identifier:
        raise MissingParameterValue("Execute needs a process identifier", locator=locator)
    if "," in identifier or identifier.upper() == "ALL":
        raise InvalidParameterValue(
            f"Execute runs one named process at a time, not {_quote(identifier)}",
            locator=locator,
        )
    return identifier


def _kvp_execute(params: dict[str, str], version: str, language: str | None) -> Execute:
    identifier = _one_process(params.get("identifier", "").strip(), "identifier")
    document = params.get("responsedocument", "")
    raw = params.get("rawdataoutput", "")
    if document.strip() and raw.strip():
        raise InvalidParameterValue(
            "ResponseDocument and RawDataOutput exclude each other", locator="RawDataOutput"
        )
    response = ResponseForm(
        store=_kvp_bool(params, "storeExecuteResponse"),
        status=_kvp_bool(params, "status"),
        lineage=_kvp_bool(params, "lineage"),
    )
    if raw.strip():
        response.raw = True
        response.outputs = _kvp_outputs(raw, "RawDataOutput")
        if len(response.outputs) != 1:
            raise InvalidParameterValue(
                "RawDataOutput names exactly one output", locator="RawDataOutput"
            )
    else:
        response.outputs = _kvp_outputs(document, "ResponseDocument")
    return Execute(
        version=version,
        language=language,
        identifier=identifier,
        inputs=_kvp_inputs(params.get("datainputs", "")),
        response=response,
        resources={name: params[name] for name in OVERRIDABLE if params.get(name)},
    )


# --------------------------------------------------------------------------- XML


def parse_xml_request(body: bytes, max_bytes: int | None = None) -> Request:
    """A request from an XML (HTTP POST) body; no DTDs, entities or network access."""
    try:
        root = parse_xml(body, max_bytes)
    except (etree.LxmlError, ValueError) as exc:  # what parse_xml does not name itself
        raise NoApplicableCode(f"the request is not well-formed XML: {exc}", status=400) from None
    parser = _XML_PARSERS.get(root.tag)
    if parser is not None:
        return parser(root)
    name = etree.QName(root)
    if name.namespace == NS["wps2"] and name.localname in ("DescribeProcess", "Execute"):
        raise VersionNegotiationFailed(
            f"{name.localname} is only supported in WPS 1.0.0", locator="version"
        )
    raise OperationNotSupported(
        f"no operation {name.localname} in namespace {name.namespace or '(none)'}",
        locator=name.localname,
    )


def _text(element: etree._Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _identifier(element: etree._Element) -> str:
    identifier = _text(element.find(f"{OWS}Identifier"))
    if not identifier:
        raise MissingParameterValue(
            f"{etree.QName(element).localname} has no ows:Identifier", locator="Identifier"
        )
    return identifier


def _href(element: etree._Element) -> str | None:
    """``xlink:href`` as the schema says, or the plain ``href`` many clients send."""
    return element.get(f"{XLINK}href") or element.get("href")


def _xml_bool(element: etree._Element, name: str) -> bool:
    value = element.get(name)
    if value is None:
        return False
    value = value.strip()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise InvalidParameterValue(f"{name} must be an xs:boolean, not {value!r}", locator=name)


def _children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def _serialize(element: etree._Element) -> bytes:
    """An element as a standalone document, with the namespaces in scope declared."""
    return etree.tostring(element, encoding="UTF-8", with_tail=False)


def _xml_get_capabilities(root: etree._Element) -> GetCapabilities:
    _check_service(root.get("service"))
    versions = [
        _text(version)
        for ows in (OWS, OWS2)
        for version in root.iterfind(f"{ows}AcceptVersions/{ows}Version")
        if _text(version)
    ]
    return GetCapabilities(language=root.get("language"), accept_versions=versions)


def _xml_describe_process(root: etree._Element) -> DescribeProcess:
    _check_service(root.get("service"))
    version = _check_version(root.get("version"), "DescribeProcess")
    identifiers = [_text(el) for el in root.iterfind(f"{OWS}Identifier") if _text(el)]
    if not identifiers:
        raise MissingParameterValue(
            "DescribeProcess needs at least one ows:Identifier", locator="Identifier"
        )
    return DescribeProcess(version=version, language=root.get("language"), identifiers=identifiers)


def _xml_execute(root: etree._Element) -> Execute:
    _check_service(root.get("service"))
    version = _check_version(root.get("version"), "Execute")
    form = root.find(f"{WPS}ResponseForm")
    return Execute(
        version=version,
        language=root.get("language"),
        identifier=_one_process(_identifier(root), "Identifier"),
        inputs=[_xml_input(el) for el in root.iterfind(f"{WPS}DataInputs/{WPS}Input")],
        response=_xml_response_form(form) if form is not None else ResponseForm(),
    )


def _xml_input(element: etree._Element) -> DataInput:
    identifier = _identifier(element)
    reference = element.find(f"{WPS}Reference")
    if reference is not None:
        return _xml_reference(identifier, reference)
    data = element.find(f"{WPS}Data")
    if data is None:
        raise MissingParameterValue(
            f"input {identifier} has neither wps:Data nor wps:Reference", locator=identifier
        )
    literal = data.find(f"{WPS}LiteralData")
    if literal is not None:
        return DataInput(
            identifier=identifier,
            kind="literal",
            value=literal.text or "",
            data_type=literal.get("dataType"),
            uom=literal.get("uom"),
        )
    complex_data = data.find(f"{WPS}ComplexData")
    if complex_data is not None:
        children = _children(complex_data)
        return DataInput(
            identifier=identifier,
            kind="complex",
            value=_serialize(children[0]) if children else complex_data.text or "",
            is_xml=bool(children),
            mime_type=complex_data.get("mimeType"),
            encoding=complex_data.get("encoding"),
            schema=complex_data.get("schema"),
        )
    bbox = next((el for tag in _BBOX_TAGS if (el := data.find(tag)) is not None), None)
    if bbox is not None:
        return DataInput(identifier=identifier, kind="bbox", bbox=_xml_bbox(identifier, bbox))
    raise MissingParameterValue(
        f"the wps:Data of input {identifier} has no LiteralData, ComplexData or BoundingBoxData",
        locator=identifier,
    )


#: The bounding box element of wps:Data, and the ows:BoundingBox some clients send instead
_BBOX_TAGS = (f"{WPS}BoundingBoxData", f"{OWS}BoundingBox")


def _xml_bbox(identifier: str, element: etree._Element) -> BoundingBoxValue:
    corners = []
    for name in ("LowerCorner", "UpperCorner"):
        corner = next(
            (c for ns in (OWS, WPS) if (c := element.find(f"{ns}{name}")) is not None), None
        )
        if corner is None:
            raise MissingParameterValue(
                f"bounding box of input {identifier} has no ows:{name}", locator=identifier
            )
        corners.append([_finite(value, identifier) for value in _text(corner).split()])
    bbox = _corners(corners[0], corners[1], element.get("dimensions"), identifier)
    bbox.crs = element.get("crs")
    return bbox


def _xml_reference(identifier: str, element: etree._Element) -> DataInput:
    href = _href(element)
    if not href:
        raise MissingParameterValue(
            f"the wps:Reference of input {identifier} has no xlink:href", locator=identifier
        )
    _url(href, identifier)
    method = (element.get("method") or "GET").strip().upper()
    if method not in ("GET", "POST"):
        raise InvalidParameterValue(
            f"reference method must be GET or POST, not {method}", locator=identifier
        )
    headers = {}
    for header in element.iterfind(f"{WPS}Header"):
        key, value = header.get("key"), header.get("value")
        if key is None or value is None:
            raise MissingParameterValue(
                f"a wps:Header of input {identifier} lacks key or value", locator=identifier
            )
        headers[key] = value
    body = None
    body_element = element.find(f"{WPS}Body")
    if body_element is not None:
        children = _children(body_element)
        body = _serialize(children[0]) if children else (body_element.text or "").encode()
    body_reference = None
    body_reference_element = element.find(f"{WPS}BodyReference")
    if body_reference_element is not None:
        body_reference = _href(body_reference_element)
        if not body_reference:
            raise MissingParameterValue(
                f"the wps:BodyReference of input {identifier} has no xlink:href",
                locator=identifier,
            )
        _url(body_reference, identifier)
    return DataInput(
        identifier=identifier,
        kind="reference",
        href=href,
        method=method,
        headers=headers,
        body=body,
        body_reference=body_reference,
        mime_type=element.get("mimeType"),
        encoding=element.get("encoding"),
        schema=element.get("schema"),
    )


def _xml_output(element: etree._Element, raw: bool) -> OutputRequest:
    return OutputRequest(
        identifier=_identifier(element),
        as_reference=False if raw else _xml_bool(element, "asReference"),
        mime_type=element.get("mimeType"),
        encoding=element.get("encoding"),
        schema=element.get("schema"),
        uom=element.get("uom"),
    )


def _xml_response_form(form: etree._Element) -> ResponseForm:
    raw = form.find(f"{WPS}RawDataOutput")
    if raw is not None:
        return ResponseForm(raw=True, outputs=[_xml_output(raw, raw=True)])
    document = form.find(f"{WPS}ResponseDocument")
    if document is None:
        raise MissingParameterValue(
            "wps:ResponseForm needs a wps:ResponseDocument or a wps:RawDataOutput",
            locator="ResponseForm",
        )
    return ResponseForm(
        store=_xml_bool(document, "storeExecuteResponse"),
        status=_xml_bool(document, "status"),
        lineage=_xml_bool(document, "lineage"),
        outputs=[_xml_output(el, raw=False) for el in document.iterfind(f"{WPS}Output")],
    )


def _xml_job(root: etree._Element) -> JobRequest:
    operation = etree.QName(root).localname
    _check_service(root.get("service"))
    version = _check_version(root.get("version"), operation)
    job_id = _text(root.find(f"{WPS2}JobID"))
    if not job_id:
        raise MissingParameterValue(f"{operation} needs a wps:JobID", locator="JobID")
    return JobRequest(operation=operation, version=version, job_id=job_id)


_XML_PARSERS: dict[str, Callable[[etree._Element], Request]] = {
    f"{WPS}GetCapabilities": _xml_get_capabilities,
    f"{WPS2}GetCapabilities": _xml_get_capabilities,
    f"{WPS}DescribeProcess": _xml_describe_process,
    f"{WPS}Execute": _xml_execute,
    **{f"{WPS2}{operation}": _xml_job for operation in JOB_OPERATIONS},
}
