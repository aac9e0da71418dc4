"""OWS exceptions: an exceptionCode, a locator and the HTTP status to answer with."""

from __future__ import annotations

from http import HTTPStatus


class OWSException(Exception):
    """An error reported to the client as an ``ows:ExceptionReport``."""

    code = "NoApplicableCode"
    status = HTTPStatus.INTERNAL_SERVER_ERROR

    def __init__(
        self, text: str = "", locator: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(text)
        self.text = text
        self.locator = locator
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
