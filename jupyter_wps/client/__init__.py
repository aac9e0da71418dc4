"""The notebook client: a WPS's processes as Python functions.

>>> from jupyter_wps import connect
>>> client = connect()              # the Jupyter server this kernel runs under
>>> client.say_hello(name="World")
'Hello World'
>>> job = client.sleep(seconds=5, wait=False)
>>> job.result()
'Slept for 5.0 seconds'
>>> job                             # in Jupyter: a live widget, with Cancel
>>> JobsDashboard()                 # all of this user's jobs, live
>>> @publish                       # a notebook function, a process of the server
... def double(x: int) -> int:
...     return 2 * x
"""

from typing import Any

from .connect import Endpoint, ServerNotFound, connect, find_endpoint
from .job import Job, ProcessError, Reference, WPSError
from .processes import NoJobList, ProcessDescription, WPSClient
from .publish import publish, unpublish

__all__ = [
    "Endpoint",
    "Job",
    "JobWidget",
    "JobsDashboard",
    "NoJobList",
    "ProcessDescription",
    "ProcessError",
    "Reference",
    "ServerNotFound",
    "WPSClient",
    "WPSError",
    "connect",
    "find_endpoint",
    "publish",
    "unpublish",
]


def __getattr__(name: str) -> Any:
    # the widgets (ipywidgets, anywidget) load when first used
    if name in ("JobWidget", "JobsDashboard"):
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
