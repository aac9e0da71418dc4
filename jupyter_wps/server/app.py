"""The jupyter_server extension: a WPS at ``<base_url>wps`` of every server that loads it."""

from __future__ import annotations

import getpass
import logging
import os
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server._tz import utcnow
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Integer, List, Unicode, default

from ..config import Config, ConfigError, load_config
from ..registry import load_registry
from .handlers import handlers
from .manager import JobManager
from .published import PUBLISHED_DIR, PublishedStore
from .service import WPSService

log = logging.getLogger("jupyter_wps")


class WPSExtensionApp(ExtensionApp):
    """Answers OGC WPS requests at ``<base_url>wps``, behind Jupyter's authentication."""

    name = "jupyter_wps"
    load_other_extensions = True

    config_file = Unicode(
        "",
        config=True,
        help="The pywps.cfg to read. Default: pywps.cfg in the server's working directory, "
        "if there is one.",
    )
    workdir = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Where job directories live (overrides [server] workdir).",
    )
    parallelprocesses = Integer(
        None,
        allow_none=True,
        config=True,
        help="Jobs running at once on the local backend (overrides [server] parallelprocesses).",
    )
    mode = Unicode(
        None,
        allow_none=True,
        config=True,
        help="default (the local backend) or scheduler (overrides [processing] mode).",
    )
    public_capabilities = Bool(
        None,
        allow_none=True,
        config=True,
        help="Answer GetCapabilities and DescribeProcess without credentials "
        "(overrides [server] public_capabilities).",
    )
    running_jobs_are_activity = Bool(
        None,
        allow_none=True,
        config=True,
        help="Jobs running on this server count as user activity, so that JupyterHub's idle "
        "culler spares the server (overrides [server] running_jobs_are_activity).",
    )
    processes = List(
        Unicode(),
        default_value=None,
        allow_none=True,
        config=True,
        help="Extra processes, import paths module:attribute (overrides [processing] processes).",
    )

    @default("config_file")
    def _default_config_file(self) -> str:
        candidate = Path.cwd() / "pywps.cfg"
        return str(candidate) if candidate.is_file() else ""

    def resolve_config(self) -> Config:
        overrides: dict[str, Any] = {
            "workdir": self.workdir,
            "parallelprocesses": self.parallelprocesses,
            "mode": self.mode,
            "public_capabilities": self.public_capabilities,
            "running_jobs_are_activity": self.running_jobs_are_activity,
            "processes": tuple(self.processes) if self.processes is not None else None,
        }
        config = load_config(self.config_file or None, overrides)
        if not config.workdir:
            config = config.replace(workdir=os.path.join(jupyter_data_dir(), "wps", "jobs"))
        return config

    def initialize_settings(self) -> None:
        try:
            config = self.resolve_config()
            registry = load_registry(config)
            owner = os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
            manager = JobManager(config, Path(config.workdir), owner=owner)
        except (ConfigError, LookupError, OSError) as exc:
            self.log.critical("jupyter-wps cannot start: %s", exc)
            raise SystemExit(f"jupyter-wps: {exc}") from None
        self._setup_logging(config)
        # processes published from kernels, kept across restarts (never unpickled here)
        published = PublishedStore(Path(config.workdir) / PUBLISHED_DIR, registry)
        published.load()
        self.wps_service = WPSService(config, registry, manager, published)
        if config.running_jobs_are_activity:
            manager.on_busy = self._record_activity
        self.settings.update(
            jupyter_wps_service=self.wps_service,
            jupyter_wps_server_owner=owner,
        )
        self.log.info(
            "jupyter-wps: %d processes (%d published), jobs in %s, backend %s (config %s)",
            len(registry),
            len(published.processes()),
            config.workdir,
            manager.backend.name,
            config.source,
        )

    def _record_activity(self) -> None:
        """Running jobs are activity: what JupyterHub's activity report and culler read."""
        self.serverapp.web_app.settings["api_last_activity"] = utcnow()

    def _setup_logging(self, config: Config) -> None:
        """The package logs through the server's handlers (and the configured file)."""
        logger = logging.getLogger("jupyter_wps")
        logger.setLevel(config.log_level)
        logger.propagate = False
        for handler in self.serverapp.log.handlers:
            if handler not in logger.handlers:
                logger.addHandler(handler)
        if config.log_file:
            logger.addHandler(logging.FileHandler(config.log_file))

    def initialize_handlers(self) -> None:
        self.handlers.extend(handlers())

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.wps_service.manager.start()

    async def stop_extension(self) -> None:
        await self.wps_service.manager.stop()
