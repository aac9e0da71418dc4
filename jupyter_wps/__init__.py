"""jupyter-wps: an OGC Web Processing Service inside Jupyter, with jobs on batch schedulers."""

from __future__ import annotations

from typing import Any

from .process import (
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
    process,
    progress,
)

__version__ = "0.1.0"

__all__ = [
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
    "connect",
    "process",
    "progress",
    "publish",
    "unpublish",
]


def __getattr__(name: str) -> Any:
    # the notebook client (owslib, requests) loads on first use, not at import
    if name in ("connect", "publish", "unpublish"):
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import WPSExtensionApp

    return [{"module": "jupyter_wps.server.app", "app": WPSExtensionApp}]
