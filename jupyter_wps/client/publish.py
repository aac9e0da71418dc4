"""Publish functions defined in a notebook as WPS processes of the user's server.

>>> from jupyter_wps.client import publish
>>> scale = 3.0
>>> @publish
... def scaled_mean(values: list[float], offset: float = 0.0) -> float:
...     '''Scaled mean
...
...     The mean of the values, times the notebook's scale, plus an offset.'''
...     return statistics.mean(values) * scale + offset

The process is at once in GetCapabilities and DescribeProcess for every client
of the server (inputs and outputs from the type hints and the docstring, as
:func:`jupyter_wps.process`), and an Execute through plain WPS (OWSLib, curl)
runs it, on the cluster when the server's mode is ``scheduler``.

What travels: the process description as JSON (the server builds what it lists
from it alone), and the process pickled **by value** with dill (``recurse=True``):
a function defined in the notebook (module ``__main__``) goes with its code,
its closure, the notebook globals it uses, and the modules it uses as
references (``import statistics`` is imported again where it runs). Functions
imported from a module travel by reference: that module must be importable
wherever the job runs. The server never unpickles the process: its jobs run
under this kernel's Python (``sys.executable``), whose Python and dill versions
go with it and are checked before the job is loaded.

A published process stays until it is unpublished (kernel and server restarts
included); only the user who published it can replace or remove it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dill

from ..description import DescriptionError, process_arguments, to_json
from ..jobs import runtime_versions
from ..process import Process, process
from .job import WPSError

if TYPE_CHECKING:
    from .processes import WPSClient

__all__ = ["publication", "publish", "unpublish"]


def _client(client: WPSClient | None) -> tuple[WPSClient, str | None]:
    """The client to use, and how it was chosen when it was not given: the client this
    kernel connected last (``connect(...)`` or ``%wps connect``), else ``connect()``
    (the Jupyter server this kernel runs under), which is then the one connected last."""
    if client is not None:
        return client, None
    from .connect import connect, connected_last

    last = connected_last()
    if last is not None:
        return last, "the client connected last"
    found = connect()
    return found, f"found from {found.source}" if found.source else "found"


def as_process(func_or_process: Callable[..., Any] | Process, **process_kwargs: Any) -> Process:
    """The Process to publish: a function made one by :func:`jupyter_wps.process`."""
    if isinstance(func_or_process, Process):
        if process_kwargs:
            raise TypeError(
                f"publish() takes no process options ({', '.join(process_kwargs)}) with a "
                "Process: build the Process with them"
            )
        return func_or_process
    if not callable(func_or_process):
        raise TypeError(f"cannot publish a {type(func_or_process).__name__}: give a function")
    return process(func_or_process, **process_kwargs)


def publication(proc: Process) -> dict[str, Any]:
    """What is sent to the server: description (JSON), the pickled process, this runtime."""
    description = to_json(proc)
    try:
        process_arguments(description)  # what the server will check: say it here first
    except DescriptionError as exc:
        raise ValueError(f"{proc.identifier} cannot be published: {exc}") from None
    try:
        pickled = dill.dumps(proc, recurse=True)
    except Exception as exc:
        raise ValueError(
            f"{proc.identifier} cannot be pickled to travel to the server: {exc}"
        ) from exc
    return {
        "description": description,
        "pickle": base64.b64encode(pickled).decode("ascii"),
        # the job runs under this kernel's Python, which must load the pickle
        "runtime": runtime_versions(),
    }


def publish(
    func_or_process: Callable[..., Any] | Process | None = None,
    client: WPSClient | None = None,
    **process_kwargs: Any,
) -> Any:
    """Make a function of this notebook (or a Process) a WPS process of the server.

    ``publish(func)``, ``@publish``, ``@publish(title=..., identifier=...)`` or
    ``@client.publish``. ``process_kwargs`` are those of :func:`jupyter_wps.process`
    (``identifier``, ``title``, ``abstract``, ``inputs``, ``outputs``, ``version``,
    ``resources``, ...). ``client`` is a :class:`WPSClient`; by default the client
    this kernel connected last (``connect(url, token=...)`` or ``%wps connect``), and
    when it never connected, ``connect()`` (the server this kernel runs under). It is
    refreshed, so the process is at once one of its methods; without ``client``, a
    line says where the process went. Publishing again under the same identifier
    replaces it.

    Returns what it was given, so a decorated function still runs in the notebook.
    Raises :class:`WPSError` when the server refuses (another user's process of
    that name: 403; one of the server's own: 409; an invalid description: 400).
    """
    if func_or_process is None:
        return lambda func: publish(func, client=client, **process_kwargs)
    proc = as_process(func_or_process, **process_kwargs)
    body = publication(proc)
    wps, chosen = _client(client)
    try:
        wps._request(
            "POST",
            wps.api_url("processes"),
            data=json.dumps(body, allow_nan=False).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            context=f"publishing {proc.identifier}",
        )
    except WPSError as error:
        raise _no_publishing(error, wps.url) from None
    _refresh_clients(wps)
    if chosen:
        print(f"published {proc.identifier} to {wps.url} ({chosen})")
    return func_or_process


def unpublish(
    identifier: str | Process | Callable[..., Any], client: WPSClient | None = None
) -> None:
    """Remove a process this user published (jobs already submitted still run).

    ``client`` as for :func:`publish` (by default the client connected last)."""
    if isinstance(identifier, Process):
        identifier = identifier.identifier
    elif not isinstance(identifier, str):  # the published function (under its own name)
        identifier = identifier.__name__
    wps, chosen = _client(client)
    try:
        wps._request(
            "DELETE",
            wps.api_url(f"processes/{identifier}"),
            context=f"unpublishing {identifier}",
        )
    except WPSError as error:
        raise _no_publishing(error, wps.url) from None
    _refresh_clients(wps)
    if chosen:
        print(f"unpublished {identifier} from {wps.url} ({chosen})")


def _refresh_clients(wps: WPSClient) -> None:
    """Every client of this server in the kernel knows the change (``wps`` first)."""
    from .processes import clients_of

    wps.refresh()
    for other in clients_of(wps.url):
        if other is not wps:
            other.refresh()


def _no_publishing(error: WPSError, url: str) -> WPSError:
    """Say so when the server has no publishing API at all (another WPS)."""
    if error.status in (404, 405) and error.code is None:
        return WPSError(
            f"{url} takes no published processes (HTTP {error.status}): publishing needs a "
            "jupyter-wps server",
            status=error.status,
        )
    return error
