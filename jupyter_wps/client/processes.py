"""A WPS as a Python object: each process a function with a signature and a docstring.

Descriptions come from DescribeProcess; OWSLib parses the capabilities and process
metadata and builds the Execute requests, this module turns Python values into WPS
inputs and WPS outputs into Python values.
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import html
import inspect
import json
import keyword
import mimetypes
import numbers
import os
import re
import sys
import textwrap
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from lxml import etree
from owslib.util import Authentication
from owslib.wps import (
    ASYNC,
    SYNC,
    BoundingBoxDataInput,
    IComplexDataInput,
    WebProcessingService,
    WPSExecution,
)

from ..process import SUFFIXES, BoundingBox, ComplexData, Format, Process
from .job import (
    LITERAL_TYPES,
    Job,
    Reference,
    WPSError,
    child,
    child_text,
    children,
    error_from_reply,
    is_json,
    is_text,
    local,
    parse_literal,
    parse_xml,
)

__all__ = ["ParameterDescription", "ProcessDescription", "WPSClient"]

_NS = {
    "wps": "http://www.opengis.net/wps/1.0.0",
    "ows": "http://www.opengis.net/ows/1.1",
    "xlink": "http://www.w3.org/1999/xlink",
}
_MIME_BY_SUFFIX = {suffix: mime for mime, suffix in reversed(list(SUFFIXES.items()))}
_NO_DEFAULT = inspect.Parameter.empty


# --------------------------------------------------------------------------- descriptions


@dataclass
class ParameterDescription:
    """An input or output of a process, as DescribeProcess tells it."""

    identifier: str
    name: str  # the Python name
    kind: str  # "literal", "complex" or "bbox"
    title: str = ""
    abstract: str = ""
    data_type: str | None = None  # literal: the XML Schema type name
    min_occurs: int = 1
    max_occurs: int = 1
    default: Any = _NO_DEFAULT
    allowed_values: list[Any] = field(default_factory=list)
    ranges: list[tuple[Any, Any]] = field(default_factory=list)
    uoms: list[str] = field(default_factory=list)
    formats: list[Format] = field(default_factory=list)  # the default first
    crss: list[str] = field(default_factory=list)  # the default first

    @property
    def python_type(self) -> Any:
        if self.kind == "literal":
            return LITERAL_TYPES.get(self.data_type or "string", str)
        if self.kind == "bbox":
            return BoundingBox
        return Any

    @property
    def accepts_json(self) -> bool:
        return any(is_json(f.mime_type) for f in self.formats)

    def input_annotation(self) -> Any:
        if self.kind == "literal":
            annotation: Any = self.python_type
        elif self.kind == "bbox":
            annotation = BoundingBox | tuple
        else:
            annotation = str | bytes | os.PathLike
            if self.accepts_json:
                annotation = annotation | dict | list
        if self.max_occurs > 1:
            annotation = annotation | list
        if self.min_occurs == 0 and self.default is _NO_DEFAULT:
            annotation = annotation | None
        return annotation

    def type_text(self) -> str:
        """The type line of the docstring."""
        if self.kind == "literal":
            text = getattr(self.python_type, "__name__", str(self.python_type))
            if self.allowed_values:
                text = "{" + ", ".join(repr(v) for v in self.allowed_values[:12]) + "}"
                text += ", ..." if len(self.allowed_values) > 12 else ""
        elif self.kind == "bbox":
            text = "BoundingBox or (minx, miny, maxx, maxy)"
        else:
            text = "complex data"
        if self.max_occurs > 1:
            text += f", or a list of up to {self.max_occurs}"
        if self.min_occurs == 0 or self.default is not _NO_DEFAULT:
            text += ", optional"
        return text

    def describe(self) -> list[str]:
        """The description lines of the docstring."""
        lines = [". ".join(part for part in (self.title, self.abstract) if part)]
        if self.ranges:
            lines.append(
                "Allowed: " + ", ".join(f"{low} to {high}" for low, high in self.ranges) + "."
            )
        if self.uoms:
            lines.append(f"Unit of measure: {', '.join(self.uoms)}.")
        if self.formats:
            formats = ", ".join(
                f.mime_type + (f" ({f.encoding})" if f.encoding else "") for f in self.formats
            )
            lines.append(f"Formats: {formats}.")
        if self.crss:
            lines.append(f"CRS: {', '.join(self.crss)} (default {self.crss[0]}).")
        if self.default is not _NO_DEFAULT:
            lines.append(f"Default: {self.default!r}.")
        return [line for line in lines if line]


@dataclass
class ProcessDescription:
    """A process, as DescribeProcess tells it."""

    identifier: str
    name: str  # the Python name
    title: str = ""
    abstract: str = ""
    version: str | None = None
    store_supported: bool = False
    status_supported: bool = False
    inputs: list[ParameterDescription] = field(default_factory=list)
    outputs: list[ParameterDescription] = field(default_factory=list)

    @property
    def asynchronous(self) -> bool:
        """Can it run as a job with a status document? (storeExecuteResponse and status)"""
        return self.store_supported and self.status_supported


def python_name(identifier: str, taken: Iterable[str] = ()) -> str:
    """A Python identifier for a WPS identifier (``my-process`` -> ``my_process``)."""
    name = re.sub(r"\W", "_", identifier) or "_"
    if name[0].isdigit():
        name = "_" + name
    if keyword.iskeyword(name):
        name += "_"
    taken = set(taken)
    while name in taken:
        name += "_"
    return name


def _defaults_first(element: etree._Element | None, name: str) -> list[etree._Element]:
    """``Default/<name>`` then ``Supported/<name>`` elements (formats, CRSs)."""
    found = [child(element, "Default", name)]
    supported = child(element, "Supported")
    found += children(supported, name) if supported is not None else []
    return [item for item in found if item is not None]


def _formats(element: etree._Element | None) -> list[Format]:
    found: list[Format] = []
    for fmt in _defaults_first(element, "Format"):
        item = Format(
            child_text(fmt, "MimeType") or "application/octet-stream",
            child_text(fmt, "Encoding") or None,
            child_text(fmt, "Schema") or None,
        )
        if item not in found:
            found.append(item)
    return found


def _crss(element: etree._Element | None) -> list[str]:
    found: list[str] = []
    for crs in _defaults_first(element, "CRS"):
        if crs.text and crs.text.strip() not in found:
            found.append(crs.text.strip())
    return found


def _data_type(literal: etree._Element) -> str:
    element = child(literal, "DataType")
    if element is None:
        return "string"
    text = (element.text or "").strip() or element.get(f"{{{_NS['ows']}}}reference") or ""
    return re.split(r"[#:/]", text)[-1] or "string"


def _occurs(text: str | None, default: int) -> int:
    if text is None:
        return default
    return int(text) if text.strip().isdigit() else sys.maxsize  # "unbounded" (WPS 2.0 style)


def _parameter(item: etree._Element, taken: set[str], output: bool) -> ParameterDescription:
    identifier = child_text(item, "Identifier") or ""
    param = ParameterDescription(
        identifier=identifier,
        name=python_name(identifier, taken),
        kind="complex",
        title=child_text(item, "Title") or "",
        abstract=child_text(item, "Abstract") or "",
    )
    taken.add(param.name)
    if not output:
        param.min_occurs = _occurs(item.get("minOccurs"), 1)
        param.max_occurs = _occurs(item.get("maxOccurs"), 1)
    literal = child(item, "LiteralOutput" if output else "LiteralData")
    bbox = child(item, "BoundingBoxOutput" if output else "BoundingBoxData")
    if literal is not None:
        param.kind = "literal"
        param.data_type = _data_type(literal)
        allowed = child(literal, "AllowedValues")
        for value in children(allowed, "Value") if allowed is not None else []:
            param.allowed_values.append(parse_literal(value.text or "", param.data_type))
        for low_high in children(allowed, "Range") if allowed is not None else []:
            low, high = child_text(low_high, "MinimumValue"), child_text(low_high, "MaximumValue")
            param.ranges.append(
                tuple(None if v is None else parse_literal(v, param.data_type) for v in (low, high))
            )
        uoms = child(literal, "UOMs")
        for uom in uoms.iter(f"{{{_NS['ows']}}}UOM") if uoms is not None else ():
            if uom.text and uom.text.strip() not in param.uoms:
                param.uoms.append(uom.text.strip())
        default = child_text(literal, "DefaultValue")
        if default is not None and not output:
            param.default = parse_literal(default, param.data_type)
    elif bbox is not None:
        param.kind = "bbox"
        param.crss = _crss(bbox)
    else:
        param.formats = _formats(child(item, "ComplexOutput" if output else "ComplexData"))
    return param


def describe(element: etree._Element, name: str) -> ProcessDescription:
    """A ProcessDescription element as a ProcessDescription."""

    def flag(attribute: str) -> bool:
        return (element.get(attribute) or "").lower() == "true"

    data_inputs, process_outputs = child(element, "DataInputs"), child(element, "ProcessOutputs")
    inputs = children(data_inputs, "Input") if data_inputs is not None else []
    outputs = children(process_outputs, "Output") if process_outputs is not None else []
    taken: set[str] = set()
    out_taken: set[str] = set()
    version = element.get(f"{{{_NS['wps']}}}processVersion") or element.get("processVersion")
    return ProcessDescription(
        identifier=child_text(element, "Identifier") or "",
        name=name,
        title=child_text(element, "Title") or "",
        abstract=child_text(element, "Abstract") or "",
        version=version if version not in (None, "", "None") else None,
        store_supported=flag("storeSupported"),
        status_supported=flag("statusSupported"),
        inputs=[_parameter(i, taken, output=False) for i in inputs],
        outputs=[_parameter(o, out_taken, output=True) for o in outputs],
    )


# --------------------------------------------------------------------------- inputs


class ComplexValue(IComplexDataInput):
    """A complex input, inline (text, XML or base64) or by reference, as OWSLib sends it."""

    def __init__(
        self,
        content: str | None = None,
        mime_type: str | None = None,
        encoding: str | None = None,
        schema: str | None = None,
        href: str | None = None,
        xml: etree._Element | None = None,
    ) -> None:
        self.content, self.href, self.xml = content, href, xml
        self.attributes = {"mimeType": mime_type, "encoding": encoding, "schema": schema}

    def getXml(self) -> etree._Element:  # noqa: N802 - OWSLib's name
        attrib = {k: v for k, v in self.attributes.items() if v}
        if self.href is not None:
            attrib[f"{{{_NS['xlink']}}}href"] = self.href
            return etree.Element(f"{{{_NS['wps']}}}Reference", attrib)
        data = etree.Element(f"{{{_NS['wps']}}}Data")
        complex_data = etree.SubElement(data, f"{{{_NS['wps']}}}ComplexData", attrib)
        if self.xml is not None:
            complex_data.append(self.xml)
        else:
            complex_data.text = self.content
        return data


class BoundingBoxValue(BoundingBoxDataInput):
    """A bounding box input of any dimension (OWSLib's own is 2-D only)."""

    def __init__(self, bbox: BoundingBox) -> None:  # not super().__init__: that one is 2-D
        self.bbox = bbox
        self.crs = bbox.crs
        self.dimensions = bbox.dimensions
        self.data = [*bbox.lower, *bbox.upper]

    def get_xml(self) -> etree._Element:
        data = etree.Element(f"{{{_NS['wps']}}}Data")
        attrib = {"dimensions": str(self.dimensions)}
        if self.crs:
            attrib["crs"] = self.crs
        element = etree.SubElement(data, f"{{{_NS['wps']}}}BoundingBoxData", attrib)
        for name, corner in (("LowerCorner", self.bbox.lower), ("UpperCorner", self.bbox.upper)):
            etree.SubElement(element, f"{{{_NS['ows']}}}{name}").text = " ".join(
                repr(v) for v in corner
            )
        return data


def _fail(param: ParameterDescription, problem: str) -> TypeError:
    return TypeError(f"input {param.name!r}: {problem}")


def format_literal(param: ParameterDescription, value: Any) -> str:
    """A literal input's text (OWSLib sends a str as LiteralData)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (dt.date, dt.time)):
        text = value.isoformat()
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, (str, int)):
        text = str(value)
    elif isinstance(value, (bytes, dict, list, tuple, set, BoundingBox, os.PathLike)):
        raise _fail(param, f"takes a literal value, not a {type(value).__name__}")
    else:
        text = str(value)
    return text


def as_bbox(param: ParameterDescription, value: Any) -> BoundingBoxValue:
    if isinstance(value, BoundingBox):
        bbox = value
    else:
        try:
            coords = [float(v) for v in value]
        except (TypeError, ValueError):
            raise _fail(
                param, f"takes a BoundingBox or (minx, miny, maxx, maxy), not {value!r}"
            ) from None
        if not coords or len(coords) % 2:
            raise _fail(param, f"a bounding box needs 2n coordinates, not {len(coords)}")
        half = len(coords) // 2
        bbox = BoundingBox(tuple(coords[:half]), tuple(coords[half:]))
    if bbox.crs is None and param.crss:
        bbox = BoundingBox(bbox.lower, bbox.upper, param.crss[0])
    return BoundingBoxValue(bbox)


def _pick_format(
    param: ParameterDescription, mime_type: str | None, binary: bool, strict: bool
) -> Format:
    """The input's format for content of this MIME type (binary: prefer base64)."""
    formats = param.formats or [Format(mime_type or "text/plain")]
    if mime_type:
        matching = [f for f in formats if f.mime_type.lower() == mime_type.lower()]
        if matching:
            base64_first = sorted(matching, key=lambda f: (f.encoding or "") != "base64")
            return base64_first[0] if binary else matching[0]
        if strict:
            accepted = ", ".join(f.mime_type for f in formats)
            raise _fail(param, f"does not accept {mime_type} (it accepts {accepted})")
    if binary:
        encoded = [f for f in formats if (f.encoding or "").lower() == "base64"]
        if encoded:
            return encoded[0]
    return formats[0]


def _inline(
    param: ParameterDescription, raw: bytes | str, mime_type: str | None, strict: bool
) -> ComplexValue:
    """Content sent inline: XML as XML, text as text, anything else base64."""
    text = raw if isinstance(raw, str) else None
    if text is None:
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            decoded = None
        # bytes are binary unless they are known to be text
        if decoded is not None and (is_text(mime_type) or not _has_base64(param)):
            text = decoded
    fmt = _pick_format(param, mime_type, binary=text is None, strict=strict)
    if text is None or (fmt.encoding or "").lower() == "base64":
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        return ComplexValue(
            base64.b64encode(data).decode("ascii"), fmt.mime_type, "base64", fmt.schema
        )
    xml = None
    if "xml" in fmt.mime_type.lower():
        try:
            xml = parse_xml(text.encode("utf-8"))
        except etree.XMLSyntaxError:
            xml = None
    return ComplexValue(text, fmt.mime_type, fmt.encoding, fmt.schema, xml=xml)


def _has_base64(param: ParameterDescription) -> bool:
    return any((f.encoding or "").lower() == "base64" for f in param.formats)


def _mime_of(value: Any) -> str | None:
    for attribute in ("mime_type", "mimetype", "mimeType"):
        mime = getattr(value, attribute, None)
        if isinstance(mime, str) and mime:
            return mime
    return None


def as_complex(param: ParameterDescription, value: Any) -> ComplexValue:
    """A complex input from a Python value (see the process docstrings for what is accepted)."""
    if isinstance(value, Reference):
        fmt = _pick_format(param, value.mime_type, False, strict=False)
        return ComplexValue(
            mime_type=value.mime_type or fmt.mime_type,
            encoding=value.encoding,
            schema=value.schema,
            href=value.href,
        )
    if isinstance(value, ComplexData):
        if value.href and value.data is None and value.path is None:
            return ComplexValue(mime_type=value.mime_type, encoding=value.encoding, href=value.href)
        return _inline(param, value.read(), value.mime_type, strict=bool(value.mime_type))
    if isinstance(value, os.PathLike):
        path = Path(value)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise _fail(param, f"cannot read {path}: {exc.strerror or exc}") from None
        suffix = path.suffix.lower()
        mime = _MIME_BY_SUFFIX.get(suffix) or mimetypes.guess_type(path.name)[0]
        return _inline(param, raw, mime, strict=False)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _inline(param, bytes(value), None, strict=False)
    if isinstance(value, str):
        if re.match(r"(?i)(https?|ftp)://", value):
            fmt = _pick_format(param, None, False, strict=False)
            return ComplexValue(mime_type=fmt.mime_type, schema=fmt.schema, href=value)
        return _inline(param, value, None, strict=False)
    mime = _mime_of(value)
    if mime is not None:
        data = getattr(value, "data", None)
        if data is None and callable(getattr(value, "read", None)):
            data = value.read()
        if isinstance(data, (bytes, str)):
            return _inline(param, data, mime, strict=True)
    if isinstance(value, (dict, list)) or hasattr(value, "__geo_interface__"):
        if not param.accepts_json:
            accepted = ", ".join(f.mime_type for f in param.formats) or "no formats"
            raise _fail(param, f"does not accept JSON (it accepts {accepted})")
        data = getattr(value, "__geo_interface__", value)
        json_formats = [f for f in param.formats if is_json(f.mime_type)]
        geo = [f for f in json_formats if "geo" in f.mime_type] if data is not value else []
        fmt = (geo or json_formats)[0]
        return ComplexValue(json.dumps(data), fmt.mime_type, fmt.encoding, fmt.schema)
    raise _fail(
        param,
        f"cannot send a {type(value).__name__} as complex data: give a str (content or an "
        "http(s) URL), bytes, a pathlib.Path, a dict (JSON), a Reference or a ComplexData",
    )


def _values(param: ParameterDescription, value: Any) -> list[Any]:
    """One value, or the several an input with maxOccurs > 1 was given."""
    many = isinstance(value, (list, tuple)) and not (
        param.kind == "bbox" and all(isinstance(v, numbers.Real) for v in value)
    )
    if param.kind == "complex" and isinstance(value, list) and param.max_occurs == 1:
        many = False  # a JSON array
    if not many:
        return [value]
    if len(value) > param.max_occurs:
        raise _fail(param, f"takes at most {param.max_occurs} value(s), not {len(value)}")
    return list(value)


def wps_inputs(process: ProcessDescription, arguments: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The Execute inputs for the arguments of a process function (None: not sent)."""
    inputs: list[tuple[str, Any]] = []
    for param in process.inputs:
        value = arguments.get(param.name)
        if value is None:
            continue
        convert = {"literal": format_literal, "bbox": as_bbox}.get(param.kind, as_complex)
        inputs.extend((param.identifier, convert(param, v)) for v in _values(param, value))
    return inputs


# --------------------------------------------------------------------------- functions


def _doc(process: ProcessDescription, controls: dict[str, str], url: str) -> str:
    lines = [process.title or process.identifier, ""]
    if process.abstract:
        lines += [*textwrap.wrap(process.abstract, 88), ""]
    how = "as a job (asynchronously)" if process.asynchronous else "synchronously"
    version = f" version {process.version}" if process.version else ""
    lines += [f"WPS process ``{process.identifier}``{version} at {url}, run {how}.", ""]
    lines += ["Parameters", "----------"]
    for param in _ordered(process.inputs):
        lines.append(f"{param.name} : {param.type_text()}")
        for line in param.describe():
            lines += ["    " + part for part in textwrap.wrap(line, 84)]
        if param.kind == "complex":
            lines.append(
                "    Give a str (content, or an http(s) URL to send by reference), bytes, "
                "a pathlib.Path"
            )
            lines.append(
                "    (a local file)"
                + (", a dict or list (JSON)" if param.accepts_json else "")
                + ", a ComplexData or a Reference."
            )
    lines += [
        f"{controls['wait']} : bool, keyword-only",
        "    Wait for the result and return it (default); False returns a Job at once.",
        f"{controls['as_reference']} : bool or list of str, keyword-only",
        "    Ask for complex outputs by reference (all, or those named): the result is",
        "    then a Reference, fetched on demand. None: the server's default.",
        "",
        "Returns",
        "-------",
    ]
    for output in process.outputs:
        kind = {"literal": None, "bbox": "BoundingBox"}.get(output.kind, "complex data")
        lines.append(f"{output.name} : {kind or output.python_type.__name__}")
        described = [". ".join(p for p in (output.title, output.abstract) if p)]
        if output.uoms:
            described.append(f"Unit of measure: {', '.join(output.uoms)}.")
        if output.kind == "complex":
            formats = ", ".join(f.mime_type for f in output.formats)
            described.append(
                f"Formats: {formats}. JSON comes decoded, text and XML as str, binary as "
                "bytes; by reference, a Reference."
            )
        for line in filter(None, described):
            lines += ["    " + part for part in textwrap.wrap(line, 84)]
    if len(process.outputs) > 1:
        lines.append("(a named tuple of these)")
    return "\n".join(lines) + "\n"


def _ordered(inputs: list[ParameterDescription]) -> list[ParameterDescription]:
    """Required inputs (no default) first, then the others, each in their order."""

    def required(p: ParameterDescription) -> bool:
        return p.min_occurs > 0 and p.default is _NO_DEFAULT

    return [p for p in inputs if required(p)] + [p for p in inputs if not required(p)]


def _signature(process: ProcessDescription, controls: dict[str, str], returns: Any):
    params = []
    for param in _ordered(process.inputs):
        default = param.default
        if default is _NO_DEFAULT and param.min_occurs == 0:
            default = None
        params.append(
            inspect.Parameter(
                param.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=default,
                annotation=param.input_annotation(),
            )
        )
    keyword_only = inspect.Parameter.KEYWORD_ONLY
    params.append(inspect.Parameter(controls["wait"], keyword_only, default=True, annotation=bool))
    params.append(
        inspect.Parameter(
            controls["as_reference"], keyword_only, default=None, annotation=bool | list | None
        )
    )
    return inspect.Signature(params, return_annotation=returns)


def _result_type(process: ProcessDescription) -> tuple[Any, Callable[[dict[str, Any]], Any]]:
    """The return annotation and the function that makes the result of the outputs."""
    outputs = process.outputs
    if len(outputs) == 1:
        only = outputs[0]
        annotation = only.python_type if only.kind != "complex" else Any
        return annotation, lambda values: values.get(only.identifier)
    result = collections.namedtuple(  # type: ignore[misc]
        f"{process.name}_result", [o.name for o in outputs], rename=True
    )
    result.__doc__ = f"The outputs of {process.identifier}: " + ", ".join(o.name for o in outputs)
    return result, lambda values: result(*(values.get(o.identifier) for o in outputs))


def make_function(client: WPSClient, process: ProcessDescription) -> Callable[..., Any]:
    """The Python function that runs ``process`` on the client's server."""
    names = {p.name for p in process.inputs}
    controls = {c: python_name(c, names) for c in ("wait", "as_reference")}
    returns, make_result = _result_type(process)
    signature = _signature(process, controls, returns)

    def run(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        arguments = dict(bound.arguments)
        wait = arguments.pop(controls["wait"], True)
        as_reference = arguments.pop(controls["as_reference"], None)
        job = client._submit(process, wps_inputs(process, arguments), as_reference, make_result)
        return job.result() if wait else job

    run.__name__ = run.__qualname__ = process.name
    run.__doc__ = _doc(process, controls, client.url)
    run.__signature__ = signature  # type: ignore[attr-defined]
    run.__module__ = __name__
    run.process = process  # type: ignore[attr-defined]
    run.result_type = returns  # type: ignore[attr-defined]
    run.make_result = make_result  # type: ignore[attr-defined]
    return run


# --------------------------------------------------------------------------- client


def _same_origin(a: str, b: str) -> bool:
    x, y = urlsplit(a), urlsplit(b)
    return (x.scheme, x.hostname, x.port) == (y.scheme, y.hostname, y.port)


class NoJobList(WPSError):
    """The WPS has no job list: it is not a jupyter-wps server."""


#: this kernel's clients, so that publishing refreshes every client of that server
_CLIENTS: weakref.WeakSet[WPSClient] = weakref.WeakSet()


def clients_of(url: str) -> list[WPSClient]:
    """The live clients of the WPS at ``url``."""
    return [client for client in list(_CLIENTS) if client.url == url.rstrip("?&")]


class WPSClient:
    """A WPS 1.0.0 server as a Python object: each process is a method.

    ``client.processes`` maps identifiers to the functions; ``help(client.sleep)``
    shows a process's inputs and outputs. ``headers`` (credentials) are sent to the
    WPS's own host only, never to another host an output reference points to.
    """

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        verify: bool | str = True,
        timeout: float = 30,
        source: str = "",
    ) -> None:
        self.url = url.rstrip("?&")
        self.headers = dict(headers or {})
        self.verify, self.timeout, self.source = verify, timeout, source
        self._session = requests.Session()
        self._session.verify = verify
        # OWSLib builds requests and parses metadata; the HTTP goes through _request
        self._wps = WebProcessingService(
            self.url,
            version="1.0.0",
            headers=dict(self.headers),
            skip_caps=True,
            timeout=timeout,
            auth=Authentication(verify=verify),
        )
        self._base_class = type(self)
        self.refresh()
        _CLIENTS.add(self)

    def refresh(self) -> None:
        """Read the server's processes again (say, after one was published)."""
        params = {"service": "WPS", "request": "GetCapabilities", "version": "1.0.0"}
        capabilities = self._request("GET", self.url, params=params, context="GetCapabilities")
        self._wps.getcapabilities(xml=capabilities.content)
        root = parse_xml(capabilities.content)
        identification = child(root, "ServiceIdentification")
        self.versions = (
            tuple((v.text or "").strip() for v in children(identification, "ServiceTypeVersion"))
            if identification is not None
            else ("1.0.0",)
        )
        self.title = getattr(self._wps.identification, "title", None) or ""
        processes: dict[str, Callable[..., Any]] = {}
        by_name: dict[str, Callable[..., Any]] = {}
        base = self._base_class
        # a process never hides an attribute
        taken = set(dir(base)) | set(vars(self)) | {"processes", "_by_name"}
        for process in self._describe([p.identifier for p in self._wps.processes], taken):
            function = make_function(self, process)
            processes[process.identifier] = function
            by_name[process.name] = function
        self.processes, self._by_name = processes, by_name
        # this client's own class has the processes as methods: dir(), help(client)
        namespace: dict[str, Any] = {"__doc__": self._doc(), "__module__": __name__}
        namespace.update((name, staticmethod(f)) for name, f in self._by_name.items())
        self.__class__ = type(base.__name__, (base,), namespace)

    # ------------------------------------------------------------------ publishing

    def publish(
        self, func_or_process: Callable[..., Any] | Process | None = None, **process_kwargs: Any
    ) -> Any:
        """Make a notebook function (or a Process) a process of this server.

        ``@client.publish`` or ``@client.publish(title=...)`` as a decorator; see
        :func:`jupyter_wps.client.publish`.
        """
        from .publish import publish

        return publish(func_or_process, client=self, **process_kwargs)

    def unpublish(self, identifier: str) -> None:
        """Remove a process this user published from the server."""
        from .publish import unpublish

        unpublish(identifier, client=self)

    def _doc(self) -> str:
        abstract = getattr(self._wps.identification, "abstract", None) or ""
        lines = [f"{self.title or 'WPS'} at {self.url}", ""]
        lines += [*textwrap.wrap(abstract, 88), ""] if abstract else []
        lines += ["Processes", "---------"]
        for name, function in self._by_name.items():
            lines += [name, f"    {function.process.title}"]
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ the JSON API

    def api_url(self, path: str) -> str:
        """A URL of a jupyter-wps server's JSON API (``<wps>/api/<path>``)."""
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/api/{path}", query=""))

    def job_list(self) -> list[dict[str, Any]]:
        """This user's jobs as a jupyter-wps server's JSON API describes them, newest first.

        NoJobList when the server has no such API (PyWPS, any other WPS).
        """
        api = self.api_url("jobs")
        try:
            reply = self._request("GET", api, context="the job list")
            jobs = reply.json()["jobs"]
            if not isinstance(jobs, list):
                raise TypeError(jobs)
        except WPSError as error:
            if error.status is None or error.status >= 500 or error.status in (401, 403):
                raise
            raise NoJobList(
                f"{self.url} has no job list (HTTP {error.status} from {api})"
            ) from None
        except (ValueError, KeyError, TypeError):
            raise NoJobList(f"{self.url} has no job list ({api} is not jupyter-wps's)") from None
        return [job for job in jobs if isinstance(job, dict) and job.get("jobID")]

    # ------------------------------------------------------------------ HTTP

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        context: str = "",
    ) -> requests.Response:
        """An HTTP request with the client's headers (to the WPS's host only).

        WPSError for an error reply (the server's exception report when it sent one).
        """
        sent = dict(self.headers) if _same_origin(url, self.url) else {}
        sent.update(headers or {})
        reply = self._session.request(
            method,
            url,
            params=params,
            data=data,
            headers=sent,
            timeout=self.timeout,
            stream=stream,
        )
        if reply.status_code >= 400:
            raise error_from_reply(reply.status_code, reply.content, url, context)
        return reply

    # ------------------------------------------------------------------ descriptions

    def _describe(self, identifiers: list[str], taken: set[str]) -> list[ProcessDescription]:
        """All processes described, in one request if the server allows, else one by one."""
        params = {"service": "WPS", "request": "DescribeProcess", "version": "1.0.0"}
        elements: dict[str, etree._Element] = {}
        try:
            if identifiers:
                reply = self._request(
                    "GET", self.url, params={**params, "identifier": ",".join(identifiers)}
                )
                elements = self._descriptions(reply.content)
        except (WPSError, etree.XMLSyntaxError):
            elements = {}
        for identifier in identifiers:
            if identifier not in elements:
                reply = self._request(
                    "GET",
                    self.url,
                    params={**params, "identifier": identifier},
                    context=f"DescribeProcess {identifier}",
                )
                elements.update(self._descriptions(reply.content))
        described = []
        for identifier in identifiers:
            if identifier in elements:
                name = python_name(identifier, taken)
                taken.add(name)
                described.append(describe(elements[identifier], name))
        return described

    @staticmethod
    def _descriptions(content: bytes) -> dict[str, etree._Element]:
        root = parse_xml(content)
        if local(root) == "ExceptionReport":
            raise WPSError.from_report(root, context="DescribeProcess")
        return {
            child_text(element, "Identifier") or "": element
            for element in children(root, "ProcessDescription")
        }

    # ------------------------------------------------------------------ execution

    def _submit(
        self,
        process: ProcessDescription,
        inputs: list[tuple[str, Any]],
        as_reference: bool | str | Iterable[str] | None,
        make_result: Callable[[dict[str, Any]], Any] | None,
    ) -> Job:
        """Send an Execute request: a job with a status document when the process can."""
        outputs = self._response_outputs(process, as_reference)
        mode = ASYNC if process.asynchronous else SYNC
        execution = WPSExecution(version="1.0.0", url=self.url)
        request = etree.tostring(execution.buildRequest(process.identifier, inputs, outputs, mode))
        try:
            reply = self._request(
                "POST",
                self.url,
                data=request,
                headers={"Content-Type": "text/xml; charset=utf-8"},
                context=process.identifier,
            )
        except WPSError as error:
            param = next((p for p in process.inputs if p.identifier == error.locator), None)
            if param is not None:  # name the input as the function does
                error.args = (f"{process.name}: input {param.name!r}: {error.text} ({error.code})",)
            raise
        return Job(self, process, reply.content, make_result)

    @staticmethod
    def _response_outputs(
        process: ProcessDescription, as_reference: bool | str | Iterable[str] | None
    ) -> list[tuple[str, bool | None]]:
        """Every output listed (OWSLib sends a ResponseDocument, which async needs)."""
        if isinstance(as_reference, str):
            as_reference = [as_reference]
        if as_reference is None or isinstance(as_reference, bool):
            wanted = {o.identifier: as_reference for o in process.outputs if o.kind == "complex"}
        else:
            names = set(as_reference)
            known = {o.name for o in process.outputs} | {o.identifier for o in process.outputs}
            if names - known:
                raise ValueError(
                    f"{process.name} has no output(s) {sorted(names - known)}: "
                    f"its outputs are {sorted(o.name for o in process.outputs)}"
                )
            wanted = {
                o.identifier: o.name in names or o.identifier in names for o in process.outputs
            }
        return [(o.identifier, wanted.get(o.identifier)) for o in process.outputs]

    def job(self, status_location: str) -> Job:
        """A job of this server again, from its status location (say, after a restart)."""
        reply = self._request("GET", status_location, context="status")
        root = parse_xml(reply.content)
        identifier = child_text(child(root, "Process"), "Identifier")
        function = self.processes.get(identifier or "")
        process = getattr(function, "process", None)
        job = Job(self, process, reply.content, getattr(function, "make_result", None))
        job.status_location = job.status_location or status_location
        return job

    # ------------------------------------------------------------------ Python protocol

    def __getattr__(self, name: str) -> Callable[..., Any]:
        by_name = self.__dict__.get("_by_name", {})
        raise AttributeError(
            f"{type(self).__name__} has no attribute {name!r}"
            + (f"; its processes are {', '.join(by_name)}" if by_name else "")
        )

    def __repr__(self) -> str:
        names = ", ".join(self._by_name)
        return f"<WPSClient {self.url}: {len(self._by_name)} processes ({names})>"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td><code>{html.escape(f.process.name)}</code></td>"
            f"<td>{html.escape(f.process.title)}</td>"
            f"<td>{html.escape(f.process.abstract)}</td></tr>"
            for f in self._by_name.values()
        )
        title = html.escape(self.title or "WPS")
        return (
            f"<div><b>{title}</b> at <code>{html.escape(self.url)}</code>"
            f"<table><tr><th>process</th><th>title</th><th>abstract</th></tr>{rows}</table></div>"
        )
