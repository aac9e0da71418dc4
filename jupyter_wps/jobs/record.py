"""What ``job.json`` and ``verdict.json`` hold, as typed records read like untrusted input.

Every file of a job directory may be truncated, hand-edited or planted: a record
is accepted only when it is a JSON object whose fields have the types below.
Anything else raises :class:`DamagedFile` naming the file and the problem, so
that one damaged job is reported as that job's failure and never stops a server.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from ..wps.states import FINAL_STATES

#: ``job.json`` layout version (1: the first typed record; files without one are older
#: and load the same way)
RECORD_VERSION = 1


class DamagedFile(ValueError):
    """A job file that cannot be read as what it should be; ``str()`` says which and why."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name} is damaged: {problem}")
        self.name = name
        self.problem = problem


def json_object(data: bytes, name: str) -> dict[str, Any]:
    """The JSON object in file ``name``'s ``data``; :class:`DamagedFile` for anything else."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeError) as exc:
        raise DamagedFile(name, f"not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise DamagedFile(name, f"a JSON {type(raw).__name__}, not an object")
    return raw


def _time(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError(f"a time must be an ISO 8601 string, not {type(value).__name__}")
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _str_dict(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("must be an object of strings")
    return dict(value)


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("must be an object")
    return dict(value)


_SCALARS: dict[str, type] = {
    "id": str,
    "process": str,
    "process_title": str,
    "owner": str,
    "backend": str,
    "native_id": str,
    "store": bool,
    "status": bool,
    "raw": bool,
    "sync": bool,
    "language": str,
    "outputs_dir": str,
    "submitted_by": str,
    "deferred": str,
    "spool": str,
}
_TIMES = ("created", "submitting", "submitted", "deferred_since", "started", "finished")
_OBJECTS = {"runtime": _str_dict, "resources": _object, "published": _object}


@dataclass
class JobRecord:
    """One job's index record: written by the server (the workdir's lease holder), read
    by the server and the launcher."""

    id: str
    process: str
    owner: str
    created: dt.datetime
    process_title: str = ""
    backend: str = "local"
    #: the scheduler's id for the job, once submitted
    native_id: str | None = None
    #: the request's response form: stored, with status updates, a raw output
    store: bool = False
    status: bool = False
    raw: bool = False
    #: a client waits for this job's answer (queued before asynchronous ones)
    sync: bool = False
    language: str = "en-US"
    #: where the process writes its outputs (the job directory's ``outputs/`` by default)
    outputs_dir: str = ""
    #: the interpreter the job runs under and the Python and dill versions that wrote it
    runtime: dict[str, str] = field(default_factory=dict)
    #: batch resources (cores, memory, walltime...), as resolved
    resources: dict[str, Any] = field(default_factory=dict)
    #: for a process published from a kernel: its owner and publication time
    published: dict[str, Any] | None = None
    #: where copies of the status go for the hub's WPS service (jobs/spool.py), if anywhere
    spool: str | None = None
    #: set before the hand-over to the backend: a crash from there on is looked up
    submitting: dt.datetime | None = None
    submitted: dt.datetime | None = None
    #: the lease holder that submitted the job
    submitted_by: str | None = None
    #: why the scheduler deferred the submission, and since when
    deferred: str | None = None
    deferred_since: dt.datetime | None = None
    #: when the launcher started the process, and when the job became final
    started: dt.datetime | None = None
    finished: dt.datetime | None = None

    @classmethod
    def from_json(cls, data: bytes, name: str = "job.json") -> JobRecord:
        """The record in ``data``; :class:`DamagedFile` for anything but a valid one."""
        raw = json_object(data, name)
        version = raw.get("version", RECORD_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version > RECORD_VERSION:
            raise DamagedFile(name, f"unknown layout version {version!r}")
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if value is None or key == "version":
                continue
            try:
                if key in _SCALARS:
                    if not isinstance(value, _SCALARS[key]):
                        raise ValueError(f"must be {_SCALARS[key].__name__}")
                    values[key] = value
                elif key in _TIMES:
                    values[key] = _time(value)
                elif key in _OBJECTS:
                    values[key] = _OBJECTS[key](value)
                # fields of a newer layout of the same version are left alone
            except ValueError as exc:
                raise DamagedFile(name, f"field {key!r}: {exc}") from None
        missing = [k for k in ("id", "process", "owner", "created") if k not in values]
        if missing:
            raise DamagedFile(name, f"missing {', '.join(missing)}")
        return cls(**values)

    def to_json(self) -> bytes:
        data: dict[str, Any] = {"version": RECORD_VERSION}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is not None:  # absent means unset: a reader of any version agrees
                data[item.name] = value.isoformat() if isinstance(value, dt.datetime) else value
        return json.dumps(data, indent=1, sort_keys=True).encode()


@dataclass(frozen=True)
class Verdict:
    """The server's own final word on a job (dismissed, launcher lost, damaged files)."""

    state: str
    message: str
    time: dt.datetime

    @classmethod
    def from_json(cls, data: bytes, name: str = "verdict.json") -> Verdict:
        raw = json_object(data, name)
        state, message = raw.get("state"), raw.get("message", "")
        if state not in FINAL_STATES:  # the server's own word is always final
            raise DamagedFile(name, f"unknown state {state!r}")
        if not isinstance(message, str):
            raise DamagedFile(name, "the message is not a string")
        try:
            moment = _time(raw.get("time"))
        except ValueError as exc:
            raise DamagedFile(name, f"field 'time': {exc}") from None
        return cls(state, message, moment)

    def to_json(self) -> bytes:
        return json.dumps(
            {"state": self.state, "message": self.message, "time": self.time.isoformat()},
            sort_keys=True,
        ).encode()
