"""PyWPS processes as they are: a ``pywps.Process`` adapted to jupyter-wps's process model.

:func:`adapt` turns a ``pywps.Process`` (PyWPS 4.5 and later) into a
:class:`PyWPSProcess`: its description (identifier, title, abstract, version,
keywords, metadata, every input and output with data types, formats, allowed
values and ranges, defaults, UOMs and occurrences, the store and status flags)
is read from the PyWPS objects once, and running it calls the PyWPS handler
with request and response objects that behave as PyWPS's do for process code:
``request.inputs[id]`` lists of PyWPS inputs (``.data``, ``.file``, ``.stream``,
``.url``, ``.data_format``, ``.uom``), ``response.outputs[id]`` PyWPS outputs,
``response.update_status(message, percent)`` reported as the job's progress, and
``self.workdir`` a fresh directory inside the job directory.

Failures are worded as PyWPS words them: a ``ProcessError``'s message as
``Process error: <message>``, anything else as PyWPS's generic message (the
traceback goes to the job's ``launcher.log``).

PyWPS is an optional dependency (``jupyter-wps[pywps]``): this module is
imported only when a PyWPS process is loaded (see
:func:`jupyter_wps.process.as_processes`), never by the core.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
import uuid
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .process import (
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
    progress,
)
from .wps.literals import parse_literal

__all__ = ["PROCESS_FAILED", "Metadata", "PyWPSProcess", "UOM", "adapt"]

#: What PyWPS tells the client when a process fails with anything but a ProcessError
#: (unless its log level is DEBUG)
PROCESS_FAILED = "Process failed, please check server error log"

#: PyWPS literal data types that jupyter-wps knows by another name (same values)
_DATA_TYPES = {
    "float": "float",
    "angle": "double",
    "scale": "double",
    "positiveInteger": "integer",
    "nonNegativeInteger": "integer",
}


class Metadata(str):
    """A PyWPS metadata link: the string is its title; ``href``, ``role`` and ``type`` kept."""

    href: str | None
    role: str | None
    type: str

    def __new__(
        cls, title: str, href: str | None = None, role: str | None = None, type_: str = "simple"
    ) -> Metadata:
        made = super().__new__(cls, title or "")
        made.href, made.role, made.type = href, role, type_
        return made

    @property
    def title(self) -> str:
        return str(self)

    def __reduce__(self) -> Any:
        return (Metadata, (str(self), self.href, self.role, self.type))


class UOM(str):
    """A unit of measure: the string is its name; ``reference`` the URN PyWPS gives it."""

    reference: str | None

    def __new__(cls, uom: str, reference: str | None = None) -> UOM:
        made = super().__new__(cls, uom)
        made.reference = reference or None
        return made

    def __reduce__(self) -> Any:
        return (UOM, (str(self), self.reference))


def adapt(pywps_process: Any, import_path: str | None = None) -> PyWPSProcess:
    """A jupyter-wps process that runs ``pywps_process`` (an instance of ``pywps.Process``)."""
    adapted = PyWPSProcess(pywps_process)
    adapted.import_path = import_path
    return adapted


# --------------------------------------------------------------------------- description


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _keywords(item: Any) -> tuple[str, ...]:
    return tuple(str(k) for k in (getattr(item, "keywords", None) or ()))


def _metadata(item: Any) -> tuple[Metadata, ...]:
    found = []
    for entry in getattr(item, "metadata", None) or ():
        if isinstance(entry, str):
            found.append(Metadata(entry))
        else:
            found.append(
                Metadata(
                    _text(getattr(entry, "title", "")),
                    getattr(entry, "href", None),
                    getattr(entry, "role", None),
                    getattr(entry, "type", None) or "simple",
                )
            )
    return tuple(found)


def _uoms(item: Any) -> tuple[UOM, ...]:
    uoms = []
    for uom in getattr(item, "uoms", None) or ():
        if isinstance(uom, str):
            uoms.append(UOM(uom))
        else:
            uoms.append(UOM(_text(uom.uom), getattr(uom, "reference", None)))
    return tuple(uoms)


def _data_type(pywps_type: str | None) -> str:
    return _DATA_TYPES.get(pywps_type or "string", pywps_type or "string")


def _typed(value: Any, data_type: str) -> Any:
    """A value as the Python value of jupyter-wps's ``data_type`` (allowed values, defaults)."""
    if value is None:
        return None
    if hasattr(value, "geturl"):  # PyWPS converts anyURI to urlparse's result
        return value.geturl()
    if (
        data_type in ("integer",)
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    ):
        return int(value)
    if data_type in ("double", "float") and isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        if data_type == "integer":  # PyWPS takes "1.0" for an integer
            try:
                return int(float(value))
            except ValueError:
                pass
        if data_type == "boolean" and value.strip().lower() in ("t", "f"):
            return value.strip().lower() == "t"
        try:
            return parse_literal(value, data_type)
        except Exception:
            return value
    return value


def _format(fmt: Any) -> Format:
    return Format(
        fmt.mime_type,
        encoding=fmt.encoding or None,
        schema=fmt.schema or None,
        extension=fmt.extension or None,
    )


def _formats(item: Any) -> tuple[Format, ...]:
    """The supported formats, the default (``data_format``) first, as PyWPS describes them."""
    formats = [_format(f) for f in (item.supported_formats or ())]
    default = getattr(item, "data_format", None)
    if default is not None:
        first = _format(default)
        formats = [first] + [f for f in formats if f != first]
    return tuple(formats) or (Format("text/plain"),)


def _allowed_values(item: Any, data_type: str) -> tuple[Any, ...]:
    """Allowed values and ranges; none for AnyValue and ValuesReference (anything goes)."""
    if getattr(item, "any_value", False) or getattr(item, "values_reference", None):
        return ()
    allowed: list[Any] = []
    for value in getattr(item, "allowed_values", None) or ():
        kind = getattr(value, "allowed_type", None)
        if kind == "range":
            allowed.append(
                AllowedRange(
                    minimum=_typed(value.minval, data_type),
                    maximum=_typed(value.maxval, data_type),
                    spacing=_typed(value.spacing, data_type) if value.spacing else None,
                    closure=value.range_closure or "closed",
                )
            )
        elif kind == "value":
            allowed.append(_typed(value.value, data_type))
    return tuple(allowed)


def _occurs(item: Any) -> tuple[int, int]:
    min_occurs = int(item.min_occurs) if item.min_occurs is not None else 0
    max_occurs = int(item.max_occurs) if item.max_occurs is not None else 1
    return min_occurs, max(max_occurs, 1)


def _common(item: Any) -> dict[str, Any]:
    return {
        "identifier": item.identifier,
        "title": _text(item.title),
        "abstract": _text(item.abstract),
        "keywords": _keywords(item),
        "metadata": _metadata(item),
    }


def describe_input(item: Any) -> LiteralInput | ComplexInput | BoundingBoxInput:
    """jupyter-wps's description of a PyWPS input."""
    kind = _kind(item)
    min_occurs, max_occurs = _occurs(item)
    common = {**_common(item), "min_occurs": min_occurs, "max_occurs": max_occurs}
    if kind == "literal":
        data_type = _data_type(item.data_type)
        default = getattr(item, "_default", None)
        return LiteralInput(
            **common,
            data_type=data_type,
            allowed_values=_allowed_values(item, data_type),
            # the default as written (PyWPS's conversion of a dateTime drops its zone)
            default=_typed(default, data_type) if default is not None else None,
            uoms=_uoms(item),
        )
    if kind == "complex":
        return ComplexInput(**common, formats=_formats(item))
    return BoundingBoxInput(**common, crss=tuple(item.crss or ("EPSG:4326",)))


def describe_output(item: Any) -> LiteralOutput | ComplexOutput | BoundingBoxOutput:
    """jupyter-wps's description of a PyWPS output."""
    kind = _kind(item)
    if kind == "literal":
        return LiteralOutput(
            **_common(item), data_type=_data_type(item.data_type), uoms=_uoms(item)
        )
    if kind == "complex":
        return ComplexOutput(**_common(item), formats=_formats(item))
    return BoundingBoxOutput(**_common(item), crss=tuple(item.crss or ("EPSG:4326",)))


def _kind(item: Any) -> str:
    """``literal``, ``complex`` or ``bbox``, by the PyWPS base class (as PyWPS itself does)."""
    from pywps.inout import basic

    if isinstance(item, (basic.LiteralInput, basic.LiteralOutput)):
        return "literal"
    if isinstance(item, (basic.ComplexInput, basic.ComplexOutput)):
        return "complex"
    if isinstance(item, (basic.BBoxInput, basic.BBoxOutput)):
        return "bbox"
    raise TypeError(f"not a PyWPS input or output: {item!r}")


def _flag(value: Any) -> bool:
    """PyWPS keeps storeSupported and statusSupported as 'true'/'false'."""
    return str(value).lower() == "true" if isinstance(value, str) else bool(value)


# --------------------------------------------------------------------------- the process


class PyWPSProcess(Process):
    """A ``pywps.Process``, described and run as a jupyter-wps process.

    ``pywps`` is the PyWPS process itself; each run works on a deep copy of it,
    as PyWPS does.
    """

    def __init__(self, pywps_process: Any) -> None:
        self.pywps = pywps_process
        super().__init__(
            identifier=pywps_process.identifier,
            title=_text(pywps_process.title),
            abstract=_text(pywps_process.abstract),
            version=_text(getattr(pywps_process, "version", "")) or "None",
            keywords=_keywords(pywps_process),
            metadata=_metadata(pywps_process),
            inputs=[describe_input(i) for i in pywps_process.inputs],
            outputs=[describe_output(o) for o in pywps_process.outputs],
            store_supported=_flag(pywps_process.store_supported),
            status_supported=_flag(pywps_process.status_supported),
        )

    def handler(self, inputs: dict[str, list[Any]]) -> Mapping[str, Any]:
        """Run the PyWPS handler outside a job; the outputs' values (all inline)."""
        with tempfile.TemporaryDirectory(prefix="pywps_process_") as workdir:
            response = self.execute(inputs, None, Path(workdir))
            return {
                identifier: _output_value(output)
                for identifier, output in response.outputs.items()
                if (output.prop if _kind(output) == "complex" else output.data) is not None
            }

    def execute(
        self, inputs: dict[str, list[Any]], form: Any, workdir: Path, job_id: str | None = None
    ) -> Any:
        """Call the PyWPS handler in ``workdir``; the response (with its outputs) it filled.

        A ProcessError or any other exception becomes :class:`PyWPSFailure` with the
        message PyWPS would send.
        """
        process = copy.deepcopy(self.pywps)
        process._set_uuid(_request_uuid(job_id) if job_id else uuid.uuid1())
        process.set_workdir(str(workdir))
        request = make_request(process, inputs, form)
        response = Response(process, request)
        try:
            process.handler(request, response)
        except Exception as exc:
            if type(exc).__name__ == "Dismissed":  # the launcher's: the job was dismissed
                raise
            raise PyWPSFailure(_failure_message(exc)) from exc
        return response

    def run_job(
        self,
        inputs: dict[str, list[Any]],
        form: Any,
        outputs_dir: Path,
        job_id: str,
        jobdir: Path,
    ) -> list[Any]:
        """Run in the launcher: the handler, then the outputs as the form asks for them.

        Called instead of ``handler`` + ``make_outputs``: PyWPS processes choose their
        outputs' formats and units, and may answer with a URL of their own.
        """
        workdir = Path(tempfile.mkdtemp(prefix="pywps_process_", dir=jobdir))
        try:
            response = self.execute(inputs, form, workdir, job_id=job_id)
            return make_output_values(self, response, form, outputs_dir, job_id)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def __reduce__(self) -> Any:
        return (_readapt, (self.pywps, self.import_path))


def _readapt(pywps_process: Any, import_path: str | None) -> PyWPSProcess:
    """Unpickling: adapt the PyWPS process again (its description is derived)."""
    return adapt(pywps_process, import_path)


class PyWPSFailure(Exception):
    """A PyWPS process failed; the message is what PyWPS would tell the client."""

    @property
    def client_message(self) -> str:
        """The launcher sends this as the failure's text (see ``launcher.failure_message``)."""
        return str(self)


def _failure_message(exc: BaseException) -> str:
    from pywps.app.exceptions import ProcessError

    if isinstance(exc, ProcessError):
        return f"Process error: {exc}"
    return PROCESS_FAILED


# --------------------------------------------------------------------------- request, response


class Response:
    """What a PyWPS handler gets as ``response``: ``outputs`` and ``update_status``."""

    def __init__(self, process: Any, request: Any) -> None:
        self.process = process
        self.wps_request = request
        self.uuid = process.uuid
        self.outputs = {o.identifier: o for o in process.outputs}
        self.message = ""
        self.status = "ProcessStarted"
        self.status_percentage = 0
        self.store_status_file = request.store_execute == "true"

    def update_status(self, message: str, status_percentage: float | None = None) -> None:
        """Report progress: the job's percentCompleted and message."""
        if status_percentage is None:
            status_percentage = self.status_percentage
        self.message = message
        self.status_percentage = status_percentage
        progress(status_percentage, _text(message))


def make_request(process: Any, inputs: dict[str, list[Any]], form: Any) -> Any:
    """A ``pywps.app.WPSRequest`` whose ``inputs`` are PyWPS inputs holding our values."""
    from pywps.app.WPSRequest import WPSRequest

    request = WPSRequest()
    request.operation = "execute"
    request.version = "1.0.0"
    request.identifier = process.identifier
    request.language = getattr(form, "language", None) or "en-US"
    request.store_execute = "true" if getattr(form, "store", False) else "false"
    request.status = "true" if getattr(form, "status", False) else "false"
    request.lineage = "true" if getattr(form, "lineage", False) else "false"
    request.raw = bool(getattr(form, "raw", False))
    request.outputs = _requested_outputs(process, form)
    request.inputs = {}
    for source in process.inputs:
        values = inputs.get(source.identifier)
        if values:
            made = [_input(source, value) for value in values]
        elif getattr(source, "_default", None) is not None:
            made = [_default_input(source)]
        else:
            continue
        request.inputs[source.identifier] = deque(made, maxlen=source.max_occurs)
    return request


def _requested_outputs(process: Any, form: Any) -> dict[str, dict[str, Any]]:
    """``request.outputs`` as PyWPS has it; the process's outputs set up to match."""
    requested: dict[str, dict[str, Any]] = {}
    for wanted in getattr(form, "outputs", None) or ():
        entry: dict[str, Any] = {"asReference": "true" if wanted.as_reference else "false"}
        for key, value in (
            ("mimetype", wanted.mime_type),
            ("encoding", wanted.encoding),
            ("schema", wanted.schema),
            ("uom", wanted.uom),
        ):
            if value:
                entry[key] = value
        requested[wanted.identifier] = entry
    raw = bool(getattr(form, "raw", False))
    for output in process.outputs:
        entry = requested.get(output.identifier)
        if entry is None:
            continue
        if not raw and hasattr(output, "as_reference"):
            output.as_reference = entry["asReference"] == "true"
        if entry.get("mimetype") and _kind(output) == "complex":
            found = _matching_format(output, entry)
            if found is not None:
                output.data_format = found
    return requested


def _matching_format(item: Any, wanted: Mapping[str, Any]) -> Any:
    mime_type, encoding, schema = (wanted.get(k) for k in ("mimetype", "encoding", "schema"))
    for fmt in item.supported_formats:
        if (
            (not mime_type or (fmt.mime_type or "").lower() == mime_type.lower())
            and (not encoding or (fmt.encoding or "").lower() == encoding.lower())
            and (not schema or fmt.schema == schema)
        ):
            return fmt
    return None


def _default_input(source: Any) -> Any:
    made = source.clone()
    if _kind(source) == "complex" and not made.data_set:
        made._set_default_value()
    return made


def _input(source: Any, value: Any) -> Any:
    """One PyWPS input (a clone of the process's) holding one of our values."""
    made = source.clone()
    kind = _kind(source)
    if kind == "literal":
        made.data = value
        return made
    if kind == "bbox":
        if isinstance(value, BoundingBox):
            made.data = [*value.lower, *value.upper]
            if value.crs:
                made.crs = value.crs
            made.dimensions = value.dimensions
        else:
            made.data = value
        return made
    if not isinstance(value, ComplexData):
        value = ComplexData(data=value)
    found = _matching_format(
        source, {"mimetype": value.mime_type, "encoding": value.encoding, "schema": value.schema}
    )
    if found is None and value.mime_type:
        found = _matching_format(source, {"mimetype": value.mime_type})
    if found is not None:
        made.data_format = found
    if value.href:
        _reference(made, value)
    elif value.path is not None:
        made.file = str(value.path)
    elif (value.encoding or "").lower() == "base64":
        made.data = value.read()  # PyWPS decodes inline base64 content
    else:
        made.data = value.data if value.data is not None else ""
    return made


def _reference(made: Any, value: ComplexData) -> None:
    """A reference input, already fetched by the server: ``.url`` is the reference,
    ``.file`` (and so ``.data`` and ``.stream``) its content, with no download."""
    from pywps.inout.basic import UrlHandler

    href = value.href or ""
    name = made._build_file_name(href=href)
    if value.path is not None:
        shutil.copyfile(value.path, name)
    else:
        content = value.data if value.data is not None else b""
        Path(name).write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    if href.lower().startswith("file:"):
        made.file = name  # as PyWPS links a file reference into its workdir
        return
    made.url = href
    handler = made._iohandler
    if isinstance(handler, UrlHandler):
        handler._file = name
    made.inpt = {"identifier": made.identifier, "href": href}


# --------------------------------------------------------------------------- outputs


def _output_value(output: Any) -> Any:
    """An output's value as a plain handler would return it."""
    kind = _kind(output)
    if kind == "literal":
        return _typed(output.data, "string") if hasattr(output.data, "geturl") else output.data
    if kind == "bbox":
        return _bbox(output)
    content = _content(output)
    fmt = output.data_format
    return ComplexData(
        data=content,
        mime_type=fmt.mime_type if fmt else None,
        schema=(fmt.schema or None) if fmt else None,
    )


def _bbox(output: Any) -> BoundingBox:
    data = list(output.data or ())
    half = len(data) // 2
    return BoundingBox(tuple(data[:half]), tuple(data[half:]), crs=output.crs or None)


def _content(output: Any) -> bytes:
    """A complex output's content, as bytes."""
    if output.prop == "file":
        return Path(output.file).read_bytes()
    data = output.data
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    return json.dumps(data).encode("utf-8")


def make_output_values(
    process: PyWPSProcess, response: Response, form: Any, outputs_dir: Path, job_id: str
) -> list[Any]:
    """The job's outputs (``OutputValue``) from what the handler put in ``response.outputs``.

    Which outputs, and by reference or not: those the form asks for, else all
    of them, by reference when the PyWPS output says ``as_reference`` (as PyWPS
    answers). Formats and units of measure are the outputs' own (PyWPS's
    ``data_format`` and ``uom``, set by the request or by the handler).
    """
    from .jobs.document import BASE_URL_PLACEHOLDER
    from .wps.request import OutputRequest
    from .wps.response import OutputValue

    raw = bool(getattr(form, "raw", False))
    wanted = list(getattr(form, "outputs", None) or ())
    if not wanted:
        wanted = [OutputRequest(o.identifier) for o in process.outputs]
    listed = bool(getattr(form, "outputs", None))
    names: set[str] = set()
    values: list[Any] = []
    for request in wanted:
        spec = process.output(request.identifier)
        output = response.outputs.get(request.identifier)
        if spec is None or output is None:
            continue
        kind = _kind(output)
        if output.prop is None if kind == "complex" else output.data is None:
            continue  # not produced
        if raw or listed:
            by_reference = raw or request.as_reference
        else:
            by_reference = bool(getattr(output, "as_reference", False))
        value = OutputValue(request.identifier, spec)
        if kind == "literal":
            # as PyWPS writes it: the unit's reference (a URN) when it has one, else its name
            uom = output.uom
            value.uom = (
                _text(getattr(uom, "reference", None) or getattr(uom, "uom", uom))
                or request.uom
                or None
            )
            data = _output_value(output)
            if by_reference:
                name = _name(request.identifier, ".txt", names)
                _write(outputs_dir, name, _literal_text(data, spec).encode("utf-8"))
                value.href = f"{BASE_URL_PLACEHOLDER}/outputs/{job_id}/{name}"
                value.mime_type = "text/plain"
            else:
                value.value = data
        elif kind == "bbox":
            box = _bbox(output)
            if by_reference:
                name = _name(request.identifier, ".txt", names)
                _write(outputs_dir, name, _bbox_text(box).encode("utf-8"))
                value.href = f"{BASE_URL_PLACEHOLDER}/outputs/{job_id}/{name}"
                value.mime_type = "text/plain"
            else:
                value.value = box
        else:
            fmt = output.data_format
            value.mime_type = fmt.mime_type if fmt else None
            value.schema = (fmt.schema or None) if fmt else None
            value.encoding = (fmt.encoding or None) if fmt else None
            if by_reference and output.prop == "url":
                value.href = output.url  # a URL of the process's own, sent as it is
                value.encoding = None
            elif by_reference:
                suffix = (fmt.extension if fmt else None) or Format(value.mime_type or "").suffix
                if output.prop == "file":
                    name = _name(Path(output.file).name, "", names)
                    _copy(outputs_dir, name, Path(output.file))
                else:
                    name = _name(request.identifier, suffix, names)
                    _write(outputs_dir, name, _content(output))
                value.href = f"{BASE_URL_PLACEHOLDER}/outputs/{job_id}/{name}"
                value.encoding = None  # the file holds the raw content
            else:
                content = _content(output)
                if (value.encoding or "").lower() != "base64" and not _is_text(content):
                    value.encoding = "base64"  # as PyWPS does for binary content
                value.value = ComplexData(data=content, mime_type=value.mime_type)
        values.append(value)
    return values


def _is_text(content: bytes) -> bool:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _name(name: str, suffix: str, taken: set[str]) -> str:
    """An output file name: ``name`` + ``suffix`` if it is a safe, new one, else made so."""
    from .jobs.jobdir import OUTPUT_NAME

    base = name + suffix
    if not OUTPUT_NAME.match(base):
        base = "output" + (suffix or Path(name).suffix)
        if not OUTPUT_NAME.match(base):
            base = "output"
    stem, ext = os.path.splitext(base)
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{stem}_{number}{ext}"
    taken.add(candidate)
    return candidate


def _write(outputs_dir: Path, name: str, content: bytes) -> None:
    from .jobs.jobdir import write_output

    write_output(outputs_dir, name, content)


def _copy(outputs_dir: Path, name: str, source: Path) -> None:
    from .jobs.jobdir import open_output

    fd = open_output(outputs_dir, name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "wb") as target, open(source, "rb") as stream:
        shutil.copyfileobj(stream, target, 1 << 20)


def _literal_text(value: Any, spec: Any) -> str:
    from .wps.literals import format_literal

    return format_literal(value, getattr(spec, "data_type", None))


def _bbox_text(box: BoundingBox) -> str:
    from .wps.literals import format_literal

    corners = ",".join(format_literal(v) for v in (*box.lower, *box.upper))
    return corners + (f",{box.crs}" if box.crs else "")


def _request_uuid(job_id: str) -> Any:
    try:
        return uuid.UUID(job_id)
    except ValueError:
        return job_id
