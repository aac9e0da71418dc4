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
    "JobsDashboard",
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
    if name in ("connect", "publish", "unpublish", "JobsDashboard"):
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_wps``: the ``%wps`` magic (see ``jupyter_wps.client.magics``)."""
    # IPython and the client load here, never at ``import jupyter_wps`` (compute nodes)
    from .client.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext jupyter_wps``: removes ``%wps``."""
    from .client.magics import unload_ipython_extension as unload

    unload(ipython)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import WPSExtensionApp

    return [{"module": "jupyter_wps.server.app", "app": WPSExtensionApp}]
