"""Run one job where the scheduler put it: ``python -m jupyter_wps.launcher JOBDIR``.

The launcher loads ``job.dill`` (after checking that nobody else could have
written it), runs the process, and writes the job's WPS status document:
ProcessStarted with percentCompleted as the process reports progress, then
ProcessSucceeded with the outputs or ProcessFailed with the error. It reads
no configuration file: what it needs is in ``job.json``. It imports neither
tornado nor Jupyter, so it starts fast on a compute node.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dill

from .jobs import (
    JobDir,
    JobPayload,
    now,
    open_payload,
    runtime_versions,
    spool,
)
from .jobs.document import BASE_URL_PLACEHOLDER, status_document
from .jobs.jobdir import CLAIMED_EXIT, write_output
from .jobs.proc import process_start_time
from .jobs.record import DamagedFile, JobRecord
from .process import (
    BoundingBox,
    ComplexData,
    ComplexOutput,
    Format,
    LiteralOutput,
    Process,
    as_processes,
    load_import_path,
    report_progress_to,
)
from .wps.exceptions import NoApplicableCode
from .wps.literals import format_literal
from .wps.request import OutputRequest, ResponseForm
from .wps.response import OutputValue, Status

#: Progress is written at most this often (seconds): status files live on shared filesystems.
PROGRESS_INTERVAL = 1.0
#: Environment variables that hold the scheduler's id of the running batch job
BATCH_JOB_ID_VARIABLES = ("SLURM_JOB_ID", "JOB_ID", "PBS_JOBID")


class Dismissed(Exception):
    """The server dismissed the job while it ran: stop, write nothing final."""


class StatusWriter:
    """Writes the job's status document; the launcher is its only writer once started."""

    def __init__(self, jobdir: JobDir, record: JobRecord, process: Process) -> None:
        self.jobdir = jobdir
        self.record = record
        self.process = process
        self.lineage: Any = None
        self._last_progress = 0.0
        self._percent = -1

    def _write(self, status: Status, outputs: Sequence[OutputValue] = ()) -> None:
        document = status_document(
            self.process,
            self.jobdir.job_id,
            status,
            self.record.store,
            self.record.language,
            lineage=self.lineage,
            outputs=outputs,
        )
        self.jobdir.write_status(document)
        if self.record.spool:  # the copy the hub's service serves while the server is down
            try:
                spool.write(self.record.spool, spool.STATUS_SUFFIX, document)
            except OSError as exc:
                say(f"cannot copy the status to the spool: {exc}")

    def started(self, percent: int = 0, message: str = "") -> None:
        self._percent = percent
        self._last_progress = time.monotonic()
        self._write(Status("started", now(), message or "Process started", percent))

    def progress(self, percent: int, message: str) -> None:
        """A progress report from the process, written at most once per interval."""
        if self.jobdir.has_verdict():
            raise Dismissed()
        moment = time.monotonic()
        if moment - self._last_progress < PROGRESS_INTERVAL or percent < self._percent:
            return
        self.started(percent, message)

    def succeeded(self, outputs: Sequence[OutputValue]) -> None:
        self._write(Status("succeeded", now(), "Process succeeded", 100), outputs)

    def failed(self, message: str) -> None:
        """Record the failure; if even that is impossible, say so on stderr (launcher.log)."""
        try:
            self._write(Status("failed", now(), message, exception=NoApplicableCode(message)))
        except OSError as exc:
            print(f"jupyter-wps launcher: cannot write the status: {exc}", file=sys.stderr)


def _as_complex(value: Any, spec: ComplexOutput, request: OutputRequest) -> tuple[bytes, Format]:
    """A process's return value for a complex output: its raw content and its format.

    The format is the requested one if the output supports it, else the value's
    own MIME type, else the output's default. The content is never encoded
    here: base64 is the response builder's business.
    """
    formats = list(spec.formats)
    fmt = next(
        (f for f in formats if f.matches(request.mime_type, request.encoding, request.schema)),
        formats[0],
    )
    if isinstance(value, ComplexData):
        content = value.read()
        if value.mime_type and not request.mime_type:
            fmt = Format(value.mime_type, fmt.encoding, value.schema or fmt.schema)
    elif isinstance(value, Path):
        content = value.read_bytes()
    elif isinstance(value, bytes):
        content = value
    elif isinstance(value, str):
        content = value.encode("utf-8")
    elif "json" in fmt.mime_type:
        content = json.dumps(value).encode("utf-8")
    else:
        content = str(value).encode("utf-8")
    return content, fmt


def make_outputs(
    process: Process,
    result: Mapping[str, Any],
    form: ResponseForm,
    outputs_dir: Path,
    job_id: str,
) -> list[OutputValue]:
    """Turn the handler's results into the requested outputs, writing references as files."""
    requested = form.outputs or [OutputRequest(o.identifier) for o in process.outputs]
    values: list[OutputValue] = []
    for request in requested:
        spec = process.output(request.identifier)
        if spec is None:
            continue
        if request.identifier not in result:
            continue  # outputs may depend on the inputs (echo): only those produced are sent
        value = result[request.identifier]
        by_reference = request.as_reference or form.raw
        output = OutputValue(request.identifier, spec, uom=request.uom)
        if isinstance(spec, ComplexOutput):
            content, fmt = _as_complex(value, spec, request)
            output.mime_type, output.schema = fmt.mime_type, fmt.schema
            output.encoding = request.encoding or fmt.encoding
            if by_reference:
                name = f"{request.identifier}{fmt.suffix}"
                write_output(outputs_dir, name, content)
                output.href = f"{BASE_URL_PLACEHOLDER}/outputs/{job_id}/{name}"
                output.encoding = None  # the file holds the raw content
            else:
                output.value = ComplexData(data=content, mime_type=fmt.mime_type)
        elif by_reference:
            name = f"{request.identifier}.txt"
            write_output(outputs_dir, name, value_text(value, spec).encode("utf-8"))
            output.href = f"{BASE_URL_PLACEHOLDER}/outputs/{job_id}/{name}"
            output.mime_type = "text/plain"
        else:
            output.value = value
        values.append(output)
    return values


def value_text(value: Any, spec: Any) -> str:
    """Plain-text form of a literal or bounding-box output (for a reference or a raw output)."""
    if isinstance(value, BoundingBox):
        corners = [*value.lower, *value.upper]
        return ",".join(format_literal(v) for v in corners) + (f",{value.crs}" if value.crs else "")
    data_type = spec.data_type if isinstance(spec, LiteralOutput) else None
    return format_literal(value, data_type)


def failure_message(exc: BaseException) -> str:
    """What the client is told of a failed process: its own words (``client_message``,
    as a PyWPS process's failure has them), else the exception's type and message."""
    worded = getattr(exc, "client_message", None)
    if isinstance(worded, str) and worded:
        return worded
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def check_runtime(record: JobRecord) -> str | None:
    """Why this interpreter must not load the job (another Python or dill), or None."""
    wrote = record.runtime
    here = runtime_versions()
    # a published process was pickled by its kernel, whose versions the record holds
    writer = "the job was written by"
    if record.published:
        writer = "the process was published from"
    for key in ("python", "dill"):
        if key not in wrote:
            continue
        if wrote[key].split(".")[:2] != here[key].split(".")[:2]:
            return (
                f"{writer} {key} {wrote[key]} but the launcher runs {key} "
                f"{here[key]} ({sys.executable}); run it with {wrote.get('interpreter')}"
            )
    return None


def say(message: str) -> None:
    """A line in launcher.log (the launcher's stderr), with the time: what a user reads."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} jupyter-wps launcher: {message}", file=sys.stderr, flush=True)


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def claim(jobdir: JobDir, record: JobRecord) -> bool:
    """Claim the job for this launcher; False if another launcher has (it runs the job).

    The claim says where the job runs: host, pid, the backend's id for it (the
    batch job's, or the local backend's ``<pid>:<start time>``) and the start time.
    """
    pid = os.getpid()
    native_id = None
    if record.backend != "local":
        native_id = next((os.environ[v] for v in BATCH_JOB_ID_VARIABLES if os.getenv(v)), None)
    holder = {
        "host": socket.gethostname(),
        "pid": str(pid),
        "native_id": native_id or f"{pid}:{process_start_time(pid)}",
        "time": now().isoformat(),
    }
    if jobdir.claim(holder):
        return True
    try:
        other = jobdir.read_claim() or {}
    except (OSError, DamagedFile) as exc:
        other = {"problem": str(exc)}
    say(f"job {jobdir.job_id} is already claimed by another launcher ({other}): not run again")
    return False


def run(jobdir: JobDir) -> int:
    """Run the job in ``jobdir``; the exit status says whether it succeeded."""
    try:
        record = jobdir.read_record()
    except (OSError, DamagedFile) as exc:
        record, problem = None, f"the job cannot be loaded: {exc}"
    else:
        problem = f"no job record in {jobdir.path}"
    if record is None:
        say(problem)
        return 2
    process = Process(record.process, record.process_title)
    writer = StatusWriter(jobdir, record, process)
    try:
        problem = check_runtime(record)
        if problem:
            raise RuntimeError(problem)
        # refused first if others could have written the job; then claimed, then loaded
        with open_payload(jobdir) as stream:
            if not claim(jobdir, record):
                return CLAIMED_EXIT
            payload: JobPayload = dill.load(stream)
        if getattr(payload, "process_pickle", None) is not None:
            process = _load_published(payload.process_pickle, record.process)
        elif payload.process_ref:
            process = _find_process(payload.process_ref, record.process)
        else:
            process = payload.process
        writer.process = process
        writer.lineage = (payload.lineage, payload.response) if payload.lineage else None
    except Exception as exc:  # UnsafeJobFile, version mismatch, unpickling errors
        message = f"the job cannot be loaded: {exc}"
        say(message)
        writer.failed(message)
        return 1
    if jobdir.has_verdict():
        return 0
    writer.started()
    say(
        f"job {jobdir.job_id}: process {record.process} on {socket.gethostname()}, "
        f"pid {os.getpid()}, {sys.executable}"
    )
    began = time.monotonic()
    report_progress_to(writer.progress)
    try:
        run_job = getattr(process, "run_job", None)
        if run_job is not None:  # a process that makes its outputs itself (a PyWPS process)
            outputs = run_job(
                payload.inputs, payload.response, jobdir.outputs(record), jobdir.job_id, jobdir.path
            )
        else:
            result = process.handler(payload.inputs)
            outputs = make_outputs(
                process, result, payload.response, jobdir.outputs(record), jobdir.job_id
            )
    except Dismissed:
        say("dismissed")
        return 0
    except Exception as exc:
        traceback.print_exc()
        writer.failed(failure_message(exc))
        say(f"failed after {time.monotonic() - began:.1f} s")
        return 1
    finally:
        report_progress_to(None)
    if jobdir.has_verdict():
        return 0
    writer.succeeded(outputs)
    say(f"succeeded after {time.monotonic() - began:.1f} s")
    return 0


def _load_published(data: bytes, identifier: str) -> Process:
    """A process published from a kernel: its pickle, loaded here and nowhere else.

    ``job.dill`` passed the trusted-file checks, and this interpreter is the one
    the job names (the publishing kernel's, checked by :func:`check_runtime`).
    """
    loaded = dill.loads(data)
    if not isinstance(loaded, Process):
        raise TypeError(f"the published pickle holds a {type(loaded).__name__}, not a Process")
    if loaded.identifier != identifier:
        raise LookupError(
            f"the published pickle holds process {loaded.identifier!r}, not {identifier!r}"
        )
    return loaded


def _find_process(ref: str, identifier: str) -> Process:
    for candidate in as_processes(load_import_path(ref), ref):
        if candidate.identifier == identifier:
            return candidate
    raise LookupError(f"{ref} does not define process {identifier!r}")


def main_in_child(jobdir: JobDir) -> int:
    """Run a job in this process (a fresh interpreter, or a child of the launcher pool)."""
    signal.signal(signal.SIGTERM, _terminate)
    return run(jobdir)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m jupyter_wps.launcher JOBDIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main_in_child(JobDir(Path(args[0]).absolute())))


if __name__ == "__main__":
    main()
