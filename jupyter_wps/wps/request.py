"""WPS requests: parsed from KVP (GET) and XML (POST) into plain objects.

WPS 1.0.0: GetCapabilities, DescribeProcess, Execute.
WPS 2.0.0 (on the same endpoint, also accepted with version 1.0.0 as a vendor
extension): GetStatus, GetResult, Dismiss.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SUPPORTED_VERSIONS = ("1.0.0", "2.0.0")


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


@dataclass
class JobRequest(Request):
    """GetStatus, GetResult or Dismiss of one job (WPS 2.0)."""

    operation: str = "GetStatus"
    job_id: str = ""
