"""Processes from plain functions and classes, and how servers find them."""

from __future__ import annotations

import datetime as dt
from importlib.metadata import entry_points
from typing import Literal

import pytest

from jupyter_wps.config import load_config
from jupyter_wps.process import (
    LIST_MAX_OCCURS,
    AllowedRange,
    BoundingBox,
    BoundingBoxInput,
    ComplexData,
    ComplexInput,
    ComplexOutput,
    Format,
    LiteralInput,
    LiteralOutput,
    Process,
    process,
    progress,
    report_progress_to,
)
from jupyter_wps.server.app import load_registry


def test_inputs_and_outputs_from_type_hints():
    @process
    def compute(
        name: str,
        count: int,
        ratio: float = 0.5,
        flag: bool = False,
        day: dt.date | None = None,
        when: dt.datetime | None = None,
        colour: Literal["red", "green"] = "red",
        values: list[float] | None = None,
        data: ComplexData | None = None,
        area: BoundingBox | None = None,
    ) -> float:
        """Compute things

        A longer description."""
        return 1.0

    assert compute.identifier == "compute"
    assert compute.title == "Compute things"
    assert compute.abstract == "A longer description."
    specs = {i.identifier: i for i in compute.inputs}
    assert [i.identifier for i in compute.inputs] == [
        "name",
        "count",
        "ratio",
        "flag",
        "day",
        "when",
        "colour",
        "values",
        "data",
        "area",
    ]
    assert (specs["name"].data_type, specs["name"].min_occurs) == ("string", 1)
    assert specs["count"].data_type == "integer"
    assert (specs["ratio"].data_type, specs["ratio"].default, specs["ratio"].min_occurs) == (
        "double",
        0.5,
        0,
    )
    assert specs["flag"].data_type == "boolean"
    assert specs["day"].data_type == "date" and specs["day"].min_occurs == 0
    assert specs["when"].data_type == "dateTime"
    assert tuple(specs["colour"].allowed_values) == ("red", "green")
    assert specs["values"].max_occurs == LIST_MAX_OCCURS
    assert isinstance(specs["data"], ComplexInput)
    assert isinstance(specs["area"], BoundingBoxInput)
    (output,) = compute.outputs
    assert (output.identifier, output.data_type) == ("output", "double")


def test_decorator_specs_refine_the_signature():
    @process(
        identifier="buffer",
        title="Buffer",
        inputs={
            "distance": LiteralInput(
                title="Distance", uoms=("m",), allowed_values=(AllowedRange(0, 1000),)
            ),
            "polygon": ComplexInput(formats=(Format("application/gml+xml"),)),
        },
        outputs={
            "buffered": ComplexOutput(formats=(Format("application/gml+xml"),)),
            "area": LiteralOutput(data_type="double", uoms=("m2",)),
        },
    )
    def buffer_polygon(polygon: ComplexData, distance: float = 10.0):
        return {"buffered": polygon, "area": 3.0}

    distance = buffer_polygon.input("distance")
    assert (distance.title, distance.data_type, distance.default) == ("Distance", "double", 10.0)
    assert distance.min_occurs == 0 and tuple(distance.uoms) == ("m",)
    assert [o.identifier for o in buffer_polygon.outputs] == ["buffered", "area"]
    result = buffer_polygon.handler({"polygon": [ComplexData("<p/>")], "distance": [2.0]})
    assert result["area"] == 3.0


def test_function_handler_conventions():
    @process(outputs={"a": LiteralOutput(), "b": LiteralOutput(data_type="integer")})
    def pair(x: int, extra: list[int] | None = None) -> tuple:
        return str(x), x + sum(extra or [])

    assert pair.handler({"x": [2], "extra": [1, 2]}) == {"a": "2", "b": 5}
    assert pair.handler({"x": [2]}) == {"a": "2", "b": 2}


def test_class_based_process():
    class Double(Process):
        def __init__(self):
            super().__init__(
                "double",
                "Double a number",
                inputs=[LiteralInput("x", data_type="double")],
                outputs=[LiteralOutput("y", data_type="double")],
            )

        def handler(self, inputs):
            return {"y": 2 * inputs["x"][0]}

    assert Double().handler({"x": [1.5]}) == {"y": 3.0}


def test_invalid_processes_are_refused():
    with pytest.raises(ValueError):
        Process("bad id")
    with pytest.raises(ValueError):
        Process("p", inputs=[LiteralInput("a"), LiteralInput("a")])
    with pytest.raises(TypeError):

        @process
        def odd(x: object) -> str:
            return ""


def test_progress_reaches_the_reporter_and_is_clamped():
    seen = []
    report_progress_to(lambda percent, message: seen.append((percent, message)))
    try:
        progress(50.7, "half")
        progress(150)
    finally:
        report_progress_to(None)
    progress(10)  # outside a job: nothing happens
    assert seen == [(50, "half"), (100, "")]


def test_processes_found_through_entry_points_and_config():
    assert "demo" in {e.name for e in entry_points(group="jupyter_wps.processes")}
    registry = load_registry(load_config(None))
    assert {"say_hello", "sleep", "echo", "ultimate_question"} <= set(registry.processes)
    assert registry.get("sleep").import_path == "jupyter_wps.processes:sleep"
    config = load_config(None, {"processes": ("jupyter_wps.processes:say_hello",)})
    with pytest.raises(ValueError, match="two processes"):
        load_registry(config)  # already offered through the entry point
