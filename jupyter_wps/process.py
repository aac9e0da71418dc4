"""What a WPS process is: identifier, typed inputs and outputs, and a handler.

A process is either a plain function with type hints wrapped by :func:`process`
(inputs and outputs come from the signature, the decorator fills in the rest)
or a :class:`Process` built by hand (or subclassed) for full control.

This module is imported by the launcher on compute nodes: it depends on the
standard library only.
"""

from __future__ import annotations

import base64
import contextvars
import datetime as dt
import importlib
import inspect
import re
import textwrap
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "AllowedRange",
    "BoundingBox",
    "BoundingBoxInput",
    "BoundingBoxOutput",
    "ComplexData",
    "ComplexInput",
    "ComplexOutput",
    "Format",
    "LiteralInput",
    "LiteralOutput",
    "Process",
    "process",
    "progress",
]

#: ``maxOccurs`` of an input declared as ``list[...]`` (WPS 1.0.0 has no "unbounded").
LIST_MAX_OCCURS = 1000

LITERAL_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "double": float,
    "float": float,
    "boolean": bool,
    "date": dt.date,
    "dateTime": dt.datetime,
    "time": dt.time,
    "anyURI": str,
}
_TYPE_NAMES: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "double",
    bool: "boolean",
    dt.datetime: "dateTime",
    dt.date: "date",
    dt.time: "time",
}


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Format:
    """A ComplexData format: MIME type, and optionally encoding and schema."""

    mime_type: str
    encoding: str | None = None
    schema: str | None = None
    extension: str | None = None

    @property
    def suffix(self) -> str:
        """File name suffix for data of this format."""
        if self.extension:
            return self.extension if self.extension.startswith(".") else "." + self.extension
        return SUFFIXES.get(self.mime_type, ".dat")

    def matches(self, mime_type: str | None, encoding: str | None, schema: str | None) -> bool:
        """True when a requested format (unset parts match anything) is this one."""
        return (
            (not mime_type or mime_type.lower() == self.mime_type.lower())
            and (not encoding or (encoding.lower() == (self.encoding or "").lower()))
            and (not schema or schema == self.schema)
        )


SUFFIXES = {
    "text/plain": ".txt",
    "text/xml": ".xml",
    "application/xml": ".xml",
    "application/json": ".json",
    "text/csv": ".csv",
    "application/x-netcdf": ".nc",
    "application/netcdf": ".nc",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
    "application/geo+json": ".geojson",
    "application/vnd.geo+json": ".geojson",
    "application/gml+xml": ".gml",
    "application/octet-stream": ".bin",
    "application/zip": ".zip",
}
FORMATS = {
    "text": Format("text/plain"),
    "xml": Format("text/xml"),
    "json": Format("application/json"),
    "binary": Format("application/octet-stream", encoding="base64"),
}


@dataclass
class BoundingBox:
    """A bounding box: lower and upper corners in a CRS."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    crs: str | None = None

    def __post_init__(self) -> None:
        self.lower = tuple(float(v) for v in self.lower)
        self.upper = tuple(float(v) for v in self.upper)
        if len(self.lower) != len(self.upper) or not self.lower:
            raise ValueError("a bounding box needs corners of the same, non-zero dimension")

    @property
    def dimensions(self) -> int:
        return len(self.lower)


@dataclass
class ComplexData:
    """Complex data (a file's worth) with its format.

    Holds either the content (``data``) or a file (``path``); ``href`` keeps the
    reference it came from, if any.
    """

    data: bytes | str | None = None
    mime_type: str | None = None
    encoding: str | None = None
    schema: str | None = None
    path: Path | None = None
    href: str | None = None

    def read(self) -> bytes:
        """The content as bytes (base64 decoded when so encoded)."""
        if self.data is None:
            if self.path is None:
                return b""
            return Path(self.path).read_bytes()
        raw = self.data.encode() if isinstance(self.data, str) else self.data
        if (self.encoding or "").lower() == "base64" and self.path is None:
            return base64.b64decode(raw)
        return raw

    @property
    def text(self) -> str:
        return self.read().decode("utf-8")

    def __str__(self) -> str:
        return self.text


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class AllowedRange:
    """A range of allowed literal values (closure as in OWS: closed, open, ...)."""

    minimum: Any = None
    maximum: Any = None
    spacing: Any = None
    closure: str = "closed"

    def contains(self, value: Any) -> bool:
        low_open = self.closure in ("open", "open-closed")
        high_open = self.closure in ("open", "closed-open")
        if self.minimum is not None and (
            value < self.minimum or (low_open and value == self.minimum)
        ):
            return False
        return not (
            self.maximum is not None
            and (value > self.maximum or (high_open and value == self.maximum))
        )


@dataclass
class _Parameter:
    identifier: str = ""
    title: str = ""
    abstract: str = ""
    keywords: Sequence[str] = ()
    metadata: Sequence[str] = ()


@dataclass
class _Input(_Parameter):
    min_occurs: int = 1
    max_occurs: int = 1


@dataclass
class LiteralInput(_Input):
    data_type: str = "string"
    allowed_values: Sequence[Any] = ()
    default: Any = None
    uoms: Sequence[str] = ()

    kind = "literal"

    def __post_init__(self) -> None:
        if self.data_type not in LITERAL_TYPES:
            raise ValueError(f"unknown literal data type {self.data_type!r}")


@dataclass
class ComplexInput(_Input):
    formats: Sequence[Format] = (FORMATS["text"],)
    max_megabytes: float | None = None

    kind = "complex"


@dataclass
class BoundingBoxInput(_Input):
    crss: Sequence[str] = ("EPSG:4326",)

    kind = "bbox"


@dataclass
class LiteralOutput(_Parameter):
    data_type: str = "string"
    uoms: Sequence[str] = ()

    kind = "literal"


@dataclass
class ComplexOutput(_Parameter):
    formats: Sequence[Format] = (FORMATS["text"],)

    kind = "complex"


@dataclass
class BoundingBoxOutput(_Parameter):
    crss: Sequence[str] = ("EPSG:4326",)

    kind = "bbox"


InputSpec = LiteralInput | ComplexInput | BoundingBoxInput
OutputSpec = LiteralOutput | ComplexOutput | BoundingBoxOutput


# --------------------------------------------------------------------------- progress

ProgressReporter = Callable[[int, str], None]
_reporter: contextvars.ContextVar[ProgressReporter | None] = contextvars.ContextVar(
    "jupyter_wps_progress", default=None
)


def progress(percent: float, message: str = "") -> None:
    """Report a running process's progress (0-100) and a message.

    A no-op outside a job, so process functions can be called directly too.
    """
    reporter = _reporter.get()
    if reporter is not None:
        reporter(max(0, min(100, int(percent))), message)


def report_progress_to(reporter: ProgressReporter | None) -> contextvars.Token:
    """Route :func:`progress` calls of this context to ``reporter`` (used by the launcher)."""
    return _reporter.set(reporter)


# --------------------------------------------------------------------------- process


class Process:
    """A WPS process: description plus a handler.

    ``handler(inputs)`` receives, for each input identifier, the list of its
    values (typed literals, :class:`ComplexData`, :class:`BoundingBox`) and
    returns a mapping of output identifier to value. Subclass and override
    :meth:`handler`, or pass ``handler=``.
    """

    def __init__(
        self,
        identifier: str,
        title: str = "",
        inputs: Iterable[InputSpec] = (),
        outputs: Iterable[OutputSpec] = (),
        handler: Callable[[dict[str, list[Any]]], Mapping[str, Any]] | None = None,
        abstract: str = "",
        version: str = "1.0.0",
        keywords: Sequence[str] = (),
        metadata: Sequence[str] = (),
        store_supported: bool = True,
        status_supported: bool = True,
        resources: Mapping[str, Any] | None = None,
    ) -> None:
        if not identifier or any(c in identifier for c in "/\\ \t\n,;=[]"):
            raise ValueError(f"invalid process identifier {identifier!r}")
        self.identifier = identifier
        self.title = title or identifier
        self.abstract = abstract
        self.version = version
        self.keywords = tuple(keywords)
        self.metadata = tuple(metadata)
        self.inputs: list[InputSpec] = list(inputs)
        self.outputs: list[OutputSpec] = list(outputs)
        self.store_supported = store_supported
        self.status_supported = status_supported
        #: the author's batch resources for this process (walltime, memory, cores, ...)
        self.resources = dict(resources or {})
        if handler is not None:
            self._handler = handler
        #: ``module:attribute`` the process can be imported from, when it can.
        self.import_path: str | None = None
        _check_unique(self.identifier, "input", self.inputs)
        _check_unique(self.identifier, "output", self.outputs)

    def handler(self, inputs: dict[str, list[Any]]) -> Mapping[str, Any]:
        handler = getattr(self, "_handler", None)
        if handler is None:
            raise NotImplementedError(f"process {self.identifier} has no handler")
        return handler(inputs)

    def input(self, identifier: str) -> InputSpec | None:
        return next((i for i in self.inputs if i.identifier == identifier), None)

    def output(self, identifier: str) -> OutputSpec | None:
        return next((o for o in self.outputs if o.identifier == identifier), None)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.identifier}>"


def _check_unique(identifier: str, what: str, params: Sequence[_Parameter]) -> None:
    seen: set[str] = set()
    for param in params:
        if not param.identifier:
            raise ValueError(f"process {identifier}: an {what} has no identifier")
        if param.identifier in seen:
            raise ValueError(f"process {identifier}: duplicate {what} {param.identifier!r}")
        seen.add(param.identifier)


class FunctionProcess(Process):
    """A process whose handler is a plain Python function.

    Inputs are passed as keyword arguments: a single value when ``maxOccurs``
    is 1, else a list; missing optional inputs take the function's defaults.
    The return value is the single output, or a mapping (or tuple, in output
    order) when there are several.
    """

    def __init__(self, function: Callable[..., Any], **kwargs: Any) -> None:
        self.function = function
        super().__init__(**kwargs)

    def handler(self, inputs: dict[str, list[Any]]) -> Mapping[str, Any]:
        kwargs = {}
        for spec in self.inputs:
            values = inputs.get(spec.identifier)
            if not values:
                continue
            kwargs[spec.identifier] = values if spec.max_occurs > 1 else values[0]
        result = self.function(**kwargs)
        if len(self.outputs) == 1 and not (
            isinstance(result, Mapping) and set(result) == {self.outputs[0].identifier}
        ):
            return {self.outputs[0].identifier: result}
        if isinstance(result, tuple) and not isinstance(result, BoundingBox):
            return dict(zip((o.identifier for o in self.outputs), result, strict=True))
        if not isinstance(result, Mapping):
            raise TypeError(
                f"process {self.identifier} has {len(self.outputs)} outputs: "
                "return a mapping or a tuple of them"
            )
        return result


# --------------------------------------------------------------------------- docstrings

#: Sections describing the parameters: their entries become the inputs' abstracts.
_PARAMETER_SECTIONS = frozenset(
    {
        "args",
        "arguments",
        "parameters",
        "params",
        "keyword args",
        "keyword arguments",
        "other parameters",
    }
)
#: Sections describing the return value: the outputs' abstracts.
_RETURN_SECTIONS = frozenset({"returns", "return"})
#: Prose for whoever reads the description: kept in the process abstract, under its heading.
_KEPT_SECTIONS = frozenset({"notes", "note", "warnings", "warning"})
#: About calling the function from Python, of no use to a WPS client: left out.
_DROPPED_SECTIONS = frozenset(
    {
        "raises",
        "raise",
        "warns",
        "yields",
        "yield",
        "receives",
        "examples",
        "example",
        "see also",
        "references",
        "attributes",
        "methods",
        "todo",
    }
)
_SECTIONS = _PARAMETER_SECTIONS | _RETURN_SECTIONS | _KEPT_SECTIONS | _DROPPED_SECTIONS
_UNDERLINE = re.compile(r"^(-{3,}|={3,})\s*$")
#: ``name (type): text`` or ``name: text`` (Google); ``*args``/``**kwargs`` lose their stars.
_GOOGLE_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\((.*?)\))?\s*:(?:\s+(.*))?$")
#: ``name``, ``name : type`` or ``x1, x2 : type`` (NumPy).
_NUMPY_ENTRY = re.compile(r"^(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(?::\s*(.*))?$")
#: A leading ``type:`` of a Google Returns section (``float: The mean.``).
_TYPE_PREFIX = re.compile(r"^[\w.]+(?:\[.*?\])?(?:\s*\|\s*[\w.]+(?:\[.*?\])?)*\s*:\s+")


@dataclass(frozen=True)
class Docstring:
    """What a function's docstring says, in the parts a process description has."""

    title: str = ""
    #: the description paragraphs after the title, then any Notes/Warnings section
    abstract: str = ""
    #: each documented parameter's text, by name
    parameters: dict[str, str] = field(default_factory=dict)
    #: the whole Returns section (a leading type left out): the abstract of a single output
    returns: str = ""
    #: the Returns section's named entries (``name: text``): one output's abstract each
    named_returns: dict[str, str] = field(default_factory=dict)

    def output_abstract(self, identifier: str, single: bool) -> str:
        """The text for an output: its named entry, else the whole section if it is the only one."""
        return self.named_returns.get(identifier) or (self.returns if single else "")


@dataclass
class _Section:
    name: str  # lower case: the key into the section sets
    heading: str  # as written
    numpy: bool  # underlined: its body is not indented
    #: a Google heading on the first line: cleandoc took its body's indentation away, so the
    #: body goes on (at the margin) up to a blank line followed by text at the margin
    flush: bool = False
    body: list[str] = field(default_factory=list)


def parse_docstring(doc: str) -> Docstring:
    """Split a Google- or NumPy-style docstring into what a process description needs.

    Title: the first paragraph. Abstract: the paragraphs after it up to the first
    section, verbatim (so a docstring without sections gives what it always did),
    plus Notes/Warnings sections. Args/Parameters entries give the inputs' texts,
    Returns the outputs'; Raises, Examples and the like are about calling the
    function from Python and are left out. Only the usual section names count as
    headings, so prose ending in a colon stays prose.
    """
    lines = inspect.cleandoc(doc).splitlines() if doc else []
    description: list[str] = []
    sections: list[_Section] = []
    current: _Section | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        following = lines[index + 1] if index + 1 < len(lines) else ""
        at_margin = bool(stripped) and not line[0].isspace()
        if at_margin and stripped.lower() in _SECTIONS and _UNDERLINE.match(following.strip()):
            current = _Section(stripped.lower(), stripped, numpy=True)
            sections.append(current)
            index += 2
            continue
        if at_margin and stripped.endswith(":") and stripped[:-1].strip().lower() in _SECTIONS:
            heading = stripped[:-1].strip()
            current = _Section(heading.lower(), heading, numpy=False, flush=index == 0)
            sections.append(current)
        elif current is not None and (
            current.numpy
            or not at_margin
            or (current.flush and not (current.body and not current.body[-1].strip()))
        ):
            current.body.append(line)
        else:  # a Google section ends where the text comes back to the margin
            current = None
            description.append(line)
        index += 1

    title_end = next((i for i, line in enumerate(description) if not line.strip()), None)
    if title_end is None:
        title_end = len(description)
    title = " ".join(line.strip() for line in description[:title_end]).strip()
    abstract = "\n".join(description[title_end:]).strip()
    parameters: dict[str, str] = {}
    returns: list[str] = []
    named_returns: dict[str, str] = {}
    for section in sections:
        body = textwrap.dedent("\n".join(section.body)).strip("\n")
        if section.name in _KEPT_SECTIONS and body.strip():
            abstract = "\n\n".join(p for p in (abstract, f"{section.heading}: {body.strip()}") if p)
        elif section.name in _PARAMETER_SECTIONS:
            parameters.update(_entries(body, section.numpy))
        elif section.name in _RETURN_SECTIONS:
            named_returns.update(_entries(body, section.numpy))
            returns.append(_returns_text(body, section.numpy))
    return Docstring(
        title=title,
        abstract=abstract,
        parameters=parameters,
        returns="\n\n".join(r for r in returns if r),
        named_returns=named_returns,
    )


def _items(body: str) -> list[tuple[str, list[str]]]:
    """A section's entries: each line at the margin, with the indented lines after it."""
    items: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.strip() and not line[0].isspace():
            items.append((line.strip(), []))
        elif items:
            items[-1][1].append(line)
    return [(header, textwrap.dedent("\n".join(more)).splitlines()) for header, more in items]


def _paragraphs(lines: Sequence[str]) -> str:
    """Wrapped lines joined into paragraphs (blank lines between them kept as one)."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join(" ".join(p) for p in paragraphs if p)


def _entries(body: str, numpy: bool) -> dict[str, str]:
    """``name -> text`` of a Parameters (or named Returns) section; undescribed names left out."""
    found: dict[str, str] = {}
    for header, more in _items(body):
        if numpy:
            match = _NUMPY_ENTRY.match(header)
            names = [n.strip().lstrip("*") for n in match.group(1).split(",")] if match else []
            text = _paragraphs(more)
        else:
            match = _GOOGLE_ENTRY.match(header)
            names = [match.group(1)] if match else []
            text = _paragraphs([match.group(3) or "", *more]) if match else ""
        for name in names:
            if text:
                found[name] = text
    return found


def _returns_text(body: str, numpy: bool) -> str:
    """A Returns section as one text, without the type it may start with."""
    if not numpy:
        return _paragraphs(_TYPE_PREFIX.sub("", body.strip(), count=1).splitlines())
    items = _items(body)
    described = [_paragraphs(more) for _, more in items if _paragraphs(more)]
    if described:
        return "\n\n".join(described)
    # no indented description: the line is the text, unless it is only a type (or name : type)
    if len(items) == 1 and _NUMPY_ENTRY.match(items[0][0]):
        return ""
    return _paragraphs(body.splitlines())


def process(
    function: Callable[..., Any] | None = None,
    *,
    identifier: str | None = None,
    title: str | None = None,
    abstract: str | None = None,
    inputs: Mapping[str, InputSpec] | None = None,
    outputs: Mapping[str, OutputSpec] | None = None,
    **kwargs: Any,
) -> Any:
    """Make a WPS process of a function with type hints.

    Used bare (``@process``) or with arguments. ``inputs``/``outputs`` map
    names to specs that refine (title, allowed values, formats...) what the
    signature says; the return annotation gives the one output ``output``
    unless ``outputs`` names them. The docstring gives the title, the abstract
    and the inputs' and outputs' abstracts (see :func:`parse_docstring`);
    what is given here explicitly wins.
    """

    def wrap(func: Callable[..., Any]) -> FunctionProcess:
        doc = parse_docstring(inspect.getdoc(func) or "")
        return FunctionProcess(
            func,
            identifier=identifier or func.__name__,
            title=title or doc.title or func.__name__,
            abstract=abstract if abstract is not None else doc.abstract,
            inputs=inputs_from_signature(func, inputs or {}, doc),
            outputs=outputs_from_signature(func, outputs or {}, doc),
            **kwargs,
        )

    return wrap(function) if function is not None else wrap


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """``Optional[X]`` -> (X, True); anything else -> (it, False)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, _UNION_TYPE) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0], True
    return annotation, False


try:  # Python >= 3.10: X | None
    from types import UnionType as _UNION_TYPE
except ImportError:  # pragma: no cover
    _UNION_TYPE = typing.Union  # type: ignore[misc,assignment]


def _spec_for_annotation(annotation: Any, output: bool) -> _Parameter:
    """A default input or output spec for a type annotation."""
    if typing.get_origin(annotation) is typing.Literal:
        choices = typing.get_args(annotation)
        data_type = _TYPE_NAMES.get(type(choices[0]), "string")
        if output:
            return LiteralOutput(data_type=data_type)
        return LiteralInput(data_type=data_type, allowed_values=choices)
    if annotation is inspect.Parameter.empty or annotation is Any:
        annotation = str
    if isinstance(annotation, type) and issubclass(annotation, BoundingBox):
        return BoundingBoxOutput() if output else BoundingBoxInput()
    if isinstance(annotation, type) and issubclass(annotation, (ComplexData, bytes, Path)):
        formats = (FORMATS["binary"],) if annotation is bytes else (FORMATS["text"],)
        return ComplexOutput(formats=formats) if output else ComplexInput(formats=formats)
    data_type = _TYPE_NAMES.get(annotation) if isinstance(annotation, type) else None
    if data_type is None:
        raise TypeError(f"no WPS data type for annotation {annotation!r}")
    return LiteralOutput(data_type=data_type) if output else LiteralInput(data_type=data_type)


def _merge(derived: _Parameter, given: _Parameter | None, identifier: str) -> Any:
    """The given spec, with what it leaves unset taken from the signature (and docstring)."""
    if given is None:
        return replace(derived, identifier=identifier)
    merged = replace(given, identifier=given.identifier or identifier)
    if not given.abstract:
        merged = replace(merged, abstract=derived.abstract)
    if isinstance(given, LiteralInput) and isinstance(derived, LiteralInput):
        defaults = LiteralInput()
        for name in ("data_type", "default", "allowed_values", "min_occurs", "max_occurs"):
            if getattr(given, name) == getattr(defaults, name):
                merged = replace(merged, **{name: getattr(derived, name)})
    elif isinstance(given, LiteralOutput) and isinstance(derived, LiteralOutput):
        if given.data_type == "string":
            merged = replace(merged, data_type=derived.data_type)
    elif isinstance(given, _Input) and isinstance(derived, _Input):
        for name in ("min_occurs", "max_occurs"):
            if getattr(given, name) == 1:
                merged = replace(merged, **{name: getattr(derived, name)})
    return merged


def inputs_from_signature(
    func: Callable[..., Any], given: Mapping[str, InputSpec], doc: Docstring | None = None
) -> list[InputSpec]:
    hints = typing.get_type_hints(func, include_extras=False)
    specs: list[InputSpec] = []
    for name, param in inspect.signature(func).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation, optional = _unwrap_optional(hints.get(name, param.annotation))
        max_occurs = 1
        if typing.get_origin(annotation) in (list, Sequence, typing.Sequence):
            (annotation,) = typing.get_args(annotation) or (str,)
            max_occurs = LIST_MAX_OCCURS
        derived = _spec_for_annotation(annotation, output=False)
        assert isinstance(derived, _Input)
        derived.max_occurs = max_occurs
        has_default = param.default is not inspect.Parameter.empty
        derived.min_occurs = 0 if (optional or has_default) else 1
        derived.abstract = doc.parameters.get(name, "") if doc else ""
        if isinstance(derived, LiteralInput) and has_default and param.default is not None:
            derived.default = param.default
        specs.append(_merge(derived, given.get(name), name))
    unknown = set(given) - {s.identifier for s in specs} - set(inspect.signature(func).parameters)
    if unknown:
        raise ValueError(f"{func.__name__}: inputs {sorted(unknown)} are not parameters")
    return specs


def outputs_from_signature(
    func: Callable[..., Any], given: Mapping[str, OutputSpec], doc: Docstring | None = None
) -> list[OutputSpec]:
    if given:
        specs = [replace(spec, identifier=spec.identifier or name) for name, spec in given.items()]
    else:
        annotation = typing.get_type_hints(func).get("return", str)
        annotation, _ = _unwrap_optional(annotation)
        specs = [_merge(_spec_for_annotation(annotation, output=True), None, "output")]
    if doc is None:
        return specs
    single = len(specs) == 1
    return [
        spec
        if spec.abstract
        else replace(spec, abstract=doc.output_abstract(spec.identifier, single))
        for spec in specs
    ]


# --------------------------------------------------------------------------- discovery


def as_processes(obj: Any, import_path: str | None = None) -> list[Process]:
    """Processes from an object: a Process, a function, or an iterable of them.

    A ``pywps.Process`` (an instance, or a subclass taking no arguments) is adapted
    (:mod:`jupyter_wps.pywps_adapter`); PyWPS is imported only when one is found.
    """
    if isinstance(obj, Process):
        if import_path and obj.import_path is None:
            obj.import_path = import_path
        return [obj]
    if isinstance(obj, type) and issubclass(obj, Process):
        instance = obj()
        instance.import_path = import_path
        return [instance]
    if _is_pywps_process(obj) or (isinstance(obj, type) and _is_pywps_process(obj, of_class=True)):
        from .pywps_adapter import adapt

        return [adapt(obj() if isinstance(obj, type) else obj, import_path)]
    if callable(obj):
        made = process(obj)
        made.import_path = import_path
        return [made]
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        found: list[Process] = []
        for item in obj:
            path = None
            if import_path and isinstance(item, Process):
                module = import_path.partition(":")[0]
                path = item.import_path or _module_attr(module, item)
            elif import_path and _is_pywps_process(item):
                # PyWPS services list instances: the launcher finds one in the list by its
                # identifier (and adapts it again) instead of unpickling it
                path = import_path
            found.extend(as_processes(item, path))
        return found
    raise TypeError(f"not a process: {obj!r}")


def _is_pywps_process(obj: Any, of_class: bool = False) -> bool:
    """Is ``obj`` a ``pywps.Process`` (or, ``of_class``, a subclass of it)? PyWPS not imported."""
    return any(
        cls.__name__ == "Process" and cls.__module__ == "pywps.app.Process"
        for cls in (obj.__mro__ if of_class else type(obj).__mro__)
    )


def _module_attr(module: str, item: Process) -> str | None:
    """``module:name`` when ``item`` is a module-level attribute of ``module``."""
    mod = importlib.import_module(module)
    for name, value in vars(mod).items():
        if value is item:
            return f"{module}:{name}"
    return None


def load_import_path(path: str) -> Any:
    """Import ``package.module:attribute`` (or ``package.module.attribute``)."""
    module, sep, attr = path.partition(":")
    if not sep:
        module, _, attr = path.rpartition(".")
    if not module or not attr:
        raise ImportError(f"{path!r} is not of the form module:attribute")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass
class ProcessRegistry:
    """The processes a server offers, by identifier, in a stable order."""

    processes: dict[str, Process] = field(default_factory=dict)

    def add(self, proc: Process, replace_existing: bool = False) -> None:
        if proc.identifier in self.processes and not replace_existing:
            raise ValueError(f"two processes are named {proc.identifier!r}")
        self.processes[proc.identifier] = proc

    def add_from(self, obj: Any, import_path: str | None = None) -> None:
        for proc in as_processes(obj, import_path):
            self.add(proc)

    def remove(self, identifier: str) -> Process | None:
        """Take a process out (a published one, unpublished); the process, or None."""
        return self.processes.pop(identifier, None)

    def get(self, identifier: str) -> Process | None:
        return self.processes.get(identifier)

    def __iter__(self):
        return iter(self.processes.values())

    def __len__(self) -> int:
        return len(self.processes)

    def __contains__(self, identifier: object) -> bool:
        return identifier in self.processes
