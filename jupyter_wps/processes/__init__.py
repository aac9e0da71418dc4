"""Demo processes, offered by every server (entry point ``jupyter_wps.processes: demo``)."""

from __future__ import annotations

import time

from ..process import (
    BoundingBox,
    BoundingBoxInput,
    BoundingBoxOutput,
    ComplexData,
    ComplexInput,
    ComplexOutput,
    Format,
    LiteralInput,
    LiteralOutput,
    process,
    progress,
)

_ECHO_FORMATS = (
    Format("text/plain"),
    Format("text/xml"),
    Format("application/json"),
    Format("application/octet-stream", encoding="base64"),
)
_CRSS = ("EPSG:4326", "EPSG:3857", "urn:ogc:def:crs:EPSG::4326")


@process(
    title="Say hello",
    abstract="Greets the given name: a first process to try.",
    inputs={"name": LiteralInput(title="Name", abstract="Who to greet")},
    outputs={"output": LiteralOutput(title="Greeting")},
)
def say_hello(name: str) -> str:
    return f"Hello {name}"


@process(
    title="Sleep",
    abstract="Sleeps for the given number of seconds, reporting progress: "
    "a stand-in for long computations.",
    inputs={"seconds": LiteralInput(title="Seconds", abstract="How long to sleep", uoms=("s",))},
    outputs={"output": LiteralOutput(title="Result", abstract="What the process did")},
)
def sleep(seconds: float = 2.0) -> str:
    steps = max(1, min(100, int(seconds * 4)))
    for step in range(steps):
        progress(100 * step / steps, f"Sleeping, {seconds * step / steps:.1f} of {seconds} s")
        time.sleep(seconds / steps)
    return f"Slept for {seconds} seconds"


@process(
    title="Echo",
    abstract="Returns each input it is given as the like-named output: "
    "literal, complex and bounding-box data.",
    inputs={
        "literal": LiteralInput(title="Literal input", min_occurs=0),
        "complex": ComplexInput(title="Complex input", formats=_ECHO_FORMATS, min_occurs=0),
        "bbox": BoundingBoxInput(title="Bounding box input", crss=_CRSS, min_occurs=0),
    },
    outputs={
        "literal": LiteralOutput(title="Literal output"),
        "complex": ComplexOutput(title="Complex output", formats=_ECHO_FORMATS),
        "bbox": BoundingBoxOutput(title="Bounding box output", crss=_CRSS),
    },
)
def echo(
    literal: str | None = None,
    complex: ComplexData | None = None,
    bbox: BoundingBox | None = None,
) -> dict[str, object]:
    given = {"literal": literal, "complex": complex, "bbox": bbox}
    return {name: value for name, value in given.items() if value is not None}


@process(
    title="Answer to the Ultimate Question of Life, the Universe, and Everything",
    abstract="Thinks for a few seconds, reporting progress, then answers.",
    outputs={"output": LiteralOutput(title="The answer", data_type="integer")},
)
def ultimate_question() -> int:
    thoughts = ("Thinking", "Still thinking", "Checking the result", "Almost there")
    for step, thought in enumerate(thoughts):
        progress(25 * step, thought)
        time.sleep(0.75)
    return 42


DEMO_PROCESSES = [say_hello, sleep, echo, ultimate_question]
