"""Literal values: XML Schema lexical forms to Python values and back."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from urllib.parse import urlsplit

from .exceptions import InvalidParameterValue

_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def parse_literal(text: str, data_type: str, locator: str | None = None) -> Any:
    """The Python value of ``text`` as an ``xs:<data_type>``; InvalidParameterValue if not."""
    value = text.strip()
    try:
        if data_type in ("string",):
            return text
        if data_type == "integer":
            return int(value)
        if data_type in ("double", "float"):
            number = float(value)
            if math.isnan(number) and value not in ("NaN",):
                raise ValueError(value)
            return number
        if data_type == "boolean":
            lowered = value.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(value)
        if data_type == "date":
            return dt.date.fromisoformat(value)
        if data_type == "dateTime":
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if data_type == "time":
            return dt.time.fromisoformat(value.replace("Z", "+00:00"))
        if data_type == "anyURI":
            if any(c.isspace() for c in value) or not value:
                raise ValueError(value)
            urlsplit(value)
            return value
    except ValueError:
        raise InvalidParameterValue(
            f"{text!r} is not a valid {data_type}", locator=locator
        ) from None
    raise InvalidParameterValue(f"unsupported data type {data_type}", locator=locator)


def format_literal(value: Any, data_type: str | None = None) -> str:
    """The XML Schema lexical form of a Python value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float):
        if data_type == "integer" and value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)
