"""Processes published from kernels: a store the server reads but never unpickles.

::

    <workdir>/.published/                     0700
        <owner>/                              0700 (the user name, %-quoted)
            <identifier>/                     0700
                process.dill    the Process pickled by value by the kernel (dill), 0600
                process.json    its description, as the kernel sent it (JSON), 0600
                meta.json       owner, the kernel's interpreter, Python and dill versions,
                                when, and the SHA-256 of the other two, 0600

The server builds the process it lists, describes and checks Execute requests
against from ``process.json`` alone (:func:`jupyter_wps.description.from_json`,
strict: the description is untrusted input). ``process.dill`` is code: the
server only copies its bytes into a job's ``job.dill``, and the launcher loads
them under the interpreter the kernel named. Published processes live until
they are unpublished, across kernel and server restarts; only their owner can
replace or remove them, and they may not take the name of a process the server
has of its own.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..description import DescriptionError, process_arguments
from ..jobs import atomic_write, now, open_trusted
from ..jobs.jobdir import UnsafeJobFile, read_file
from ..process import Process, ProcessRegistry
from ..wps.exceptions import NoApplicableCode

log = logging.getLogger("jupyter_wps")

PUBLISHED_DIR = ".published"
PICKLE_FILE = "process.dill"
DESCRIPTION_FILE = "process.json"
META_FILE = "meta.json"
#: the largest pickle a kernel may publish (bytes)
MAX_PICKLE_BYTES = 64 * 1024 * 1024
#: the largest publication request (the pickle base64-encoded, and the description)
MAX_REQUEST_BYTES = MAX_PICKLE_BYTES * 4 // 3 + 4 * 1024 * 1024

_VERSION = re.compile(r"^\d+\.\d+(?:\.\d+)?[\w.+-]{0,32}$")
_NOT_PATH = re.compile(r"[\x00-\x1f\x7f]")


class PublishError(Exception):
    """A publication refused: the HTTP status (400, 403, 404, 409, 413) and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class PublishedProcess(Process):
    """A process published from a kernel: its description, and where its pickle is.

    It has no handler here: it runs in its launcher, under its kernel's interpreter.
    """

    def __init__(
        self,
        *,
        owner: str,
        directory: Path,
        pickle_sha256: str,
        runtime: dict[str, str],
        published: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.owner = owner
        self.directory = Path(directory)
        self.pickle_sha256 = pickle_sha256
        #: the publishing kernel's interpreter, Python and dill versions: the job's runtime
        self.runtime = dict(runtime)
        self.published = published

    @property
    def pickle_path(self) -> Path:
        return self.directory / PICKLE_FILE

    def handler(self, inputs: dict[str, list[Any]]) -> Any:
        raise RuntimeError(
            f"{self.identifier} was published from a kernel: it runs in a launcher only"
        )

    def read_pickle(self) -> bytes:
        """The pickle's bytes, unloaded, checked to be the ones published with this description.

        Opened as the launcher opens a job file: no symlinks, owned by this uid,
        writable by nobody else.
        """
        try:
            fd = open_trusted(self.pickle_path)
        except UnsafeJobFile as exc:
            raise NoApplicableCode(f"published process {self.identifier}: {exc}") from None
        with open(fd, "rb") as stream:
            data = stream.read()
        if hashlib.sha256(data).hexdigest() != self.pickle_sha256:
            raise NoApplicableCode(
                f"published process {self.identifier} was replaced while this request ran; "
                "send it again"
            )
        return data


def owner_directory_name(owner: str) -> str:
    """A user name as one safe directory name (no separators, no leading dot)."""
    name = quote(owner, safe="")
    if name.startswith("."):
        name = "%2E" + name[1:]
    if not name or len(name) > 200:
        name = "~" + hashlib.sha256(owner.encode()).hexdigest()
    return name


def _check_runtime(data: Any) -> dict[str, str]:
    if not isinstance(data, dict) or set(data) != {"interpreter", "python", "dill"}:
        raise PublishError(
            400, "runtime: expected an object with exactly interpreter, python and dill"
        )
    interpreter, python, dill_version = data["interpreter"], data["python"], data["dill"]
    if (
        not isinstance(interpreter, str)
        or not os.path.isabs(interpreter)
        or len(interpreter) > 4096
        or _NOT_PATH.search(interpreter)
    ):
        raise PublishError(400, f"runtime.interpreter: {interpreter!r} is not an absolute path")
    for key, value in (("python", python), ("dill", dill_version)):
        if not isinstance(value, str) or not _VERSION.match(value):
            raise PublishError(400, f"runtime.{key}: {value!r} is not a version number")
    return {"interpreter": interpreter, "python": python, "dill": dill_version}


def _check_pickle(text: Any) -> bytes:
    if not isinstance(text, str):
        raise PublishError(400, "pickle: expected the pickled process, base64-encoded")
    if len(text) > MAX_PICKLE_BYTES * 4 // 3 + 4:
        raise PublishError(413, f"pickle: larger than {MAX_PICKLE_BYTES} bytes")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PublishError(400, "pickle: not valid base64") from None
    # a pickle of protocol 2 or later starts with PROTO; nothing more is looked at
    if len(data) < 3 or data[0] != 0x80 or not 2 <= data[1] <= 5:
        raise PublishError(400, "pickle: not a pickle (protocol 2 to 5)")
    return data


class PublishedStore:
    """The published processes of one workdir, and their part of the registry."""

    def __init__(self, root: Path, registry: ProcessRegistry) -> None:
        self.root = Path(root)
        self.registry = registry
        #: the server's own processes (entry points, configuration): never replaced
        self.builtin = frozenset(registry.processes)

    def processes(self) -> list[PublishedProcess]:
        return [p for p in self.registry if isinstance(p, PublishedProcess)]

    # ------------------------------------------------------------------ reading

    def load(self) -> int:
        """Add every stored publication to the registry (at server start); how many."""
        count = 0
        try:
            owners = sorted(os.scandir(self.root), key=lambda e: e.name)
        except FileNotFoundError:
            return 0
        for owner_entry in owners:
            if owner_entry.name.startswith(".") or not owner_entry.is_dir(follow_symlinks=False):
                continue
            for entry in sorted(os.scandir(owner_entry.path), key=lambda e: e.name):
                if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                    continue
                try:
                    process = self._read(Path(entry.path), owner_entry.name)
                except (OSError, ValueError, KeyError, TypeError, PublishError) as exc:
                    log.warning("jupyter-wps: skipping published process %s: %s", entry.path, exc)
                    continue
                if process.identifier in self.builtin or process.identifier in self.registry:
                    log.warning(
                        "jupyter-wps: the published process %s of %s is hidden by the "
                        "server's own process of that name",
                        process.identifier,
                        process.owner,
                    )
                    continue
                self.registry.add(process)
                count += 1
        return count

    def _read(self, directory: Path, owner_dir: str) -> PublishedProcess:
        meta_data = read_file(directory / META_FILE)
        description_data = read_file(directory / DESCRIPTION_FILE)
        if meta_data is None or description_data is None:
            raise ValueError("incomplete (publication cut short?)")
        meta = json.loads(meta_data)
        if hashlib.sha256(description_data).hexdigest() != meta["description_sha256"]:
            raise ValueError("process.json is not the one published (publication cut short?)")
        if owner_directory_name(meta["owner"]) != owner_dir:
            raise ValueError(f"its owner {meta['owner']!r} does not match its directory")
        try:
            arguments = process_arguments(json.loads(description_data))
        except DescriptionError as exc:
            raise ValueError(f"process.json: {exc}") from None
        if arguments["identifier"] != directory.name:
            raise ValueError(f"it describes {arguments['identifier']!r}")
        return PublishedProcess(
            owner=meta["owner"],
            directory=directory,
            pickle_sha256=meta["pickle_sha256"],
            runtime=_check_runtime(meta["runtime"]),
            published=meta["published"],
            **arguments,
        )

    # ------------------------------------------------------------------ changes

    def publish(self, owner: str, body: Any) -> tuple[PublishedProcess, bool]:
        """Store a publication and add it to the registry; (the process, whether it is new).

        ``body`` is the decoded JSON request: ``description``, ``pickle`` (base64) and
        ``runtime`` (interpreter, python, dill). PublishError: 400 for anything
        malformed, 409 for the name of one of the server's own processes, 403 for
        another user's published process.
        """
        if not isinstance(body, dict):
            raise PublishError(400, "expected a JSON object: description, pickle and runtime")
        unknown = sorted(set(body) - {"description", "pickle", "runtime"})
        if unknown:
            raise PublishError(400, f"unknown field(s) {', '.join(map(repr, unknown))}")
        for key in ("description", "pickle", "runtime"):
            if key not in body:
                raise PublishError(400, f"{key}: missing")
        try:
            arguments = process_arguments(body["description"])
        except DescriptionError as exc:
            raise PublishError(400, f"invalid process description: {exc}") from None
        runtime = _check_runtime(body["runtime"])
        pickled = _check_pickle(body["pickle"])
        identifier = arguments["identifier"]
        existing = self._check_name(identifier, owner)
        directory = self.root / owner_directory_name(owner) / identifier
        description = json.dumps(body["description"], indent=1, sort_keys=True).encode()
        published = now().isoformat()
        meta = {
            "owner": owner,
            "identifier": identifier,
            "runtime": runtime,
            "published": published,
            "pickle_sha256": hashlib.sha256(pickled).hexdigest(),
            "description_sha256": hashlib.sha256(description).hexdigest(),
        }
        try:
            process = PublishedProcess(
                owner=owner,
                directory=directory,
                pickle_sha256=meta["pickle_sha256"],
                runtime=runtime,
                published=published,
                **arguments,
            )
        except ValueError as exc:
            raise PublishError(400, f"invalid process description: {exc}") from None
        for path in (self.root, directory.parent, directory):
            path.mkdir(mode=0o700, exist_ok=True)
            os.chmod(path, 0o700)
        # the metadata last: a publication cut short is recognised and skipped at load
        atomic_write(directory / PICKLE_FILE, pickled)
        atomic_write(directory / DESCRIPTION_FILE, description)
        atomic_write(directory / META_FILE, json.dumps(meta, indent=1, sort_keys=True).encode())
        self.registry.add(process, replace_existing=True)
        log.info(
            "jupyter-wps: %s %s process %s (%s, Python %s)",
            owner,
            "replaced" if existing else "published",
            identifier,
            runtime["interpreter"],
            runtime["python"],
        )
        return process, existing is None

    def _check_name(self, identifier: str, owner: str) -> PublishedProcess | None:
        """The caller's publication this one replaces, if any; PublishError if not theirs."""
        current = self.registry.get(identifier)
        if identifier in self.builtin or (
            current is not None and not isinstance(current, PublishedProcess)
        ):
            raise PublishError(
                409,
                f"{identifier!r} is the name of one of the server's own processes; "
                "publish under another identifier",
            )
        if isinstance(current, PublishedProcess) and current.owner != owner:
            raise PublishError(
                403,
                f"{identifier!r} was published by {current.owner}; only they can replace it",
            )
        return current

    def unpublish(self, owner: str, identifier: str) -> PublishedProcess:
        """Remove the caller's publication (jobs already submitted still run)."""
        current = self.registry.get(identifier)
        if current is None:
            raise PublishError(404, f"no process {identifier!r}")
        if not isinstance(current, PublishedProcess):
            raise PublishError(
                409, f"{identifier!r} is one of the server's own processes, not a published one"
            )
        if current.owner != owner:
            raise PublishError(
                403, f"{identifier!r} was published by {current.owner}; only they can remove it"
            )
        self.registry.remove(identifier)
        # renamed away first, so a reader never sees it half deleted
        doomed = current.directory.with_name(f".{identifier}.{secrets.token_hex(6)}.deleted")
        with contextlib.suppress(FileNotFoundError):
            os.rename(current.directory, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
        log.info("jupyter-wps: %s unpublished process %s", owner, identifier)
        return current
