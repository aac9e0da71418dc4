"""The processes a server offers: entry points and ``[processing] processes``.

Shared by each user's server and the hub's WPS service (which offers the same
processes to all users).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from .config import Config, ConfigError
from .process import Process, ProcessRegistry, as_processes, load_import_path
from .wps.exceptions import InvalidParameterValue

log = logging.getLogger("jupyter_wps")

ENTRY_POINT_GROUP = "jupyter_wps.processes"
#: where the built-in demo processes live
DEMO_MODULE = "jupyter_wps.processes"


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
    # the demo processes give way to a site's own of the same name (emu has a sleep and an
    # ultimate_question, say): only demos, they must not keep a birdhouse pywps.cfg from working
    demos = {p.identifier for p in registry if (p.import_path or "").startswith(DEMO_MODULE)}
    for path in config.processes:
        try:
            for proc in as_processes(load_import_path(path), path):
                if proc.identifier in demos and not path.startswith(DEMO_MODULE):
                    log.info("jupyter-wps: %s replaces the demo process of that name", path)
                    demos.discard(proc.identifier)
                    registry.add(proc, replace_existing=True)
                else:
                    registry.add(proc)
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
