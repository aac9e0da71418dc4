"""WPS response documents, built with lxml.

WPS 1.0.0: Capabilities, ProcessDescriptions, ExecuteResponse (which is also the
status document served at statusLocation) and OWS exception reports. WPS 2.0:
StatusInfo and Result, for the GetStatus/GetResult operations. Every document
validates against the official schemas and is readable by OWSLib.

What does not change between requests (a process's brief and full description,
the service sections of the capabilities) is built once and copied into each
document. Processes are taken as immutable once they have been described.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import math
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from lxml import etree

from ..process import (
    AllowedRange,
    BoundingBox,
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
from .exceptions import InvalidParameterValue, NoApplicableCode, OWSException, xml_safe
from .literals import format_literal
from .request import DataInput, OutputRequest, ResponseForm
from .states import JobState
from .xml import (
    NS,
    OWS,
    OWS2,
    SCHEMA_LOCATIONS,
    WPS,
    WPS2,
    XLINK,
    XML_LANG,
    XSI,
    parse_xml,
    to_bytes,
)

if TYPE_CHECKING:
    from ..config import ServiceMetadata

__all__ = [
    "OutputSummary",
    "OutputValue",
    "Status",
    "StatusSummary",
    "capabilities",
    "exception_report",
    "execute_response",
    "process_descriptions",
    "read_outputs",
    "read_status",
    "result_document",
    "status_info",
]

#: ServiceTypeVersions in the capabilities: 2.0.0 for GetStatus/GetResult/Dismiss.
SERVICE_TYPE_VERSIONS = ("1.0.0", "2.0.0")
#: Operations advertised in OperationsMetadata (all on GET and POST).
OPERATIONS = ("GetCapabilities", "DescribeProcess", "Execute")
#: ows:DataType references are this plus the XML Schema type name.
XSD_TYPES = "http://www.w3.org/TR/xmlschema-2/#"
OWS2_EXCEPTION_SCHEMA = "http://schemas.opengis.net/ows/2.0/owsExceptionReport.xsd"

#: Reference headers whose values stay out of status documents.
_SECRET_HEADERS = ("authorization", "cookie", "token", "secret", "key", "password")

_WPS_NSMAP = {"wps": NS["wps"], "ows": NS["ows"], "xlink": NS["xlink"], "xsi": NS["xsi"]}
_WPS2_NSMAP = {"wps": NS["wps2"], "ows": NS["ows2"], "xlink": NS["xlink"], "xsi": NS["xsi"]}
_KIND_TAGS = {"literal": "Literal", "complex": "Complex", "bbox": "BoundingBox"}

_T = TypeVar("_T")


# --------------------------------------------------------------------------- values


@dataclass
class Status:
    """A job's state at ``creation_time`` (UTC), as a status document reports it.

    ``percent`` is shown for started and paused jobs; ``exception`` says why a
    failed job failed (when unset, ``message`` becomes a NoApplicableCode).
    """

    state: str
    creation_time: dt.datetime
    message: str = ""
    percent: int | None = None
    exception: OWSException | None = None

    def __post_init__(self) -> None:
        if JobState(self.state) is JobState.DISMISSED:  # ValueError for an unknown one
            raise ValueError("a status document says a dismissal as failed")


@dataclass
class OutputValue:
    """One output of a finished job: inline (``value``) or by reference (``href``).

    ``value`` is a typed literal, a :class:`BoundingBox` or :class:`ComplexData`
    (bytes and str are taken as complex content). ``mime_type``, ``encoding``
    and ``schema`` are the format asked for; unset, the value's own, then the
    spec's default format are used.
    """

    identifier: str
    spec: OutputSpec
    value: Any = None
    href: str | None = None
    mime_type: str | None = None
    encoding: str | None = None
    schema: str | None = None
    uom: str | None = None


@dataclass
class StatusSummary:
    """What :func:`read_status` finds in a status document.

    For a failed job ``message`` is the exception text; ``percent`` is 100 once
    the job succeeded.
    """

    state: str
    creation_time: dt.datetime
    message: str = ""
    percent: int | None = None
    exception_code: str | None = None
    exception_locator: str | None = None


@dataclass
class OutputSummary:
    """One output of an ExecuteResponse, as :func:`read_outputs` finds it.

    ``kind`` is ``reference`` (see ``href``), ``literal``, ``complex`` (inline
    XML comes serialized) or ``bbox`` (``value`` is the lower then the upper
    corner's coordinates); ``attributes`` are those of the element holding the
    value (mimeType, encoding, schema, dataType, uom, crs...).
    """

    identifier: str
    kind: str
    href: str | None = None
    value: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def mime_type(self) -> str | None:
        return self.attributes.get("mimeType")

    def as_output(self) -> OutputValue:
        """This output as an OutputValue: to serve a stored result again (WPS 2.0 GetResult)."""
        attributes = self.attributes
        fmt = {
            "mime_type": attributes.get("mimeType"),
            "encoding": attributes.get("encoding"),
            "schema": attributes.get("schema"),
        }
        if self.kind == "literal":
            spec = LiteralOutput(self.identifier, data_type=attributes.get("dataType", "string"))
            return OutputValue(self.identifier, spec, self.value, uom=attributes.get("uom"))
        if self.kind == "bbox":
            numbers = [float(v) for v in (self.value or "").split()]
            half = len(numbers) // 2
            box = BoundingBox(tuple(numbers[:half]), tuple(numbers[half:]), attributes.get("crs"))
            return OutputValue(self.identifier, BoundingBoxOutput(self.identifier, crss=()), box)
        data = ComplexData(self.value, **fmt) if self.kind == "complex" else None
        spec = ComplexOutput(self.identifier, formats=())
        return OutputValue(self.identifier, spec, data, href=self.href, **fmt)


@dataclass(frozen=True)
class _Encoding:
    """Where output values go: WPS 1.0.0 and 2.0 wrap them differently."""

    data: str
    literal: str
    bbox: str
    ows: str
    #: element for complex content inside ``data``; None: ``data`` itself holds it
    complex: str | None
    reference: str
    href: str
    #: mimeType of ``data`` holding a literal or a bounding box
    literal_mime: str | None = None
    bbox_mime: str | None = None


_V1 = _Encoding(
    data=WPS + "Data",
    literal=WPS + "LiteralData",
    bbox=WPS + "BoundingBoxData",
    ows=OWS,
    complex=WPS + "ComplexData",
    reference=WPS + "Reference",
    href="href",
)
_V2 = _Encoding(
    data=WPS2 + "Data",
    literal=WPS2 + "LiteralValue",
    bbox=OWS2 + "BoundingBox",
    ows=OWS2,
    complex=None,
    reference=WPS2 + "Reference",
    href=XLINK + "href",
    literal_mime="text/plain",
    bbox_mime="text/xml",
)


# --------------------------------------------------------------------------- elements


def _sub(
    parent: etree._Element,
    tag: str,
    text: str | None = None,
    attrib: dict[str, str | None] | None = None,
) -> etree._Element:
    """A child element; attributes whose value is None are left out."""
    element = etree.SubElement(
        parent, tag, {k: v for k, v in (attrib or {}).items() if v is not None}
    )
    if text is not None:
        element.text = text
    return element


def _root(
    tag: str, nsmap: dict[str, str], schema: str, attrib: dict[str, str | None] | None = None
) -> etree._Element:
    """A document element with its xsi:schemaLocation."""
    root = etree.Element(tag, nsmap=nsmap)
    root.set(XSI + "schemaLocation", f"{etree.QName(tag).namespace} {schema}")
    for name, value in (attrib or {}).items():
        if value is not None:
            root.set(name, value)
    return root


def _wps_root(
    name: str, schema: str, language: str, attrib: dict[str, str | None] | None = None
) -> etree._Element:
    """A WPS 1.0.0 response element: service, version and xml:lang are required."""
    return _root(
        WPS + name,
        _WPS_NSMAP,
        SCHEMA_LOCATIONS[schema],
        {"service": "WPS", "version": "1.0.0", XML_LANG: language, **(attrib or {})},
    )


def _describe(
    parent: etree._Element,
    identifier: str,
    title: str | None,
    abstract: str = "",
    metadata: Sequence[str] = (),
) -> None:
    """Identifier, Title, Abstract and Metadata: how every WPS description starts."""
    _sub(parent, OWS + "Identifier", identifier)
    if title:
        _sub(parent, OWS + "Title", title)
    if abstract:
        _sub(parent, OWS + "Abstract", abstract)
    for entry in metadata:
        href = entry if entry.startswith(("http://", "https://")) else None
        _sub(parent, OWS + "Metadata", attrib={XLINK + "title": entry, XLINK + "href": href})


def _choices(
    parent: etree._Element,
    items: Sequence[_T],
    build: Callable[[etree._Element, _T], Any],
    owner: str,
    namespace: str = "",
) -> None:
    """Default (the first item) and Supported (all of them): UOMs, formats, CRSs, languages."""
    if not items:
        raise ValueError(f"{owner}: nothing to list in {etree.QName(parent).localname}")
    build(_sub(parent, namespace + "Default"), items[0])
    supported = _sub(parent, namespace + "Supported")
    for item in items:
        build(supported, item)


def _timestamp(value: dt.datetime) -> str:
    """xs:dateTime in UTC to the second; a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return format_literal(value.astimezone(dt.timezone.utc).replace(microsecond=0))


def _parse_timestamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _base64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _put_content(element: etree._Element, raw: bytes, as_xml: bool) -> str | None:
    """Put content in ``element``: XML as elements, text as text, else base64.

    Returns ``"base64"`` when the content had to be encoded (not UTF-8, or
    characters XML cannot carry).
    """
    if as_xml:
        try:
            element.append(parse_xml(raw))
            return None
        except OWSException:
            pass  # not well-formed: it goes in as text
    try:
        element.text = raw.decode("utf-8")
    except ValueError:
        element.text = _base64(raw)
        return "base64"
    return None


# --------------------------------------------------------------------------- capabilities


#: ServiceContact layout: (element, ServiceMetadata field or nested layout)
_CONTACT: tuple[tuple[str, Any], ...] = (
    ("IndividualName", "contact_name"),
    ("PositionName", "contact_position"),
    (
        "ContactInfo",
        (
            ("Phone", (("Voice", "contact_phone"), ("Facsimile", "contact_fax"))),
            (
                "Address",
                (
                    ("DeliveryPoint", "contact_address"),
                    ("City", "contact_city"),
                    ("AdministrativeArea", "contact_stateorprovince"),
                    ("PostalCode", "contact_postalcode"),
                    ("Country", "contact_country"),
                    ("ElectronicMailAddress", "contact_email"),
                ),
            ),
            ("OnlineResource", "contact_url"),
            ("HoursOfService", "contact_hours"),
            ("ContactInstructions", "contact_instructions"),
        ),
    ),
    ("Role", "contact_role"),
)


def _contact(
    parent: etree._Element, layout: tuple[tuple[str, Any], ...], metadata: ServiceMetadata
) -> None:
    """The contact elements whose fields are set (a group only if something in it is)."""
    for name, content in layout:
        if isinstance(content, tuple):
            group = etree.Element(OWS + name)
            _contact(group, content, metadata)
            if len(group):
                parent.append(group)
        elif value := getattr(metadata, content):
            if name == "OnlineResource":
                _sub(parent, OWS + name, attrib={XLINK + "href": value})
            else:
                _sub(parent, OWS + name, value)


@lru_cache(maxsize=16)
def _service_sections(metadata: ServiceMetadata, url: str) -> tuple[etree._Element, ...]:
    """ServiceIdentification, ServiceProvider and OperationsMetadata (copy before use)."""
    holder = etree.Element(WPS + "Capabilities", nsmap=_WPS_NSMAP)
    identification = _sub(holder, OWS + "ServiceIdentification")
    _sub(identification, OWS + "Title", metadata.title)
    if metadata.abstract:
        _sub(identification, OWS + "Abstract", metadata.abstract)
    if metadata.keywords:
        keywords = _sub(identification, OWS + "Keywords")
        for keyword in metadata.keywords:
            _sub(keywords, OWS + "Keyword", keyword)
    _sub(identification, OWS + "ServiceType", "WPS")
    for version in SERVICE_TYPE_VERSIONS:
        _sub(identification, OWS + "ServiceTypeVersion", version)
    if metadata.fees:
        _sub(identification, OWS + "Fees", metadata.fees)
    if metadata.access_constraints:
        _sub(identification, OWS + "AccessConstraints", metadata.access_constraints)

    provider = _sub(holder, OWS + "ServiceProvider")
    _sub(provider, OWS + "ProviderName", metadata.provider_name)
    if metadata.provider_url:
        _sub(provider, OWS + "ProviderSite", attrib={XLINK + "href": metadata.provider_url})
    _contact(_sub(provider, OWS + "ServiceContact"), _CONTACT, metadata)

    operations = _sub(holder, OWS + "OperationsMetadata")
    get_url = url if url.endswith(("?", "&")) else url + ("&" if "?" in url else "?")
    for name in OPERATIONS:
        operation = _sub(operations, OWS + "Operation", attrib={"name": name})
        http = _sub(_sub(operation, OWS + "DCP"), OWS + "HTTP")
        _sub(http, OWS + "Get", attrib={XLINK + "href": get_url})
        _sub(http, OWS + "Post", attrib={XLINK + "href": url})
    return tuple(holder)


def capabilities(
    processes: Iterable[Process],
    metadata: ServiceMetadata,
    url: str,
    language: str = "en-US",
    update_sequence: str | None = None,
) -> bytes:
    """The GetCapabilities response (wps:Capabilities 1.0.0)."""
    root = _wps_root("Capabilities", "capabilities", language, {"updateSequence": update_sequence})
    root.extend(copy.deepcopy(section) for section in _service_sections(metadata, url))
    offerings = _sub(root, WPS + "ProcessOfferings")
    offerings.extend(_cached(_briefs, process, _brief) for process in processes)
    _choices(
        _sub(root, WPS + "Languages"),
        [language],
        lambda parent, lang: _sub(parent, OWS + "Language", lang),
        "Languages",
        WPS,
    )
    return to_bytes(root)


# --------------------------------------------------------------------------- descriptions

_briefs: weakref.WeakKeyDictionary[Process, etree._Element] = weakref.WeakKeyDictionary()
_descriptions: weakref.WeakKeyDictionary[Process, etree._Element] = weakref.WeakKeyDictionary()


def _cached(
    cache: weakref.WeakKeyDictionary[Process, etree._Element],
    process: Process,
    build: Callable[[Process], etree._Element],
) -> etree._Element:
    """A copy of ``process``'s element, built on first use and kept while the process lives."""
    element = cache.get(process)
    if element is None:
        element = cache[process] = build(process)
    return copy.deepcopy(element)


def _brief(process: Process) -> etree._Element:
    """wps:Process: in the capabilities and in every ExecuteResponse."""
    element = etree.Element(
        WPS + "Process", {WPS + "processVersion": process.version}, nsmap=_WPS_NSMAP
    )
    _describe(element, process.identifier, process.title, process.abstract, process.metadata)
    return element


def _description(process: Process) -> etree._Element:
    """ProcessDescription (its local elements are unqualified, as the schema has it)."""
    element = etree.Element(
        "ProcessDescription",
        {
            WPS + "processVersion": process.version,
            "storeSupported": format_literal(process.store_supported),
            "statusSupported": format_literal(process.status_supported),
        },
        nsmap=_WPS_NSMAP,
    )
    _describe(element, process.identifier, process.title, process.abstract, process.metadata)
    if process.inputs:
        inputs = _sub(element, "DataInputs")
        for spec in process.inputs:
            item = _sub(
                inputs,
                "Input",
                attrib={"minOccurs": str(spec.min_occurs), "maxOccurs": str(spec.max_occurs)},
            )
            _parameter(item, spec, "Data")
    outputs = _sub(element, "ProcessOutputs")
    for output in process.outputs:
        _parameter(_sub(outputs, "Output"), output, "Output")
    return element


def _parameter(item: etree._Element, spec: InputSpec | OutputSpec, suffix: str) -> None:
    """An Input or Output description: LiteralData, ComplexOutput, BoundingBoxData..."""
    _describe(item, spec.identifier, spec.title or spec.identifier, spec.abstract, spec.metadata)
    domain = _sub(item, _KIND_TAGS[spec.kind] + suffix)
    if isinstance(spec, (LiteralInput, LiteralOutput)):
        _literal_domain(domain, spec)
    elif isinstance(spec, (ComplexInput, ComplexOutput)):
        if isinstance(spec, ComplexInput) and spec.max_megabytes is not None:
            # the schema wants an integer
            domain.set("maximumMegabytes", str(math.ceil(spec.max_megabytes)))
        _choices(domain, spec.formats, _format, spec.identifier)
    else:
        _choices(domain, spec.crss, lambda parent, crs: _sub(parent, "CRS", crs), spec.identifier)


def _format(parent: etree._Element, fmt: Format) -> None:
    element = _sub(parent, "Format")
    _sub(element, "MimeType", fmt.mime_type)
    if fmt.encoding:
        _sub(element, "Encoding", fmt.encoding)
    if fmt.schema:
        _sub(element, "Schema", fmt.schema)


def _literal_domain(element: etree._Element, spec: LiteralInput | LiteralOutput) -> None:
    """DataType, UOMs and, for inputs, the allowed values and the default."""
    data_type = spec.data_type
    _sub(element, OWS + "DataType", data_type, {OWS + "reference": XSD_TYPES + data_type})
    if spec.uoms:
        _choices(
            _sub(element, "UOMs"),
            spec.uoms,
            lambda parent, uom: _sub(parent, OWS + "UOM", uom),
            spec.identifier,
        )
    if not isinstance(spec, LiteralInput):
        return
    if spec.allowed_values:
        allowed = _sub(element, OWS + "AllowedValues")
        for value in spec.allowed_values:
            if isinstance(value, AllowedRange):
                _range(allowed, value, data_type)
            else:
                _sub(allowed, OWS + "Value", format_literal(value, data_type))
    else:
        _sub(element, OWS + "AnyValue")
    if spec.default is not None:
        _sub(element, "DefaultValue", format_literal(spec.default, data_type))


def _range(parent: etree._Element, allowed: AllowedRange, data_type: str) -> None:
    element = _sub(parent, OWS + "Range", attrib={OWS + "rangeClosure": allowed.closure})
    for name, value in (
        ("MinimumValue", allowed.minimum),
        ("MaximumValue", allowed.maximum),
        ("Spacing", allowed.spacing),
    ):
        if value is not None:
            _sub(element, OWS + name, format_literal(value, data_type))


def process_descriptions(processes: Iterable[Process], language: str = "en-US") -> bytes:
    """The DescribeProcess response (wps:ProcessDescriptions 1.0.0)."""
    root = _wps_root("ProcessDescriptions", "describe", language)
    root.extend(_cached(_descriptions, process, _description) for process in processes)
    return to_bytes(root)


# --------------------------------------------------------------------------- exceptions


def _exception_element(
    exceptions: OWSException | Sequence[OWSException], namespace: str, version: str, language: str
) -> etree._Element:
    """ows:ExceptionReport in the OWS ``namespace`` (1.1 or 2.0).

    Whatever the exceptions quote, the report is well-formed: text XML cannot carry is
    escaped (:func:`xml_safe`).
    """
    ows = f"{{{namespace}}}"
    report = etree.Element(
        ows + "ExceptionReport",
        {"version": xml_safe(version), XML_LANG: xml_safe(language)},
        nsmap={"ows": namespace, "xsi": NS["xsi"]},
    )
    for exc in [exceptions] if isinstance(exceptions, OWSException) else exceptions:
        locator = None if exc.locator is None else xml_safe(str(exc.locator))
        item = _sub(
            report, ows + "Exception", attrib={"exceptionCode": exc.code, "locator": locator}
        )
        if exc.text:
            _sub(item, ows + "ExceptionText", xml_safe(str(exc.text)))
    return report


#: The report sent when building one failed: fixed, valid, never an empty body.
FALLBACK_EXCEPTION_REPORT = (
    b"<?xml version='1.0' encoding='UTF-8'?>\n"
    b'<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1"'
    b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="1.0.0" xml:lang="en-US"'
    b' xsi:schemaLocation="http://www.opengis.net/ows/1.1'
    b' http://schemas.opengis.net/ows/1.1.0/owsExceptionReport.xsd">'
    b'<ows:Exception exceptionCode="NoApplicableCode">'
    b"<ows:ExceptionText>internal server error</ows:ExceptionText>"
    b"</ows:Exception></ows:ExceptionReport>"
)


def exception_report(
    exceptions: OWSException | Sequence[OWSException],
    version: str = "1.0.0",
    language: str = "en-US",
) -> bytes:
    """An ows:ExceptionReport: OWS 1.1 for WPS 1.0.0, OWS 2.0 when ``version`` is 2.x."""
    if version.startswith("2."):
        namespace, schema = NS["ows2"], OWS2_EXCEPTION_SCHEMA
    else:
        namespace, schema = NS["ows"], SCHEMA_LOCATIONS["exception"]
    report = _exception_element(exceptions, namespace, version, language)
    report.set(XSI + "schemaLocation", f"{namespace} {schema}")
    return to_bytes(report)


# --------------------------------------------------------------------------- execute


def _status(parent: etree._Element, status: Status, language: str) -> None:
    element = _sub(
        parent, WPS + "Status", attrib={"creationTime": _timestamp(status.creation_time)}
    )
    tag = WPS + JobState(status.state).wps1
    if status.state == "failed":  # ProcessFailed holds an exception report and no text
        failure = status.exception or NoApplicableCode(status.message or "The process failed")
        _sub(element, tag).append(_exception_element(failure, NS["ows"], "1.0.0", language))
        return
    percent = None
    if status.state in ("started", "paused") and status.percent is not None:
        percent = str(max(0, min(99, int(status.percent))))  # the schema allows 0..99
    _sub(element, tag, status.message or None, {"percentCompleted": percent})


def _literal_data(
    parent: etree._Element, enc: _Encoding, text: str, data_type: str | None, uom: str | None
) -> None:
    data = _sub(parent, enc.data, attrib={"mimeType": enc.literal_mime})
    _sub(data, enc.literal, text, {"dataType": data_type, "uom": uom})


def _bbox_data(parent: etree._Element, enc: _Encoding, bbox: BoundingBox, crs: str | None) -> None:
    data = _sub(parent, enc.data, attrib={"mimeType": enc.bbox_mime})
    element = _sub(data, enc.bbox, attrib={"crs": crs, "dimensions": str(bbox.dimensions)})
    for name, corner in (("LowerCorner", bbox.lower), ("UpperCorner", bbox.upper)):
        _sub(element, enc.ows + name, " ".join(format_literal(v) for v in corner))


def _complex_data(
    parent: etree._Element,
    enc: _Encoding,
    raw: bytes,
    fmt: dict[str, str | None],
    is_xml: bool = False,
) -> None:
    """Complex content inline: XML (an XML format, or known to be XML) embedded as
    elements, base64 when asked for or not text, else text."""
    element = _sub(parent, enc.data)
    if enc.complex is not None:
        element = _sub(element, enc.complex)
    encoding = fmt["encoding"]
    if (encoding or "").lower() == "base64":
        element.text = _base64(raw)
    else:
        as_xml = is_xml or "xml" in (fmt["mimeType"] or "").lower()
        encoding = _put_content(element, raw, as_xml) or encoding
    for name, value in {**fmt, "encoding": encoding}.items():
        if value is not None:
            element.set(name, value)


def _output_format(output: OutputValue) -> dict[str, str | None]:
    """mimeType/encoding/schema of an output: as asked, else the value's, else the default."""
    chosen = {
        attr: getattr(output, name) or getattr(output.value, name, None)
        for attr, name in (
            ("mimeType", "mime_type"),
            ("encoding", "encoding"),
            ("schema", "schema"),
        )
    }
    formats = output.spec.formats if isinstance(output.spec, ComplexOutput) else ()
    if formats and chosen["mimeType"] in (None, formats[0].mime_type):
        default = formats[0]
        chosen = {
            "mimeType": default.mime_type,
            "encoding": chosen["encoding"] or default.encoding,
            "schema": chosen["schema"] or default.schema,
        }
    return chosen


def _output_value(item: etree._Element, enc: _Encoding, output: OutputValue) -> None:
    """An output's wps:Reference or wps:Data."""
    fmt = _output_format(output)
    if output.href is not None:
        _sub(item, enc.reference, attrib={enc.href: output.href, **fmt})
        return
    spec, value = output.spec, output.value
    if isinstance(spec, LiteralOutput):
        text = format_literal(value, spec.data_type)
        _literal_data(item, enc, text, spec.data_type, output.uom)
    elif isinstance(spec, BoundingBoxOutput):
        _bbox_data(item, enc, value, value.crs or next(iter(spec.crss), None))
    else:
        data = value if isinstance(value, ComplexData) else ComplexData(data=value)
        _complex_data(item, enc, data.read(), fmt)


def _kvp_bbox(text: str, locator: str) -> BoundingBox:
    """``minx,miny,maxx,maxy[,crs]`` (any dimension) as sent in a KVP Execute."""
    parts = [part.strip() for part in text.split(",")]
    crs = None
    try:
        float(parts[-1])
    except ValueError:
        crs = parts.pop()
    try:
        numbers = [float(part) for part in parts]
        half = len(numbers) // 2
        return BoundingBox(tuple(numbers[:half]), tuple(numbers[half:]), crs)
    except ValueError:
        raise InvalidParameterValue(f"{text!r} is not a bounding box", locator=locator) from None


def _header_value(key: str, value: str) -> str:
    """Credentials given for fetching a reference are not echoed."""
    return "***" if any(word in key.lower() for word in _SECRET_HEADERS) else value


def _input_reference(parent: etree._Element, data_input: DataInput) -> None:
    reference = _sub(
        parent,
        WPS + "Reference",
        attrib={
            XLINK + "href": data_input.href,
            "method": data_input.method.upper(),
            "mimeType": data_input.mime_type,
            "encoding": data_input.encoding,
            "schema": data_input.schema,
        },
    )
    for key, value in data_input.headers.items():
        _sub(reference, WPS + "Header", attrib={"key": key, "value": _header_value(key, value)})
    if data_input.body is not None:
        _put_content(_sub(reference, WPS + "Body"), data_input.body, as_xml=True)
    elif data_input.body_reference:
        _sub(reference, WPS + "BodyReference", attrib={XLINK + "href": data_input.body_reference})


def _lineage_input(parent: etree._Element, process: Process, data_input: DataInput) -> None:
    """Echo one input of the request; a KVP value is typed by the process's input."""
    spec = process.input(data_input.identifier)
    item = _sub(parent, WPS + "Input")
    title = (spec.title or spec.identifier) if spec else None
    _describe(item, data_input.identifier, title, spec.abstract if spec else "")
    kind = data_input.kind
    if kind == "kvp":
        kind = spec.kind if spec else "literal"
    value = data_input.value
    text = value.decode("utf-8") if isinstance(value, bytes) else (value or "")
    if kind == "reference":
        _input_reference(item, data_input)
    elif kind == "bbox":
        box = data_input.bbox
        bbox = (
            BoundingBox(tuple(box.lower), tuple(box.upper), box.crs)
            if box is not None
            else _kvp_bbox(text, data_input.identifier)
        )
        _bbox_data(item, _V1, bbox, bbox.crs)
    elif kind == "complex":
        data = ComplexData(data=value or b"", encoding=data_input.encoding)
        fmt = {
            "mimeType": data_input.mime_type,
            "encoding": data_input.encoding,
            "schema": data_input.schema,
        }
        _complex_data(item, _V1, data.read(), fmt, data_input.is_xml)
    else:
        data_type = data_input.data_type or (
            spec.data_type if isinstance(spec, LiteralInput) else None
        )
        _literal_data(item, _V1, text, data_type, data_input.uom)


def _output_definition(parent: etree._Element, process: Process, request: OutputRequest) -> None:
    spec = process.output(request.identifier)
    item = _sub(
        parent,
        WPS + "Output",
        attrib={
            "uom": request.uom,
            "mimeType": request.mime_type,
            "encoding": request.encoding,
            "schema": request.schema,
            "asReference": format_literal(request.as_reference),
        },
    )
    title = (spec.title or spec.identifier) if spec else None
    _describe(item, request.identifier, title, spec.abstract if spec else "")


def execute_response(
    process: Process,
    status: Status,
    service_instance: str,
    status_location: str | None = None,
    lineage: tuple[list[DataInput], ResponseForm] | None = None,
    outputs: Sequence[OutputValue] = (),
    language: str = "en-US",
) -> bytes:
    """wps:ExecuteResponse 1.0.0: the Execute response and the status document.

    ``lineage`` (the request's inputs and response form) adds DataInputs and
    OutputDefinitions; an empty list of requested outputs means all of them.
    """
    root = _wps_root(
        "ExecuteResponse",
        "execute",
        language,
        {"serviceInstance": service_instance, "statusLocation": status_location},
    )
    root.append(_cached(_briefs, process, _brief))
    _status(root, status, language)
    if lineage is not None:
        inputs, form = lineage
        if inputs:
            data_inputs = _sub(root, WPS + "DataInputs")
            for data_input in inputs:
                _lineage_input(data_inputs, process, data_input)
        requests = form.outputs or [OutputRequest(spec.identifier) for spec in process.outputs]
        if requests:
            definitions = _sub(root, WPS + "OutputDefinitions")
            for request in requests:
                _output_definition(definitions, process, request)
    if outputs:
        process_outputs = _sub(root, WPS + "ProcessOutputs")
        for output in outputs:
            item = _sub(process_outputs, WPS + "Output")
            _describe(
                item,
                output.identifier,
                output.spec.title or output.identifier,
                output.spec.abstract,
            )
            _output_value(item, _V1, output)
    return to_bytes(root)


# --------------------------------------------------------------------------- reading


def read_status(document: bytes) -> StatusSummary:
    """The state of a job from its status document (an ExecuteResponse of ours).

    Looks at wps:Status only; :func:`read_outputs` reads the outputs.
    """
    status = parse_xml(document).find(WPS + "Status")
    element = status[0] if status is not None and len(status) else None
    try:
        state = JobState.from_wps1(etree.QName(element).localname)
        if element.tag != WPS + state.wps1:
            raise KeyError(element.tag)
    except (KeyError, TypeError, ValueError):
        raise NoApplicableCode("not a WPS 1.0.0 status document") from None
    try:
        created = _parse_timestamp(status.get("creationTime", ""))
        percent = element.get("percentCompleted")
        summary = StatusSummary(
            state=state,
            creation_time=created,
            message=element.text or "",
            percent=int(percent) if percent is not None else None,
        )
    except ValueError:
        raise NoApplicableCode("a status document with a bad creationTime or percent") from None
    if summary.state == "succeeded":
        summary.percent = 100
    elif summary.state == "failed":
        exception = element.find(f"{OWS}ExceptionReport/{OWS}Exception")
        if exception is not None:
            summary.exception_code = exception.get("exceptionCode")
            summary.exception_locator = exception.get("locator")
            summary.message = exception.findtext(OWS + "ExceptionText") or ""
    return summary


_DATA_KINDS = {
    WPS + "LiteralData": "literal",
    WPS + "ComplexData": "complex",
    WPS + "BoundingBoxData": "bbox",
}


def read_outputs(document: bytes) -> list[OutputSummary]:
    """The outputs (ProcessOutputs) of an ExecuteResponse."""
    found = []
    for item in parse_xml(document).iterfind(f"{WPS}ProcessOutputs/{WPS}Output"):
        identifier = item.findtext(OWS + "Identifier") or ""
        reference = item.find(WPS + "Reference")
        if reference is not None:
            attributes = dict(reference.attrib)
            href = attributes.pop("href", None)
            found.append(OutputSummary(identifier, "reference", href, attributes=attributes))
            continue
        holder = item.find(f"{WPS}Data/*")
        if holder is None:
            continue
        kind = _DATA_KINDS.get(holder.tag, "complex")
        if kind == "bbox":
            value = " ".join(corner.text or "" for corner in holder)
        elif len(holder):  # a copy leaves out the declarations of wps, ows...
            value = etree.tostring(copy.deepcopy(holder[0]), encoding="unicode")
        else:
            value = holder.text or ""
        found.append(OutputSummary(identifier, kind, value=value, attributes=dict(holder.attrib)))
    return found


# --------------------------------------------------------------------------- WPS 2.0


def status_info(
    job_id: str,
    state: JobState | str,
    percent: int | None = None,
    next_poll: dt.datetime | None = None,
    expiration: dt.datetime | None = None,
) -> bytes:
    """wps:StatusInfo (WPS 2.0) for GetStatus; ValueError for an unknown state."""
    name = JobState(state).wps2
    root = _root(WPS2 + "StatusInfo", _WPS2_NSMAP, SCHEMA_LOCATIONS["wps2"])
    _sub(root, WPS2 + "JobID", job_id)
    _sub(root, WPS2 + "Status", name)
    if expiration is not None:
        _sub(root, WPS2 + "ExpirationDate", _timestamp(expiration))
    if next_poll is not None:
        _sub(root, WPS2 + "NextPoll", _timestamp(next_poll))
    if percent is not None:
        _sub(root, WPS2 + "PercentCompleted", str(max(0, min(100, int(percent)))))
    return to_bytes(root)


def result_document(
    job_id: str,
    outputs: Sequence[OutputValue | OutputSummary],
    expiration: dt.datetime | None = None,
) -> bytes:
    """wps:Result (WPS 2.0) for GetResult: each output as wps:Data or wps:Reference.

    Outputs are values, or what :func:`read_outputs` read from the job's status document.
    """
    root = _root(WPS2 + "Result", _WPS2_NSMAP, SCHEMA_LOCATIONS["wps2"])
    _sub(root, WPS2 + "JobID", job_id)
    if expiration is not None:
        _sub(root, WPS2 + "ExpirationDate", _timestamp(expiration))
    for output in outputs:
        value = output.as_output() if isinstance(output, OutputSummary) else output
        _output_value(_sub(root, WPS2 + "Output", attrib={"id": value.identifier}), _V2, value)
    return to_bytes(root)
