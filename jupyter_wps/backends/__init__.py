"""Where jobs run: a backend submits a job directory's launcher and tracks it.

A backend is found by name in the entry point group ``jupyter_wps.backends``
(``local`` is built in; ``drmaa`` and ``slurm`` come with the cluster support).
"""

from __future__ import annotations

import abc
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from ..config import OVERRIDABLE, Config

#: Environment variables never handed to a job: credentials of the server and the hub.
SECRET_VARIABLES = frozenset(
    {
        "JUPYTERHUB_API_TOKEN",
        "JPY_API_TOKEN",
        "JUPYTER_TOKEN",
        "JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES",
        "JUPYTERHUB_CLIENT_ID",
    }
)


#: What a backend can say of a job: waiting, running, ended (the scheduler says so), or
#: unknown (a successful query did not list it: after several, the job is taken as gone).
QUEUED, RUNNING, FINISHED, UNKNOWN = "queued", "running", "finished", "unknown"


@dataclass
class NativeState:
    """What the scheduler says of one job, and if it ended, how."""

    state: str
    exit_code: int | None = None
    reason: str = ""

    @property
    def alive(self) -> bool:
        return self.state in (QUEUED, RUNNING)


#: A job's batch resources: queue, account, qos, walltime, memory, cores (those set).
Resources = Mapping[str, Any]


def default_resources(config: Config) -> dict[str, Any]:
    """The operator's resources for every job (``[processing]`` queue, walltime, ...)."""
    return {name: getattr(config, name) for name in OVERRIDABLE if getattr(config, name)}


class SubmitLater(Exception):
    """The scheduler refused a submission for now (a limit, a busy controller): retry later."""


#: Called by a backend when a job it runs has ended: (job id, exit code or None, reason).
ExitCallback = Callable[[str, "int | None", str], None]


class Backend(abc.ABC):
    """Submit, query and cancel launchers of job directories."""

    name = "backend"
    #: how many jobs may run at once (None: the scheduler decides)
    capacity: int | None = None

    def __init__(self, config: Config, on_exit: ExitCallback) -> None:
        self.config = config
        self.on_exit = on_exit

    def launcher_command(self, jobdir: Path, interpreter: str | None = None) -> list[str]:
        """The command that runs a job's launcher (absolute paths: nodes have no PATH to search).

        A job that names another interpreter than the server's (a function published
        from a kernel) runs under it; others use ``[processing] path`` (the directory of
        ``jupyter-wps-launcher``, as in PyWPS) or ``python``, else the server's Python.
        """
        if interpreter and interpreter != sys.executable:
            return [interpreter, "-m", "jupyter_wps.launcher", str(jobdir)]
        if self.config.path:
            return [os.path.join(self.config.path, "jupyter-wps-launcher"), str(jobdir)]
        python = self.config.python or sys.executable
        return [python, "-m", "jupyter_wps.launcher", str(jobdir)]

    def job_environment(self) -> dict[str, str]:
        """A local launcher's environment: the server's, without its credentials."""
        return {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}

    def explicit_environment(self) -> dict[str, str]:
        """A batch job's environment, given explicitly: the named server variables and
        ``[processing] environment``; never the server's whole environment."""
        env = {
            name: os.environ[name]
            for name in self.config.export_environment
            if name in os.environ and name not in SECRET_VARIABLES
        }
        env.update(self.config.environment)
        return env

    @abc.abstractmethod
    async def submit(
        self, job_id: str, jobdir: Path, interpreter: str | None, resources: Resources
    ) -> str:
        """Start (or queue on the scheduler) the job's launcher; return its native id.

        ``resources`` are the job's own (queue, account, qos, walltime, memory, cores),
        resolved from the operator's defaults, the process and the request.
        """

    @abc.abstractmethod
    async def states(self, native_ids: Iterable[str]) -> dict[str, NativeState]:
        """The state of each of these jobs, in one query; raise if the query failed."""

    @abc.abstractmethod
    async def cancel(self, native_id: str) -> None:
        """Stop the job (and everything it started)."""

    def adopt(self, job_id: str, native_id: str) -> None:  # noqa: B027 - optional hook
        """Track a job submitted before a restart again."""

    async def find(self, job_id: str) -> str | None:
        """The native id of a job whose submission was cut short (by a crash), if it exists.

        Called after a restart for a job recorded as being submitted but without a
        native id, so that it is adopted rather than submitted twice.
        """
        return None

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the backend holds (sessions, child watchers)."""


def load_backend(name: str) -> type[Backend]:
    """The backend class registered under ``name``."""
    found = entry_points(group="jupyter_wps.backends", name=name)
    for entry in found:
        return entry.load()
    if name == "local":  # not installed as a distribution (running from a checkout)
        from .local import LocalBackend

        return LocalBackend
    known = sorted(e.name for e in entry_points(group="jupyter_wps.backends"))
    raise LookupError(f"no backend named {name!r} (known: {', '.join(known) or 'none'})")
