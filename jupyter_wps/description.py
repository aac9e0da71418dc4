"""A process description as JSON, and back: how published processes travel.

A kernel that publishes a function sends the server its description as JSON
(:func:`to_json`) next to the pickled process. The server never unpickles the
pickle: it builds the process it lists, describes and validates requests against
from the JSON alone (:func:`from_json`), and the JSON is untrusted input, so
:func:`from_json` checks every field strictly and raises
:class:`DescriptionError` with a message naming the field.

Literal values (defaults, allowed values, range bounds) are JSON scalars of the
input's data type; dates, times and non-finite numbers are their XML Schema
lexical form (ISO 8601 strings, ``"INF"``).

Pure: the standard library and jupyter_wps's own pure modules (client and server use it).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from .config import OVERRIDABLE, parse_int, parse_memory, parse_walltime
from .process import (
    LITERAL_TYPES,
    AllowedRange,
    BoundingBoxInput,
    BoundingBoxOutput,
    ComplexInput,
    ComplexOutput,
    Format,
    LiteralInput,
    LiteralOutput,
    Process,
)
from .wps.exceptions import InvalidParameterValue
from .wps.literals import format_literal, parse_literal

__all__ = ["DescriptionError", "from_json", "process_arguments", "to_json"]

#: the version of this JSON form
FORMAT = 1

#: identifiers of published processes, inputs and outputs: a letter or underscore, then
#: letters, digits, ``_``, ``.`` and ``-`` (they name directories and KVP parameters)
IDENTIFIER = re.compile(r"^[^\W\d][\w.-]{0,127}$")
#: characters XML 1.0 cannot hold (a description with them would break GetCapabilities)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MIME_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+(?:\s*;\s*[\w.+-]+=[\w.+\"-]+)*$")
#: scheduler names (queue, account, qos): nothing a command line or native spec could misread
_SCHEDULER_NAME = re.compile(r"^[\w.@:+-]{1,128}$")
_CLOSURES = ("closed", "open", "open-closed", "closed-open")
_STRING_TYPES = ("string", "anyURI")
_MAX_OCCURS = 100_000
_MAX_ITEMS = 1000
_MAX_TEXT = 100_000
_MAX_SHORT = 1000


class DescriptionError(ValueError):
    """A process description that cannot be accepted; the message says where and why."""


# --------------------------------------------------------------------------- to JSON


def _literal_json(value: Any, data_type: str) -> Any:
    """A literal value as a JSON scalar (ISO strings for dates and times)."""
    if isinstance(value, (dt.date, dt.time)):
        return format_literal(value, data_type)
    if isinstance(value, float) and not math.isfinite(value):
        return {math.inf: "INF", -math.inf: "-INF"}.get(value, "NaN")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return format_literal(value, data_type)


def _allowed_json(item: Any, data_type: str) -> Any:
    if isinstance(item, AllowedRange):
        return {
            "minimum": None if item.minimum is None else _literal_json(item.minimum, data_type),
            "maximum": None if item.maximum is None else _literal_json(item.maximum, data_type),
            "spacing": None if item.spacing is None else _literal_json(item.spacing, data_type),
            "closure": item.closure,
        }
    return _literal_json(item, data_type)


def _format_json(fmt: Format) -> dict[str, Any]:
    return {
        "mime_type": fmt.mime_type,
        "encoding": fmt.encoding,
        "schema": fmt.schema,
        "extension": fmt.extension,
    }


def _parameter_json(spec: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": spec.kind,
        "identifier": spec.identifier,
        "title": spec.title,
        "abstract": spec.abstract,
        "keywords": list(spec.keywords),
        "metadata": list(spec.metadata),
    }
    if hasattr(spec, "min_occurs"):
        data["min_occurs"] = spec.min_occurs
        data["max_occurs"] = spec.max_occurs
    if spec.kind == "literal":
        data["data_type"] = spec.data_type
        data["uoms"] = list(spec.uoms)
        if isinstance(spec, LiteralInput):
            data["allowed_values"] = [_allowed_json(v, spec.data_type) for v in spec.allowed_values]
            data["default"] = _literal_json(spec.default, spec.data_type)
    elif spec.kind == "complex":
        data["formats"] = [_format_json(f) for f in spec.formats]
        if isinstance(spec, ComplexInput):
            data["max_megabytes"] = spec.max_megabytes
    else:
        data["crss"] = list(spec.crss)
    return data


def to_json(process: Process) -> dict[str, Any]:
    """Everything that describes ``process`` (not its handler), as JSON-safe data."""
    return {
        "format": FORMAT,
        "identifier": process.identifier,
        "title": process.title,
        "abstract": process.abstract,
        "version": process.version,
        "keywords": list(process.keywords),
        "metadata": list(process.metadata),
        "store_supported": process.store_supported,
        "status_supported": process.status_supported,
        "resources": {k: v for k, v in process.resources.items() if v not in (None, "")},
        "inputs": [_parameter_json(spec) for spec in process.inputs],
        "outputs": [_parameter_json(spec) for spec in process.outputs],
    }


# --------------------------------------------------------------------------- from JSON


class _Reader:
    """Reads one JSON object strictly: known keys only, each of the right type."""

    def __init__(self, data: Any, where: str, known: tuple[str, ...]) -> None:
        if not isinstance(data, Mapping):
            raise DescriptionError(f"{where}: expected an object, not {_kind(data)}")
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise DescriptionError(
                f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
                f"the fields are {', '.join(known)}"
            )
        self.data, self.where = data, where

    def _fail(self, key: str, problem: str) -> DescriptionError:
        return DescriptionError(f"{self.where}.{key}: {problem}")

    def text(
        self, key: str, default: str | None = "", limit: int = _MAX_SHORT, required: bool = False
    ) -> str | None:
        if key not in self.data or self.data[key] is None:
            if required:
                raise self._fail(key, "is required")
            return default
        return _text(self.data[key], f"{self.where}.{key}", limit)

    def identifier(self, key: str = "identifier") -> str:
        value = self.text(key, required=True, limit=128)
        assert value is not None
        if not IDENTIFIER.match(value):
            raise self._fail(
                key,
                f"{value!r} is not a valid identifier: a letter or underscore, then letters, "
                "digits, '_', '.' or '-' (at most 128)",
            )
        return value

    def texts(self, key: str, limit: int = _MAX_SHORT) -> tuple[str, ...]:
        items = self.items(key)
        return tuple(_text(v, f"{self.where}.{key}[{i}]", limit) for i, v in enumerate(items))

    def items(self, key: str, required: bool = False) -> list[Any]:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self._fail(key, "is required")
            return []
        if not isinstance(value, list):
            raise self._fail(key, f"expected a list, not {_kind(value)}")
        if len(value) > _MAX_ITEMS:
            raise self._fail(key, f"{len(value)} items; at most {_MAX_ITEMS}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, f"expected true or false, not {_kind(value)}")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, f"expected an integer, not {_kind(value)}")
        if not low <= value <= high:
            raise self._fail(key, f"{value} is not between {low} and {high}")
        return value


def _kind(value: Any) -> str:
    return {
        type(None): "null",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str):
        raise DescriptionError(f"{where}: expected a string, not {_kind(value)}")
    if len(value) > limit:
        raise DescriptionError(f"{where}: {len(value)} characters; at most {limit}")
    bad = _NOT_XML.search(value)
    if bad:
        raise DescriptionError(
            f"{where}: the character {bad.group()!r} cannot appear in a WPS document"
        )
    return value


def _literal(value: Any, data_type: str, where: str) -> Any:
    """A literal value of ``data_type`` from its JSON form (strictly typed)."""
    if isinstance(value, str):
        if data_type in _STRING_TYPES:
            return _text(value, where, _MAX_TEXT)
        try:
            return parse_literal(value, data_type)
        except InvalidParameterValue:
            raise DescriptionError(f"{where}: {value!r} is not a valid {data_type}") from None
    if isinstance(value, bool):
        if data_type == "boolean":
            return value
    elif isinstance(value, int):
        if data_type == "integer":
            return value
        if data_type in ("double", "float"):
            return float(value)
    elif isinstance(value, float) and data_type in ("double", "float"):
        return value
    raise DescriptionError(f"{where}: {_kind(value)} is not a value of type {data_type}")


def _range(data: Any, data_type: str, where: str) -> AllowedRange:
    reader = _Reader(data, where, ("minimum", "maximum", "spacing", "closure"))
    if data_type not in ("integer", "double", "float", "date", "dateTime", "time"):
        raise DescriptionError(f"{where}: a range of {data_type} values makes no sense")
    bounds = {
        key: None if data.get(key) is None else _literal(data[key], data_type, f"{where}.{key}")
        for key in ("minimum", "maximum", "spacing")
    }
    closure = reader.text("closure", "closed")
    if closure not in _CLOSURES:
        raise DescriptionError(f"{where}.closure: {closure!r} is not one of {', '.join(_CLOSURES)}")
    if bounds["spacing"] is not None:
        if data_type not in ("integer", "double", "float"):
            raise DescriptionError(f"{where}.spacing: only numeric ranges have a spacing")
        if not bounds["spacing"] > 0:
            raise DescriptionError(f"{where}.spacing: must be positive")
    if bounds["minimum"] is not None and bounds["maximum"] is not None:
        try:
            inverted = bounds["minimum"] > bounds["maximum"]
        except TypeError:  # a time zone on one bound only
            raise DescriptionError(f"{where}: the bounds cannot be compared") from None
        if inverted:
            raise DescriptionError(f"{where}: the minimum is above the maximum")
    return AllowedRange(closure=closure or "closed", **bounds)


def _format(data: Any, where: str) -> Format:
    reader = _Reader(data, where, ("mime_type", "encoding", "schema", "extension"))
    mime_type = reader.text("mime_type", required=True, limit=255) or ""
    if not _MIME_TYPE.match(mime_type):
        raise DescriptionError(f"{where}.mime_type: {mime_type!r} is not a MIME type")
    extension = reader.text("extension", None, limit=32)
    if extension is not None and not re.match(r"^\.?[\w.-]{1,31}$", extension):
        raise DescriptionError(f"{where}.extension: {extension!r} is not a file name suffix")
    return Format(
        mime_type,
        encoding=reader.text("encoding", None, limit=64) or None,
        schema=reader.text("schema", None, limit=2048) or None,
        extension=extension or None,
    )


_COMMON = ("kind", "identifier", "title", "abstract", "keywords", "metadata")
_INPUT_FIELDS = {
    "literal": (
        *_COMMON,
        "min_occurs",
        "max_occurs",
        "data_type",
        "allowed_values",
        "default",
        "uoms",
    ),
    "complex": (*_COMMON, "min_occurs", "max_occurs", "formats", "max_megabytes"),
    "bbox": (*_COMMON, "min_occurs", "max_occurs", "crss"),
}
_OUTPUT_FIELDS = {
    "literal": (*_COMMON, "data_type", "uoms"),
    "complex": (*_COMMON, "formats"),
    "bbox": (*_COMMON, "crss"),
}


def _parameter(data: Any, where: str, output: bool) -> Any:
    fields = _OUTPUT_FIELDS if output else _INPUT_FIELDS
    kind = data.get("kind") if isinstance(data, Mapping) else None
    if kind not in fields:
        raise DescriptionError(f"{where}.kind: expected one of {', '.join(map(repr, fields))}")
    reader = _Reader(data, where, fields[kind])
    common: dict[str, Any] = {
        "identifier": reader.identifier(),
        "title": reader.text("title"),
        "abstract": reader.text("abstract", limit=_MAX_TEXT),
        "keywords": reader.texts("keywords"),
        "metadata": reader.texts("metadata", limit=2048),
    }
    where = f"{where} ({common['identifier']})"
    reader.where = where
    if not output:
        common["min_occurs"] = reader.integer("min_occurs", 1, 0, _MAX_OCCURS)
        common["max_occurs"] = reader.integer("max_occurs", 1, 1, _MAX_OCCURS)
        if common["min_occurs"] > common["max_occurs"]:
            raise DescriptionError(f"{where}: min_occurs is above max_occurs")
    if kind == "literal":
        data_type = reader.text("data_type", "string")
        if data_type not in LITERAL_TYPES:
            raise DescriptionError(
                f"{where}.data_type: {data_type!r} is not one of {', '.join(LITERAL_TYPES)}"
            )
        uoms = reader.texts("uoms", limit=255)
        if output:
            return LiteralOutput(data_type=data_type, uoms=uoms, **common)
        allowed = tuple(
            _range(item, data_type, f"{where}.allowed_values[{i}]")
            if isinstance(item, Mapping)
            else _literal(item, data_type, f"{where}.allowed_values[{i}]")
            for i, item in enumerate(reader.items("allowed_values"))
        )
        default = data.get("default")
        if default is not None:
            default = _literal(default, data_type, f"{where}.default")
        return LiteralInput(
            data_type=data_type, allowed_values=allowed, default=default, uoms=uoms, **common
        )
    if kind == "complex":
        formats = tuple(
            _format(item, f"{where}.formats[{i}]")
            for i, item in enumerate(reader.items("formats", required=True))
        )
        if not formats:
            raise DescriptionError(f"{where}.formats: at least one format is needed")
        if output:
            return ComplexOutput(formats=formats, **common)
        limit = data.get("max_megabytes")
        if limit is not None and (
            isinstance(limit, bool)
            or not isinstance(limit, (int, float))
            or not (0 < limit < math.inf)
        ):
            raise DescriptionError(f"{where}.max_megabytes: expected a positive number or null")
        return ComplexInput(formats=formats, max_megabytes=limit, **common)
    crss = reader.texts("crss", limit=255)
    if not crss:
        raise DescriptionError(f"{where}.crss: at least one CRS is needed")
    return (BoundingBoxOutput if output else BoundingBoxInput)(crss=crss, **common)


_RESOURCE_PARSERS: dict[str, Callable[[str], Any]] = {
    "walltime": parse_walltime,
    "memory": parse_memory,
    "cores": parse_int,
}


def _resources(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    reader = _Reader(data, "resources", OVERRIDABLE)
    resources: dict[str, Any] = {}
    for key, value in reader.data.items():
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise DescriptionError(f"resources.{key}: expected a string or an integer")
        parser = _RESOURCE_PARSERS.get(key)
        if parser is None:
            text = str(value)
            if not _SCHEDULER_NAME.match(text):
                raise DescriptionError(f"resources.{key}: {text!r} is not a scheduler name")
            resources[key] = text
            continue
        try:
            resources[key] = parser(str(value))
        except ValueError as exc:
            raise DescriptionError(f"resources.{key}: {exc}") from None
        if key == "cores" and resources[key] < 1:
            raise DescriptionError("resources.cores: must be at least 1")
    return resources


_PROCESS_FIELDS = (
    "format",
    "identifier",
    "title",
    "abstract",
    "version",
    "keywords",
    "metadata",
    "store_supported",
    "status_supported",
    "resources",
    "inputs",
    "outputs",
)


def process_arguments(data: Any) -> dict[str, Any]:
    """The keyword arguments of :class:`Process` that the JSON ``data`` describes.

    Raises :class:`DescriptionError` on anything that is not exactly as
    :func:`to_json` writes it (unknown fields too).
    """
    reader = _Reader(data, "description", _PROCESS_FIELDS)
    version = data.get("format", FORMAT)
    if version != FORMAT:
        raise DescriptionError(f"description.format: {version!r} is not {FORMAT}")
    identifier = reader.identifier()
    inputs = [
        _parameter(item, f"inputs[{i}]", output=False)
        for i, item in enumerate(reader.items("inputs"))
    ]
    outputs = [
        _parameter(item, f"outputs[{i}]", output=True)
        for i, item in enumerate(reader.items("outputs", required=True))
    ]
    if not outputs:
        raise DescriptionError("description.outputs: a process needs at least one output")
    for what, params in (("input", inputs), ("output", outputs)):
        seen: set[str] = set()
        for param in params:
            if param.identifier in seen:
                raise DescriptionError(f"description: two {what}s are named {param.identifier!r}")
            seen.add(param.identifier)
    return {
        "identifier": identifier,
        "title": reader.text("title") or identifier,
        "abstract": reader.text("abstract", limit=_MAX_TEXT) or "",
        "version": reader.text("version", "1.0.0", limit=64) or "1.0.0",
        "keywords": reader.texts("keywords"),
        "metadata": reader.texts("metadata", limit=2048),
        "store_supported": reader.flag("store_supported", True),
        "status_supported": reader.flag("status_supported", True),
        "resources": _resources(data.get("resources")),
        "inputs": inputs,
        "outputs": outputs,
    }


def from_json(data: Any) -> Process:
    """A :class:`Process` (without a handler) from its JSON description, checked strictly."""
    return Process(**process_arguments(data))
