"""The processes a server offers: entry points and ``[processing] processes``.

Shared by each user's server and the hub's WPS service (which offers the same
processes to all users).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from .config import Config, ConfigError
from .process import Process, ProcessRegistry, load_import_path
from .wps.exceptions import InvalidParameterValue

log = logging.getLogger("jupyter_wps")

ENTRY_POINT_GROUP = "jupyter_wps.processes"


def load_registry(config: Config) -> ProcessRegistry:
    """The processes of entry points ``jupyter_wps.processes`` and ``[processing] processes``."""
    from importlib.metadata import entry_points

    registry = ProcessRegistry()
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            registry.add_from(entry.load(), entry.value)
        except Exception:
            log.exception("jupyter-wps: the process entry point %s cannot be loaded", entry.value)
    if not len(registry):  # running from a source checkout: the demo processes at least
        registry.add_from(
            load_import_path("jupyter_wps.processes:DEMO_PROCESSES"),
            "jupyter_wps.processes:DEMO_PROCESSES",
        )
    for path in config.processes:
        try:
            registry.add_from(load_import_path(path), path)
        except (ImportError, AttributeError, TypeError, ValueError) as exc:
            raise ConfigError(
                config.source, "processing", "processes", f"{path!r} cannot be loaded: {exc}"
            ) from None
    return registry


def select(registry: ProcessRegistry, identifiers: Iterable[str]) -> list[Process]:
    """The named processes (``ALL``: every one); InvalidParameterValue for unknown ones."""
    identifiers = list(identifiers)
    if any(i.upper() == "ALL" for i in identifiers):
        return list(registry)
    found = []
    for identifier in identifiers:
        proc = registry.get(identifier)
        if proc is None:
            raise InvalidParameterValue(f"no process {identifier!r}", locator=identifier)
        found.append(proc)
    return found
