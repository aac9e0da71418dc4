"""Batch resources: operator defaults, the process author's, and what a request may ask."""

from __future__ import annotations

import pytest

from jupyter_wps.config import load_config
from jupyter_wps.process import LiteralOutput, Process
from jupyter_wps.server.service import WPSService
from jupyter_wps.wps.exceptions import InvalidParameterValue
from jupyter_wps.wps.request import parse_kvp


def service(**settings) -> WPSService:
    return WPSService(load_config(None, settings), registry=None, manager=None)


PROCESS = Process("p", outputs=[LiteralOutput("out")], resources={"memory": "2G", "cores": 2})


def test_defaults_then_process_then_allowed_request():
    wps = service(queue="short", walltime="01:00:00", allowed_overrides=("walltime", "cores"))
    assert wps.resources(PROCESS, {}) == {
        "queue": "short",
        "walltime": "01:00:00",
        "memory": "2G",
        "cores": 2,
    }
    chosen = wps.resources(PROCESS, {"walltime": "00:10:00", "cores": "4"})
    assert (chosen["walltime"], chosen["cores"], chosen["memory"]) == ("00:10:00", 4, "2G")


@pytest.mark.parametrize(
    "requested, locator",
    [({"memory": "100G"}, "memory"), ({"walltime": "soon"}, "walltime"), ({"cores": "x"}, "cores")],
)
def test_refused_requests(requested, locator):
    wps = service(allowed_overrides=("walltime", "cores"))
    with pytest.raises(InvalidParameterValue) as info:
        wps.resources(PROCESS, requested)
    assert info.value.locator == locator


def test_kvp_vendor_parameters_are_read():
    request = parse_kvp(
        {
            "service": "WPS",
            "version": "1.0.0",
            "request": "Execute",
            "identifier": "sleep",
            "walltime": "00:05:00",
            "memory": "1G",
        }
    )
    assert request.resources == {"walltime": "00:05:00", "memory": "1G"}
