"""Processes shaped like the WPS 1.0.0 specification's examples, for tests.

Registered with ``processes = wps_test_processes:TEST_PROCESSES`` (``tests/`` is on
the ``PYTHONPATH`` of the server and of its launchers).
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from jupyter_wps import ComplexData, ComplexInput, ComplexOutput, Format, LiteralInput, process

POLYGON_SCHEMA = "http://foo.bar/gml/3.1.0/polygon.xsd"
#: The namespace of the Buffer process's (made-up) result document
RESULT_NS = "urn:jupyter-wps:test:buffer"


def _split_tag(tag: str) -> tuple[str, str]:
    """``{namespace}name`` -> (namespace, name)."""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


@process(
    identifier="Buffer",
    title="Buffer a polygon feature",
    abstract="Buffers the polygon coordinates found in the supplied GML data by the given "
    "distance (as in the examples of the WPS 1.0.0 specification). This test double does "
    "not compute a buffer: it reports what it received.",
    inputs={
        "InputPolygon": ComplexInput(
            title="Polygon to be buffered",
            abstract="URI to a set of GML that describes the polygon.",
            formats=(Format("text/xml", schema=POLYGON_SCHEMA),),
        ),
        "BufferDistance": LiteralInput(
            title="Buffer Distance",
            abstract="Distance to be used to calculate buffer.",
            data_type="double",
            uoms=("meters", "feet"),
            default=100,
            min_occurs=0,
        ),
    },
    outputs={
        "BufferedPolygon": ComplexOutput(
            title="Buffered Polygon",
            abstract="GML stream describing the buffered polygon feature.",
            formats=(Format("text/xml", schema=POLYGON_SCHEMA),),
        )
    },
)
def buffer(InputPolygon: ComplexData, BufferDistance: float = 100) -> str:
    """Reports the root element of the polygon it was given, and the distance."""
    root = ElementTree.fromstring(InputPolygon.read())
    namespace, name = _split_tag(root.tag)
    result = ElementTree.Element(
        f"{{{RESULT_NS}}}BufferedPolygon", {"distance": format(BufferDistance, "g")}
    )
    ElementTree.SubElement(
        result,
        f"{{{RESULT_NS}}}InputRoot",
        {"namespace": namespace, "name": name, "href": InputPolygon.href or ""},
    )
    return ElementTree.tostring(result, encoding="unicode")


TEST_PROCESSES = [buffer]
