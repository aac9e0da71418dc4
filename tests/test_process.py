"""Processes from plain functions and classes, and how servers find them."""

from __future__ import annotations

import datetime as dt
from importlib.metadata import entry_points
from typing import Literal

import pytest
from lxml import etree
from schema import assert_valid

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
    parse_docstring,
    process,
    progress,
    report_progress_to,
)
from jupyter_wps.registry import load_registry
from jupyter_wps.wps import response
from jupyter_wps.wps.xml import OWS


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


# --------------------------------------------------------------------------- docstrings


def _abstracts(params) -> dict[str, str]:
    return {p.identifier: p.abstract for p in params}


def test_google_docstring_gives_the_inputs_and_output_abstracts():
    @process
    def scaled_mean(values: list[float], offset: float = 0.0, *args, **kwargs) -> float:
        """Scaled mean

        The mean of the values, times a scale,
        plus an offset.

        Args:
            values (list[float]): The values to average,
                at least one.

                Missing values are skipped.
            offset: Added to the result.
            **kwargs: Ignored.

        Returns:
            float: The scaled mean
                of the values.

        Raises:
            ValueError: When there are no values.

        Notes:
            Computed in double precision.

        Examples:
            >>> scaled_mean([1, 2])
            4.5
        """
        return 0.0

    assert scaled_mean.title == "Scaled mean"
    assert scaled_mean.abstract == (
        "The mean of the values, times a scale,\nplus an offset.\n\n"
        "Notes: Computed in double precision."
    )
    assert _abstracts(scaled_mean.inputs) == {
        "values": "The values to average, at least one.\n\nMissing values are skipped.",
        "offset": "Added to the result.",
    }
    assert [i.title for i in scaled_mean.inputs] == ["", ""]  # DescribeProcess shows the name
    assert _abstracts(scaled_mean.outputs) == {"output": "The scaled mean of the values."}


def test_numpy_docstring_gives_the_inputs_and_output_abstracts():
    @process
    def clip(values: list[float], low: float = 0.0, high: float = 1.0, flag: bool = False):
        """Clip values.

        Each value is brought into [low, high].

        Parameters
        ----------
        values : list of float
            The values,
            one per sample.
        low, high : float, optional
            The bounds.
        flag : bool

        Returns
        -------
        str
            The clipped values,
            comma separated.

        See Also
        --------
        numpy.clip
        """
        return ""

    assert clip.title == "Clip values."
    assert clip.abstract == "Each value is brought into [low, high]."
    assert _abstracts(clip.inputs) == {
        "values": "The values, one per sample.",
        "low": "The bounds.",
        "high": "The bounds.",
        "flag": "",
    }
    assert _abstracts(clip.outputs) == {"output": "The clipped values, comma separated."}


def test_named_returns_go_to_their_outputs():
    @process(outputs={"mean": LiteralOutput(data_type="double"), "count": LiteralOutput()})
    def stats(values: list[float]) -> tuple:
        """Statistics.

        Returns:
            mean (float): The mean.
            count: How many values,
                missing ones included.
        """
        return 0.0, 0

    assert _abstracts(stats.outputs) == {
        "mean": "The mean.",
        "count": "How many values, missing ones included.",
    }
    numpy = parse_docstring("Stats.\n\nReturns\n-------\nmean : float\n    The mean.\n")
    assert numpy.named_returns == {"mean": "The mean."}


def test_an_explicit_spec_wins_over_the_docstring():
    @process(
        abstract="Given abstract.",
        inputs={
            "x": LiteralInput(title="X", abstract="Given x."),
            "y": LiteralInput(title="Y"),  # no abstract: the docstring's
        },
        outputs={"output": LiteralOutput(abstract="Given output.")},
    )
    def add(x: int, y: int) -> int:
        """Add.

        Adds.

        Args:
            x: Documented x.
            y: Documented y.

        Returns:
            The sum.
        """
        return x + y

    assert add.abstract == "Given abstract."
    assert _abstracts(add.inputs) == {"x": "Given x.", "y": "Documented y."}
    assert [i.title for i in add.inputs] == ["X", "Y"]
    assert _abstracts(add.outputs) == {"output": "Given output."}


def test_a_docstring_without_sections_is_title_and_abstract_as_before():
    @process
    def plain(x: int) -> int:
        """A plain
        function.

        Steps: first this,
        then that.

        Args like these are prose here."""
        return x

    assert plain.title == "A plain function."
    assert plain.abstract == ("Steps: first this,\nthen that.\n\nArgs like these are prose here.")
    assert _abstracts(plain.inputs) == {"x": ""} and _abstracts(plain.outputs) == {"output": ""}

    @process
    def bare(x: int) -> int:
        return x

    assert (bare.title, bare.abstract) == ("bare", "")


def test_a_docstring_starting_with_a_section():
    """inspect.getdoc takes the indentation of a first-line section's body away."""

    @process
    def f(x: int) -> int:
        """Args:
        x: The x,
            an integer.
        """
        return x

    assert (f.title, f.abstract) == ("f", "")
    assert _abstracts(f.inputs) == {"x": "The x, an integer."}


def test_describe_process_shows_the_docstring_abstracts():
    @process
    def documented(distance: float, label: str = "") -> str:
        """Documented

        Shows its docstring.

        Args:
            distance: How far,
                in metres.
            label: A label.

        Returns:
            A message.
        """
        return ""

    document = response.process_descriptions([documented])
    assert_valid(document)
    root = etree.fromstring(document)
    (description,) = root.iterfind("ProcessDescription")
    assert description.findtext(OWS + "Abstract") == "Shows its docstring."
    inputs = {
        item.findtext(OWS + "Identifier"): (
            item.findtext(OWS + "Title"),
            item.findtext(OWS + "Abstract"),
        )
        for item in description.iterfind("DataInputs/Input")
    }
    assert inputs == {
        "distance": ("distance", "How far, in metres."),
        "label": ("label", "A label."),
    }
    (output,) = description.iterfind("ProcessOutputs/Output")
    assert output.findtext(OWS + "Abstract") == "A message."
