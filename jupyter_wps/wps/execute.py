"""Execute: check a request against the process description before any job exists.

The client's inputs become the values a handler receives (typed literals,
:class:`ComplexData`, :class:`BoundingBox`), so that a bad request is answered
with an OWS exception instead of a failed job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..process import (
    AllowedRange,
    BoundingBox,
    BoundingBoxInput,
    ComplexData,
    ComplexInput,
    ComplexOutput,
    Format,
    LiteralInput,
    LiteralOutput,
    Process,
)
from .exceptions import (
    FileSizeExceeded,
    InvalidParameterValue,
    MissingParameterValue,
    StorageNotSupported,
)
from .literals import parse_literal
from .request import DataInput, OutputRequest, ResponseForm, parse_bbox

_STRING_TYPES = ("string", "anyURI")


@dataclass
class ComplexReference(ComplexData):
    """Complex data given by reference, still to be fetched by the server.

    Carries what the fetch needs beyond ``href`` (a WPS 1.0.0 Reference may POST).
    """

    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    body_reference: str | None = None


def validate_inputs(
    process: Process, inputs: list[DataInput], max_single_input_size: int | None = None
) -> dict[str, list[Any]]:
    """The handler's inputs (identifier -> values) from the request's, or an OWS exception.

    Inputs come out in the process's order; a missing input with a default gets
    it, other missing optional inputs are left out. References are not fetched.
    """
    given: dict[str, list[DataInput]] = {}
    for data_input in inputs:
        if process.input(data_input.identifier) is None:
            raise InvalidParameterValue(
                f"process {process.identifier} has no input {data_input.identifier}",
                locator=data_input.identifier,
            )
        given.setdefault(data_input.identifier, []).append(data_input)
    values: dict[str, list[Any]] = {}
    for spec in process.inputs:
        occurrences = given.get(spec.identifier, [])
        if not occurrences and isinstance(spec, LiteralInput) and spec.default is not None:
            values[spec.identifier] = [spec.default]
            continue
        if len(occurrences) < spec.min_occurs:
            raise MissingParameterValue(
                f"input {spec.identifier} is needed at least {spec.min_occurs} time(s)",
                locator=spec.identifier,
            )
        if len(occurrences) > spec.max_occurs:
            raise InvalidParameterValue(
                f"input {spec.identifier} may be given at most {spec.max_occurs} time(s)",
                locator=spec.identifier,
            )
        if occurrences:
            values[spec.identifier] = [
                _convert(spec, occurrence, max_single_input_size) for occurrence in occurrences
            ]
    return values


def validate_response_form(process: Process, form: ResponseForm) -> None:
    """Refuse outputs, formats and execution modes the process does not offer."""
    for requested in form.outputs:
        spec = process.output(requested.identifier)
        if spec is None:
            raise InvalidParameterValue(
                f"process {process.identifier} has no output {requested.identifier}",
                locator=requested.identifier,
            )
        if isinstance(spec, ComplexOutput) and not _find_format(
            spec.formats, requested.mime_type, requested.encoding, requested.schema
        ):
            raise InvalidParameterValue(
                f"output {spec.identifier} is not available as {_describe(requested)}",
                locator=spec.identifier,
            )
        if (
            isinstance(spec, LiteralOutput)
            and requested.uom
            and spec.uoms
            and requested.uom not in spec.uoms
        ):
            raise InvalidParameterValue(
                f"output {spec.identifier} has no unit of measure {requested.uom}",
                locator=spec.identifier,
            )
    if form.store and not process.store_supported:
        raise StorageNotSupported(
            f"process {process.identifier} cannot store its response",
            locator="storeExecuteResponse",
        )
    if form.raw and form.store:
        raise InvalidParameterValue(
            "a raw data output cannot be stored; use a ResponseDocument",
            locator="storeExecuteResponse",
        )
    if form.status and not form.store:
        # WPS 1.0.0: "If status is true and storeExecuteResponse is false ... exception"
        raise InvalidParameterValue(
            "status=true requires storeExecuteResponse=true", locator="status"
        )
    if form.status and not process.status_supported:
        raise InvalidParameterValue(
            f"process {process.identifier} does not report status", locator="status"
        )


def max_input_bytes(spec: ComplexInput, max_single_input_size: int | None) -> int | None:
    """The size limit of one value of ``spec``: the smaller of the server's and the input's.

    Public because fetching a reference must enforce the same limit.
    """
    limits = [max_single_input_size] if max_single_input_size is not None else []
    if spec.max_megabytes is not None:
        limits.append(int(spec.max_megabytes * 1024 * 1024))
    return min(limits) if limits else None


# --------------------------------------------------------------------------- conversion


def _convert(
    spec: LiteralInput | ComplexInput | BoundingBoxInput,
    data_input: DataInput,
    max_single_input_size: int | None,
) -> Any:
    """The value of one input; a value no conversion can take is the client's error."""
    try:
        if isinstance(spec, LiteralInput):
            return _literal(spec, data_input)
        if isinstance(spec, ComplexInput):
            return _complex(spec, data_input, max_single_input_size)
        return _bbox(spec, data_input)
    except (ValueError, OverflowError, UnicodeError) as exc:  # e.g. 10**400 on a float grid
        raise InvalidParameterValue(
            f"input {data_input.identifier}: {exc}", locator=data_input.identifier
        ) from None


def _wrong_kind(data_input: DataInput, expected: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"input {data_input.identifier} takes {expected}, not {data_input.kind} data",
        locator=data_input.identifier,
    )


def _as_text(value: str | bytes | None) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value or ""


def _literal(spec: LiteralInput, data_input: DataInput) -> Any:
    if data_input.kind not in ("kvp", "literal"):
        raise _wrong_kind(data_input, "a literal value")
    locator = data_input.identifier
    value = parse_literal(_as_text(data_input.value), spec.data_type, locator=locator)
    if data_input.uom and spec.uoms and data_input.uom not in spec.uoms:
        raise InvalidParameterValue(
            f"unit of measure {data_input.uom} is not one of {', '.join(spec.uoms)}",
            locator=locator,
        )
    if spec.allowed_values and not any(
        _allowed(item, value, spec.data_type) for item in spec.allowed_values
    ):
        raise InvalidParameterValue(f"{value!r} is not an allowed value", locator=locator)
    return value


def _allowed(item: Any, value: Any, data_type: str) -> bool:
    """Is ``value`` the allowed value ``item``, or in the allowed range ``item``?"""
    if isinstance(item, AllowedRange):
        try:
            return item.contains(value) and _on_spacing(item, value)
        except TypeError:  # a range of other things
            return False
    if data_type in _STRING_TYPES:
        return str(item) == value
    if isinstance(item, str):  # allowed values written as in XML
        try:
            item = parse_literal(item, data_type)
        except InvalidParameterValue:
            return False
    return item == value


def _on_spacing(allowed: AllowedRange, value: Any) -> bool:
    """Numbers in a range with a spacing must fall on the grid from the minimum."""
    if allowed.spacing is None or allowed.minimum is None or isinstance(value, bool):
        return True
    if not isinstance(value, (int, float)):
        return True
    steps = (value - allowed.minimum) / allowed.spacing
    return abs(steps - round(steps)) < 1e-9


def _find_format(
    formats: Sequence[Format], mime_type: str | None, encoding: str | None, schema: str | None
) -> Format | None:
    return next((f for f in formats if f.matches(mime_type, encoding, schema)), None)


def _describe(requested: OutputRequest | DataInput) -> str:
    parts = [requested.mime_type, requested.encoding, requested.schema]
    return " / ".join(part for part in parts if part) or "the default format"


def _complex(
    spec: ComplexInput, data_input: DataInput, max_single_input_size: int | None
) -> ComplexData:
    if data_input.kind not in ("kvp", "complex", "reference"):
        raise _wrong_kind(data_input, "complex data")
    locator = data_input.identifier
    found = _find_format(spec.formats, data_input.mime_type, data_input.encoding, data_input.schema)
    if found is None:
        raise InvalidParameterValue(
            f"input {locator} does not accept {_describe(data_input)}", locator=locator
        )
    mime_type = data_input.mime_type or found.mime_type
    encoding = data_input.encoding or found.encoding
    schema = data_input.schema or found.schema
    if data_input.kind == "reference":
        return ComplexReference(
            href=data_input.href,
            mime_type=mime_type,
            encoding=encoding,
            schema=schema,
            method=data_input.method,
            headers=dict(data_input.headers),
            body=data_input.body,
            body_reference=data_input.body_reference,
        )
    data = data_input.value if data_input.value is not None else ""
    limit = max_input_bytes(spec, max_single_input_size)
    size = len(data.encode("utf-8") if isinstance(data, str) else data)
    if limit is not None and size > limit:
        raise FileSizeExceeded(
            f"input {locator} is {size} bytes, more than the {limit} allowed", locator=locator
        )
    return ComplexData(data=data, mime_type=mime_type, encoding=encoding, schema=schema)


def _bbox(spec: BoundingBoxInput, data_input: DataInput) -> BoundingBox:
    locator = data_input.identifier
    if data_input.kind == "bbox" and data_input.bbox is not None:
        value = data_input.bbox
    elif data_input.kind == "kvp":
        value = parse_bbox(_as_text(data_input.value), locator=locator)
    else:
        raise _wrong_kind(data_input, "a bounding box")
    return BoundingBox(value.lower, value.upper, _supported_crs(spec, value.crs, locator))


# --------------------------------------------------------------------------- CRS

_CRS_PATTERNS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"urn:(?:x-)?ogc:def:crs:(?P<auth>[^:]+):(?:[^:]*:)?(?P<code>[^:]+)",
        r"https?://www\.opengis\.net/def/crs/(?P<auth>[^/]+)/[^/]*/(?P<code>[^/]+)",
        r"https?://www\.opengis\.net/gml/srs/(?P<auth>epsg)\.xml#(?P<code>.+)",
        r"(?P<auth>[a-z][\w.-]*):(?P<code>[^:/]+)",
    )
)


def _crs_key(crs: str) -> str:
    """``AUTHORITY:CODE`` of the usual spellings of a CRS (short, URN, http URI)."""
    crs = crs.strip()
    for pattern in _CRS_PATTERNS:
        match = pattern.fullmatch(crs)
        if match:
            return f"{match['auth'].upper()}:{match['code'].upper()}"
    return crs.lower()


def _supported_crs(spec: BoundingBoxInput, crs: str | None, locator: str) -> str | None:
    """The input's spelling of the requested CRS; its default CRS when none is given."""
    if not spec.crss:
        return crs
    if crs is None:
        return spec.crss[0]
    key = _crs_key(crs)
    supported = next((c for c in spec.crss if _crs_key(c) == key), None)
    if supported is None:
        raise InvalidParameterValue(
            f"CRS {crs} is not one of {', '.join(spec.crss)}", locator=locator
        )
    return supported
