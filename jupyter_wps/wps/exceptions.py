"""OWS exceptions: an exceptionCode, a locator and the HTTP status to answer with.

Also the one place that decides which text XML 1.0 can carry: request parsing refuses
what it cannot, and every exception's text and locator are made safe to report.
"""

from __future__ import annotations

import re
from http import HTTPStatus

#: A character XML 1.0 cannot carry: C0 controls but tab, newline and carriage return
#: (NUL included), lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile(r"[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


def xml_incompatible(text: str) -> str | None:
    """The first character of ``text`` that XML 1.0 cannot carry, or None."""
    match = _NOT_XML.search(text)
    return match.group() if match else None


def xml_safe(text: str) -> str:
    """``text`` with each character XML 1.0 cannot carry written as an escape
    (``\\x00``, ``\\ud800``): what a report can quote of a hostile request."""
    return _NOT_XML.sub(lambda m: ascii(m.group())[1:-1], text)


class OWSException(Exception):
    """An error reported to the client as an ``ows:ExceptionReport``.

    Text and locator are kept XML-safe (they often quote what the client sent).
    """

    code = "NoApplicableCode"
    status = HTTPStatus.INTERNAL_SERVER_ERROR

    def __init__(
        self, text: str = "", locator: str | None = None, status: int | None = None
    ) -> None:
        text = xml_safe(str(text))
        super().__init__(text)
        self.text = text
        self.locator = None if locator is None else xml_safe(str(locator))
        if status is not None:
            self.status = HTTPStatus(status)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r}, locator={self.locator!r})"


class NoApplicableCode(OWSException):
    pass


class MissingParameterValue(OWSException):
    code = "MissingParameterValue"
    status = HTTPStatus.BAD_REQUEST


class InvalidParameterValue(OWSException):
    code = "InvalidParameterValue"
    status = HTTPStatus.BAD_REQUEST


class VersionNegotiationFailed(OWSException):
    code = "VersionNegotiationFailed"
    status = HTTPStatus.BAD_REQUEST


class OperationNotSupported(OWSException):
    code = "OperationNotSupported"
    status = HTTPStatus.NOT_IMPLEMENTED


class InvalidUpdateSequence(OWSException):
    code = "InvalidUpdateSequence"
    status = HTTPStatus.BAD_REQUEST


class ServerBusy(OWSException):
    code = "ServerBusy"
    status = HTTPStatus.SERVICE_UNAVAILABLE


class FileSizeExceeded(OWSException):
    code = "FileSizeExceeded"
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class StorageNotSupported(OWSException):
    code = "StorageNotSupported"
    status = HTTPStatus.BAD_REQUEST


class NoSuchJob(OWSException):
    """WPS 2.0: the job id is unknown (or not the caller's)."""

    code = "NoSuchJob"
    status = HTTPStatus.NOT_FOUND


class ResultNotReady(OWSException):
    """WPS 2.0: GetResult before the job succeeded."""

    code = "ResultNotReady"
    status = HTTPStatus.BAD_REQUEST


class AccessDenied(OWSException):
    """No valid credentials (401) or not allowed (403)."""

    code = "NoApplicableCode"
    status = HTTPStatus.FORBIDDEN
