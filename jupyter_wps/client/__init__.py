"""The notebook client: a WPS's processes as Python functions.

>>> from jupyter_wps import connect
>>> client = connect()              # the Jupyter server this kernel runs under
>>> client.say_hello(name="World")
'Hello World'
>>> job = client.sleep(seconds=5, wait=False)
>>> job.result()
'Slept for 5.0 seconds'
>>> @publish                       # a notebook function, a process of the server
... def double(x: int) -> int:
...     return 2 * x
"""

from .connect import Endpoint, ServerNotFound, connect, find_endpoint
from .job import Job, ProcessError, Reference, WPSError
from .processes import ProcessDescription, WPSClient
from .publish import publish, unpublish

__all__ = [
    "Endpoint",
    "Job",
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
