"""A job's status document: one builder, URLs written with a placeholder.

The launcher and the server build every status document here. Neither knows the
public URL: they write ``urn:jupyter-wps:base`` where the WPS endpoint goes, and
whoever serves the document (a user's server, or the hub's WPS service reading the
status spool) completes it with :func:`complete_urls`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..process import Process
from ..wps.response import OutputValue, Status, execute_response

#: The URL prefix written into status documents instead of the server's public URL
BASE_URL_PLACEHOLDER = "urn:jupyter-wps:base"


def status_document(
    process: Process,
    job_id: str,
    status: Status,
    store: bool,
    language: str,
    lineage: Any = None,
    outputs: Sequence[OutputValue] = (),
) -> bytes:
    """The job's ExecuteResponse (its status document), placeholders in its URLs."""
    return execute_response(
        process,
        status,
        service_instance=f"{BASE_URL_PLACEHOLDER}?service=WPS&request=GetCapabilities",
        status_location=f"{BASE_URL_PLACEHOLDER}/status/{job_id}.xml" if store else None,
        lineage=lineage,
        outputs=outputs,
        language=language,
    )


_URLS = re.compile(rb"urn:jupyter-wps:base(/(?:status|outputs)/[^\"<?\s]*)?")


def complete_urls(
    document: bytes, base: str, query: str = "", status_base: str | None = None
) -> bytes:
    """Replace the placeholder with ``base``, the public URL of the WPS endpoint.

    ``query`` (``?cap=...``) follows each job URL (status and outputs);
    ``status_base`` replaces ``<base>/status`` when statuses are served elsewhere
    (the hub's WPS service, which answers while the user's server is down).
    """
    prefix = base.encode()
    suffix = query.encode()
    status = status_base.encode() if status_base else prefix + b"/status"

    def replace(match: re.Match[bytes]) -> bytes:
        path = match.group(1)
        if not path:
            return prefix
        if path.startswith(b"/status/"):
            return status + path[len(b"/status") :] + suffix
        return prefix + path + suffix

    return _URLS.sub(replace, document)
