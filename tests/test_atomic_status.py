"""status.xml is replaced atomically: a reader never sees half a document."""

from __future__ import annotations

import itertools
import threading
import time

from lxml import etree
from schema import assert_valid

from jupyter_wps.jobs import BASE_URL_PLACEHOLDER, JobDir, now
from jupyter_wps.processes import say_hello
from jupyter_wps.wps.exceptions import NoApplicableCode
from jupyter_wps.wps.response import OutputValue, Status, execute_response

#: How long the reader reads while the writer writes (seconds), and the least writes expected.
DURATION = 3.0
MIN_WRITES = 2000


def documents() -> list[bytes]:
    """Status documents of very different sizes (under a kilobyte to 300 kilobytes)."""
    made = []
    location = f"{BASE_URL_PLACEHOLDER}/status/x.xml"
    service = f"{BASE_URL_PLACEHOLDER}?service=WPS&request=GetCapabilities"
    for size in (0, 10, 1000, 30_000, 300_000):
        message = "progress " + "x" * size
        made.append(
            execute_response(say_hello, Status("started", now(), message, 50), service, location)
        )
        made.append(
            execute_response(
                say_hello,
                Status("failed", now(), message, exception=NoApplicableCode(message)),
                service,
                location,
            )
        )
    output = OutputValue("output", say_hello.output("output"), value="Hello " + "y" * 50_000)
    made.append(
        execute_response(
            say_hello,
            Status("succeeded", now(), "Process succeeded", 100),
            service,
            location,
            outputs=[output],
        )
    )
    made.append(execute_response(say_hello, Status("accepted", now(), "accepted"), service))
    return made


def test_readers_never_see_half_a_status(tmp_path):
    jobdir = JobDir.create(tmp_path)
    variants = documents()
    sizes = sorted(len(d) for d in variants)
    assert sizes[0] < 2000 and sizes[-1] > 300_000
    for document in variants:
        assert_valid(document)
    jobdir.write_status(variants[0])

    stop = threading.Event()
    writes = 0
    failure: list[BaseException] = []

    def writer() -> None:
        nonlocal writes
        try:
            for document in itertools.cycle(variants):
                if stop.is_set():
                    return
                jobdir.write_status(document)
                writes += 1
        except BaseException as exc:  # reported by the test
            failure.append(exc)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    reads = 0
    seen: set[int] = set()
    sample: dict[int, bytes] = {}
    deadline = time.monotonic() + DURATION
    try:
        while time.monotonic() < deadline or writes < MIN_WRITES:
            if reads % 2:
                with open(jobdir.status_file, "rb") as stream:  # a fresh open every time
                    data = stream.read()
            else:
                data = jobdir.read_status()
            assert data, f"read {reads}: an empty status.xml"
            try:
                etree.fromstring(data)
            except etree.XMLSyntaxError as exc:
                raise AssertionError(
                    f"read {reads} (after {writes} writes) saw a partial document of "
                    f"{len(data)} bytes: {exc}"
                ) from None
            seen.add(len(data))
            sample.setdefault(len(data), data)
            reads += 1
            if failure or time.monotonic() > deadline + 60:  # the writer died or crawls
                break
    finally:
        stop.set()
        thread.join(30)
    assert not failure, failure
    assert writes >= MIN_WRITES, f"only {writes} writes ({reads} reads)"
    assert len(seen) > len(variants) // 2, f"the reads saw only {len(seen)} of the versions"
    assert seen <= {len(d) for d in variants}
    for data in sample.values():  # what was read is a whole, valid document
        assert_valid(data)
        assert data in variants
    left = sorted(p.name for p in jobdir.path.iterdir())
    assert left == ["outputs", "status.xml"], f"temporary files left: {left}"
