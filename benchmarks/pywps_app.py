"""PyWPS 4.x with the same four processes as jupyter-wps's demo, as a WSGI app for gunicorn.

``gunicorn --chdir benchmarks pywps_app:application`` with ``PYWPS_CFG`` naming the
pywps.cfg. ``/outputs/<file>`` (PyWPS's ``outputurl``: status documents and outputs)
is served from ``outputpath`` by a small static-file WSGI app in the same worker, as
PyWPS's own demo servers do (in production a web server in front serves it).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pywps import (
    BoundingBoxInput,
    BoundingBoxOutput,
    ComplexInput,
    ComplexOutput,
    Format,
    LiteralInput,
    LiteralOutput,
    Process,
    Service,
)

FORMATS = [
    Format("text/plain"),
    Format("text/xml"),
    Format("application/json"),
    Format("application/octet-stream", encoding="base64"),
]
CRSS = ["EPSG:4326", "EPSG:3857", "urn:ogc:def:crs:EPSG::4326"]


def _say_hello(request, response):
    response.outputs["output"].data = "Hello " + request.inputs["name"][0].data
    return response


def _sleep(request, response):
    seconds = float(request.inputs["seconds"][0].data) if "seconds" in request.inputs else 2.0
    steps = max(1, min(100, int(seconds * 4)))
    for step in range(steps):
        response.update_status(
            f"Sleeping, {seconds * step / steps:.1f} of {seconds} s", int(100 * step / steps)
        )
        time.sleep(seconds / steps)
    response.outputs["output"].data = f"Slept for {seconds} seconds"
    return response


def _echo(request, response):
    for name in ("literal", "complex", "bbox"):
        if name in request.inputs:
            response.outputs[name].data = request.inputs[name][0].data
    return response


def _ultimate_question(request, response):
    thoughts = ("Thinking", "Still thinking", "Checking the result", "Almost there")
    for step, thought in enumerate(thoughts):
        response.update_status(thought, 25 * step)
        time.sleep(0.75)
    response.outputs["output"].data = 42
    return response


def processes() -> list[Process]:
    common = {"version": "1.0", "store_supported": True, "status_supported": True}
    return [
        Process(
            _say_hello,
            identifier="say_hello",
            title="Say hello",
            abstract="Greets the given name: a first process to try.",
            inputs=[LiteralInput("name", "Name", abstract="Who to greet", data_type="string")],
            outputs=[LiteralOutput("output", "Greeting", data_type="string")],
            **common,
        ),
        Process(
            _sleep,
            identifier="sleep",
            title="Sleep",
            abstract="Sleeps for the given number of seconds, reporting progress: "
            "a stand-in for long computations.",
            inputs=[
                LiteralInput(
                    "seconds",
                    "Seconds",
                    abstract="How long to sleep",
                    data_type="float",
                    default=2.0,
                    min_occurs=0,
                )
            ],
            outputs=[
                LiteralOutput(
                    "output", "Result", abstract="What the process did", data_type="string"
                )
            ],
            **common,
        ),
        Process(
            _echo,
            identifier="echo",
            title="Echo",
            abstract="Returns each input it is given as the like-named output: "
            "literal, complex and bounding-box data.",
            inputs=[
                LiteralInput("literal", "Literal input", data_type="string", min_occurs=0),
                ComplexInput("complex", "Complex input", supported_formats=FORMATS, min_occurs=0),
                BoundingBoxInput("bbox", "Bounding box input", crss=CRSS, min_occurs=0),
            ],
            outputs=[
                LiteralOutput("literal", "Literal output", data_type="string"),
                ComplexOutput("complex", "Complex output", supported_formats=FORMATS),
                BoundingBoxOutput("bbox", "Bounding box output", crss=CRSS),
            ],
            **common,
        ),
        Process(
            _ultimate_question,
            identifier="ultimate_question",
            title="Answer to the Ultimate Question of Life, the Universe, and Everything",
            abstract="Thinks for a few seconds, reporting progress, then answers.",
            outputs=[LiteralOutput("output", "The answer", data_type="integer")],
            **common,
        ),
    ]


def _static(root: Path, prefix: str, app):
    """Serve ``prefix<file>`` from ``root`` (one level, no traversal), the rest by ``app``."""

    def application(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(prefix):
            return app(environ, start_response)
        name = path[len(prefix) :]
        file = root / name
        if "/" in name or name.startswith(".") or not file.is_file():
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        body = file.read_bytes()
        kind = "text/xml" if name.endswith(".xml") else "application/octet-stream"
        start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body)))])
        return [body]

    return application


_config = os.environ["PYWPS_CFG"]
_outputs = Path(os.environ["PYWPS_OUTPUTPATH"])
application = _static(_outputs, "/outputs/", Service(processes(), [_config]))
