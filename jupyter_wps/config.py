"""``pywps.cfg``, read once into a typed, validated object.

PyWPS's section and key names are used where they mean the same thing, so an
existing ``pywps.cfg`` mostly just works. A bad value raises
:class:`ConfigError` naming the file, the key and the problem.
"""

from __future__ import annotations

import configparser
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

MODES = ("default", "scheduler")
#: default seconds between scheduler queries in mode = scheduler
SCHEDULER_POLL_INTERVAL = 10.0
#: resources a request may override when the operator allows it
OVERRIDABLE = ("queue", "account", "qos", "walltime", "memory", "cores")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class ConfigError(ValueError):
    """A configuration value is wrong: says which file, which key and why."""

    def __init__(self, source: str, section: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: [{section}] {key}: {problem}")
        self.source = source
        self.section = section
        self.key = key
        self.problem = problem


def parse_size(text: str) -> int:
    """``3mb``, ``200 KB``, ``1G``, ``1024`` -> bytes."""
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a size (e.g. 3mb, 200kb, 1gb)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_duration(text: str) -> float:
    """``30``, ``30s``, ``5m``, ``12h``, ``7d`` -> seconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration (e.g. 30s, 5m, 12h, 7d)")
    return float(match.group(1)) * _SECONDS[match.group(2).lower()]


def parse_int(text: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an integer") from None


_WALLTIME = re.compile(r"^(?:(\d+)-)?(\d+):([0-5]\d):([0-5]\d)$|^(\d+)$")


def parse_walltime(text: str) -> str:
    """``HH:MM:SS``, ``D-HH:MM:SS`` or minutes; kept as written (schedulers parse it)."""
    value = str(text).strip()
    if value and not _WALLTIME.match(value):
        raise ValueError(f"{value!r} is not a walltime (HH:MM:SS, D-HH:MM:SS or minutes)")
    return value


def parse_memory(text: str) -> str:
    """A memory size as schedulers take it (``4G``, ``1536M``); kept as written."""
    value = str(text).strip()
    if value:
        parse_size(value)
    return value


def parse_environment(text: str) -> tuple[tuple[str, str], ...]:
    """``KEY=VALUE`` lines."""
    pairs = []
    for line in parse_list(text, "\n"):
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key.strip()):
            raise ValueError(f"{line!r} is not KEY=VALUE")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def parse_mode(text: str) -> str:
    """PyWPS's in-process modes (multiprocessing, detachprocessing) are our local backend."""
    mode = str(text).strip().lower()
    return "default" if mode in ("multiprocessing", "detachprocessing") else mode


def parse_bool(text: str) -> bool:
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean (true or false)")


def parse_list(text: str, separator: str | None = None) -> list[str]:
    """Lines (or ``separator``-separated items), stripped, empty ones dropped."""
    items = str(text).split(separator) if separator else str(text).split()
    return [item.strip() for item in items if item.strip()]


@dataclass(frozen=True)
class ServiceMetadata:
    """``[metadata:main]``: what GetCapabilities says about the service and provider."""

    title: str = "Jupyter WPS"
    abstract: str = "An OGC Web Processing Service running inside Jupyter"
    keywords: tuple[str, ...] = ("WPS", "Jupyter", "processing")
    fees: str = "NONE"
    access_constraints: str = "NONE"
    provider_name: str = "jupyter-wps"
    provider_url: str = ""
    contact_name: str = ""
    contact_position: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    contact_fax: str = ""
    contact_address: str = ""
    contact_city: str = ""
    contact_stateorprovince: str = ""
    contact_postalcode: str = ""
    contact_country: str = ""
    contact_url: str = ""
    contact_hours: str = ""
    contact_instructions: str = ""
    contact_role: str = ""


#: ``[metadata:main]`` keys of PyWPS -> ServiceMetadata fields
_METADATA_KEYS = {
    "identification_title": "title",
    "identification_abstract": "abstract",
    "identification_keywords": "keywords",
    "identification_fees": "fees",
    "identification_accessconstraints": "access_constraints",
    "provider_name": "provider_name",
    "provider_url": "provider_url",
    **{
        f"contact_{k}": f"contact_{k}"
        for k in (
            "name",
            "position",
            "email",
            "phone",
            "fax",
            "address",
            "city",
            "stateorprovince",
            "postalcode",
            "country",
            "url",
            "hours",
            "instructions",
            "role",
        )
    },
}


@dataclass(frozen=True)
class Config:
    """Resolved settings. Field names are the config keys (section noted per group)."""

    # [server]
    url: str = ""
    outputurl: str = ""
    outputpath: str = ""
    workdir: str = ""
    language: str = "en-US"
    maxrequestsize: int = 3 * 1024**2
    maxsingleinputsize: int = 3 * 1024**2
    parallelprocesses: int = 2
    maxprocesses: int = 1000
    allowedinputpaths: tuple[str, ...] = ()
    #: GetCapabilities/DescribeProcess without credentials
    public_capabilities: bool = False
    #: statusLocation and output URLs carry a signed read-only capability
    capability_urls: bool = True
    #: jobs running on this server count as user activity (JupyterHub's idle culler
    #: then spares it); polling never does
    running_jobs_are_activity: bool = False
    #: under JupyterHub: the status spool shared with the hub's WPS service, and that
    #: service's name (statusLocations then point at the service: see jobs/spool.py)
    status_spool: str = ""
    status_service: str = ""
    #: how long a finished job's record and outputs are kept
    job_retention: float = 7 * 86400.0
    #: fetching input references: timeout in seconds
    reference_timeout: float = 30.0
    # [processing]
    mode: str = "default"
    #: the batch-scheduler backend of mode = scheduler (drmaa, slurm, or a plugin's name)
    backend: str = ""
    path: str = ""
    drmaa_native_specification: str = ""
    #: batch resources: queue (Slurm: partition), account/project, QOS, walltime
    #: (HH:MM:SS), memory (e.g. 4G), cores per job
    queue: str = ""
    account: str = ""
    qos: str = ""
    walltime: str = ""
    memory: str = ""
    cores: int = 1
    #: shell lines run before the launcher on the node (e.g. ``module load python``)
    prologue: str = ""
    #: the Python on the compute nodes (default: the server's own interpreter)
    python: str = ""
    #: the job's environment, explicitly: KEY=VALUE lines, plus the named server variables
    environment: tuple[tuple[str, str], ...] = ()
    export_environment: tuple[str, ...] = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH")
    #: resources a request may override (per job), e.g. walltime memory cores
    allowed_overrides: tuple[str, ...] = ()
    #: successful scheduler queries that must miss a job before it is declared gone
    reconcile_confirmations: int = 3
    #: how long a submission the scheduler keeps deferring (a limit) waits before it fails
    submit_timeout: float = 3600.0
    #: Grid Engine's parallel environment for jobs of several cores
    parallel_environment: str = "smp"
    #: how often the server polls its backend for job states (seconds)
    poll_interval: float = 1.0
    #: extra processes: import paths ``module:attribute``
    processes: tuple[str, ...] = ()
    # [logging]
    log_level: str = "INFO"
    log_file: str = ""
    metadata: ServiceMetadata = field(default_factory=ServiceMetadata)
    #: the file these settings came from, if any
    source: str = ""

    @property
    def backend_name(self) -> str:
        """The backend that runs jobs: ``local`` in the default mode."""
        return self.backend if self.mode == "scheduler" else "local"

    def replace(self, **changes: Any) -> Config:
        return replace(self, **changes)


#: (section, key) -> (Config field, parser)
_KEYS: dict[tuple[str, str], tuple[str, Any]] = {
    ("server", "url"): ("url", str),
    ("server", "outputurl"): ("outputurl", str),
    ("server", "outputpath"): ("outputpath", str),
    ("server", "workdir"): ("workdir", str),
    ("server", "language"): ("language", lambda v: v.split(",")[0].strip()),
    ("server", "maxrequestsize"): ("maxrequestsize", parse_size),
    ("server", "maxsingleinputsize"): ("maxsingleinputsize", parse_size),
    ("server", "parallelprocesses"): ("parallelprocesses", parse_int),
    ("server", "maxprocesses"): ("maxprocesses", parse_int),
    ("server", "allowedinputpaths"): ("allowedinputpaths", lambda v: tuple(parse_list(v, ":"))),
    ("server", "public_capabilities"): ("public_capabilities", parse_bool),
    ("server", "capability_urls"): ("capability_urls", parse_bool),
    ("server", "running_jobs_are_activity"): ("running_jobs_are_activity", parse_bool),
    ("server", "status_spool"): ("status_spool", str),
    ("server", "status_service"): ("status_service", str),
    ("server", "job_retention"): ("job_retention", parse_duration),
    ("server", "reference_timeout"): ("reference_timeout", parse_duration),
    ("processing", "mode"): ("mode", parse_mode),
    ("processing", "backend"): ("backend", str),
    ("processing", "path"): ("path", str),
    ("processing", "drmaa_native_specification"): ("drmaa_native_specification", str),
    ("processing", "poll_interval"): ("poll_interval", parse_duration),
    ("processing", "queue"): ("queue", str.strip),
    ("processing", "partition"): ("queue", str.strip),
    ("processing", "account"): ("account", str.strip),
    ("processing", "project"): ("account", str.strip),
    ("processing", "qos"): ("qos", str.strip),
    ("processing", "walltime"): ("walltime", parse_walltime),
    ("processing", "memory"): ("memory", parse_memory),
    ("processing", "cores"): ("cores", parse_int),
    ("processing", "prologue"): ("prologue", str.strip),
    ("processing", "python"): ("python", str.strip),
    ("processing", "environment"): ("environment", parse_environment),
    ("processing", "export_environment"): (
        "export_environment",
        lambda v: tuple(parse_list(v.replace(",", " "))),
    ),
    ("processing", "allowed_overrides"): (
        "allowed_overrides",
        lambda v: tuple(parse_list(v.replace(",", " "))),
    ),
    ("processing", "reconcile_confirmations"): ("reconcile_confirmations", parse_int),
    ("processing", "submit_timeout"): ("submit_timeout", parse_duration),
    ("processing", "parallel_environment"): ("parallel_environment", str.strip),
    ("processing", "processes"): ("processes", lambda v: tuple(parse_list(v))),
    ("logging", "level"): ("log_level", lambda v: v.strip().upper()),
    ("logging", "file"): ("log_file", str),
}
#: PyWPS keys we read but that have no meaning here; accepted silently.
_IGNORED = {
    ("server", "cleantempdir"),
    ("server", "temp_path"),
    ("server", "storagetype"),
    ("server", "sethomedir"),
    ("server", "storage_copy_function"),
    ("server", "keep_status_file"),
    ("server", "encoding"),
    ("server", "processes_path"),
    ("server", "default_mimetype"),
    ("server", "json_indent"),
    ("logging", "prefix"),
    ("logging", "database"),
    ("logging", "format"),
    ("logging", "db_echo"),
}


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read ``path`` (if any) and apply ``overrides`` (Config field -> value)."""
    values: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    source = str(path) if path else "<defaults>"
    if path:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            with open(path, encoding="utf-8") as stream:
                parser.read_file(stream)
        except (OSError, configparser.Error) as exc:
            raise ConfigError(source, "file", "", f"cannot be read: {exc}") from None
        for section in parser.sections():
            for key, text in parser.items(section):
                if section == "metadata:main":
                    name = _METADATA_KEYS.get(key)
                    if name is None:
                        continue
                    metadata[name] = (
                        tuple(parse_list(text, ",")) if name == "keywords" else text.strip()
                    )
                    continue
                entry = _KEYS.get((section, key))
                if entry is None:
                    if (section, key) in _IGNORED or section not in (
                        "server",
                        "processing",
                        "logging",
                    ):
                        continue
                    raise ConfigError(source, section, key, "is not a known key")
                name, convert = entry
                try:
                    values[name] = convert(text)
                except (TypeError, ValueError) as exc:
                    raise ConfigError(source, section, key, str(exc)) from None
    for name in ("workdir", "outputpath", "log_file", "python", "path", "status_spool"):
        if values.get(name):  # one file for all users: $USER, ~ and $SCRATCH expand
            values[name] = os.path.expanduser(os.path.expandvars(values[name]))
    if path:  # relative paths in the file are relative to the file
        base = Path(path).resolve().parent
        for name in ("workdir", "outputpath", "log_file", "status_spool"):
            if values.get(name) and not Path(values[name]).is_absolute():
                values[name] = str(base / values[name])
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if values.get("mode") == "scheduler" and "poll_interval" not in values:
        # hundreds of users' servers share one scheduler controller: ask it gently
        values["poll_interval"] = SCHEDULER_POLL_INTERVAL
    known = {f.name for f in fields(Config)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(source, "overrides", "", f"unknown settings {sorted(unknown)}")
    config = Config(**values, metadata=ServiceMetadata(**metadata), source=source)
    _validate(config)
    return config


def _validate(config: Config) -> None:
    def check(ok: bool, key: str, problem: str) -> None:
        if not ok:
            section, _, name = key.partition(".")
            raise ConfigError(config.source, section, name, problem)

    check(
        config.mode in MODES,
        "processing.mode",
        f"is {config.mode!r}; expected one of {', '.join(MODES)}",
    )
    check(
        config.mode != "scheduler" or config.backend not in ("", "local"),
        "processing.backend",
        "mode = scheduler needs a scheduler backend (drmaa or slurm)",
    )
    check(
        config.parallelprocesses != 0,
        "server.parallelprocesses",
        "must be a positive number (or -1 for unlimited)",
    )
    check(
        config.maxprocesses != 0,
        "server.maxprocesses",
        "must be a positive number (or -1 for unlimited)",
    )
    check(config.maxrequestsize > 0, "server.maxrequestsize", "must be positive")
    check(config.maxsingleinputsize > 0, "server.maxsingleinputsize", "must be positive")
    check(config.poll_interval > 0, "processing.poll_interval", "must be positive")
    check(config.reference_timeout > 0, "server.reference_timeout", "must be positive")
    check(config.cores > 0, "processing.cores", "must be positive")
    check(
        config.reconcile_confirmations > 0, "processing.reconcile_confirmations", "must be positive"
    )
    check(
        not config.status_spool or config.capability_urls,
        "server.status_spool",
        "needs capability_urls = true (a spooled status is read by its capability)",
    )
    check(
        not config.status_service or bool(config.status_spool),
        "server.status_service",
        "needs status_spool: the service answers from the spool",
    )
    unknown = set(config.allowed_overrides) - set(OVERRIDABLE)
    check(
        not unknown,
        "processing.allowed_overrides",
        f"{sorted(unknown)} cannot be overridden; choose from {', '.join(OVERRIDABLE)}",
    )
    for path_key in ("python", "path"):
        value = getattr(config, path_key)
        check(
            not value or Path(value).is_absolute(),
            f"processing.{path_key}",
            f"{value!r} is not an absolute path (compute nodes have no PATH to search)",
        )
    check(
        config.log_level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        "logging.level",
        f"is {config.log_level!r}; expected DEBUG, INFO, WARNING or ERROR",
    )
    for allowed in config.allowedinputpaths:
        check(
            Path(allowed).is_absolute(),
            "server.allowedinputpaths",
            f"{allowed!r} is not an absolute path",
        )
    for url_key in ("url", "outputurl"):
        url = getattr(config, url_key)
        check(
            not url or url.startswith(("http://", "https://")),
            f"server.{url_key}",
            f"{url!r} is not an http(s) URL",
        )
