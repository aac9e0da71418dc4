"""Fault injection on a live server: what breaks, and what the server must still do.

Injected, each on a real ``jupyter server`` process (tests/live.py):

* damaged job files (truncated, empty, garbage, wrong JSON types, an unknown verdict, a
  missing record, a symlink planted for ``status.xml``), of a finished job across a
  restart and of a job that is still running;
* a full filesystem: the workdir on a 2 MB tmpfs, filled while jobs run (root only; skipped
  with the reason elsewhere, failed under ``CI=true``), and the same tmpfs remounted
  read-only (the background loops' writes fail: the server must say why it refuses jobs);
* SIGKILL of the server in the middle of a burst of Executes, and during the hand-over of
  a job to the warm launcher pool (the pool stopped with SIGSTOP, resumed before or after
  the server restarts);
* many quick synchronous jobs (a job removed while it finishes used to kill the dispatcher);
* slow clients: request headers sent a byte at a time, bodies announced and never sent.

Asserted, as a user sees it: the server answers GetCapabilities throughout; a damaged job
is that job's failure, reported with the name of the damaged file (JSON API and WPS status
document, schema-valid), never a traceback or a stuck server; every accepted job ends with
a final status, and runs exactly once (one launcher start line in its launcher.log); new
jobs run once the fault is gone; the server still stops on SIGTERM.

Fuzzed KVP and XML requests are tests/test_fuzz.py's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from cluster import require
from live import (
    NS,
    LiveServer,
    execute,
    final_status,
    job,
    job_id_of,
    record,
    send_execute,
    server_fixture,
    state_of,
    submit,
    wait_until,
)
from lxml import etree
from schema import assert_valid

from jupyter_wps.jobs.jobdir import is_job_id

CONFIG = "parallelprocesses = 4\n[processing]\npoll_interval = 0.3\n"
FINAL = ("successful", "failed", "dismissed")

server = server_fixture("faults", CONFIG)


@pytest.fixture
def fresh(tmp_path):
    """A server of this test alone (it is stopped, killed and restarted)."""
    live = LiveServer(tmp_path, CONFIG)
    try:
        yield live.start()
    finally:
        live.stop()


# ------------------------------------------------------------------ helpers


def capabilities(server: LiveServer, timeout: float = 10) -> requests.Response:
    return requests.get(
        server.wps_url,
        params={"service": "WPS", "request": "GetCapabilities"},
        headers=server.headers,
        timeout=timeout,
    )


def assert_capabilities(server: LiveServer) -> None:
    reply = capabilities(server)
    assert reply.status_code == 200, reply.text
    assert_valid(reply.content)


def status_reply(server: LiveServer, job_id: str) -> requests.Response:
    return requests.get(f"{server.wps_url}/status/{job_id}.xml", headers=server.headers, timeout=10)


def listed_jobs(server: LiveServer) -> requests.Response:
    return requests.get(f"{server.wps_url}/api/jobs", headers=server.headers, timeout=10)


def start_lines(server: LiveServer, job_id: str) -> list[str]:
    """The launcher's start lines in the job's launcher.log (one per run of the process)."""
    path = server.workdir / job_id / "launcher.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    pattern = f"jupyter-wps launcher: job {job_id}: process "
    return [line for line in text.splitlines() if pattern in line]


def try_submit(server: LiveServer, identifier: str, inputs: str) -> str | None:
    """An async Execute: the job id if it was accepted, None if refused as ServerBusy."""
    reply = send_execute(server, identifier, inputs)
    if reply.status_code == 503 and b"ServerBusy" in reply.content:
        return None
    assert reply.status_code == 200, reply.text
    doc = etree.fromstring(reply.content)
    assert state_of(doc) == "ProcessAccepted", reply.text
    return job_id_of(doc)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == pid:
                    found.append(int(entry.name))
    return found


def pool_pid(server: LiveServer) -> int | None:
    """The server's warm launcher pool (``python -m jupyter_wps.backends.forkpool``)."""
    assert server.process is not None
    for pid in children(server.process.pid):
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"jupyter_wps.backends.forkpool" in cmdline and alive(pid):
                return pid
    return None


def processes_in(directory: Path) -> list[int]:
    """Live processes whose working directory is ``directory`` (a job's launchers)."""
    found = []
    target = str(directory)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "cwd") == target and alive(int(entry.name)):
                    found.append(int(entry.name))
    return found


def processes_under(directory: Path) -> list[int]:
    found = []
    prefix = str(directory)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cwd = os.readlink(entry / "cwd")
                if cwd == prefix or cwd.startswith(prefix + "/"):
                    found.append(int(entry.name))
    return found


def stop_gracefully(server: LiveServer, timeout: float = 20) -> None:
    """SIGTERM; the server must exit by itself within ``timeout`` (else it is killed, and
    the test fails)."""
    process = server.process
    assert process is not None
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        server.process = None
        pytest.fail(f"the server did not stop within {timeout} s of SIGTERM: {server.log()}")
    server.process = None


def log_size(server: LiveServer) -> int:
    path = server.root / "server.log"
    return path.stat().st_size if path.exists() else 0


def log_since(server: LiveServer, offset: int) -> str:
    with open(server.root / "server.log", "rb") as stream:
        stream.seek(offset)
        return stream.read().decode(errors="replace")


class CapabilitiesWatch(threading.Thread):
    """Asks for GetCapabilities every 0.1 s; a failure counts only while the server is up
    (from start() returning to the moment the test takes it down)."""

    def __init__(self, server: LiveServer) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.up = True
        self.generation = 0
        self.answers = 0
        self.failures: list[str] = []
        self._done = threading.Event()

    def down(self) -> None:
        self.up = False
        self.generation += 1

    def back_up(self) -> None:
        self.generation += 1
        self.up = True

    def run(self) -> None:
        while not self._done.is_set():
            generation, up = self.generation, self.up
            if up:
                problem = None
                try:
                    reply = capabilities(self.server, timeout=10)
                    if reply.status_code != 200:
                        problem = f"HTTP {reply.status_code}: {reply.text[:300]}"
                except requests.RequestException as exc:
                    problem = repr(exc)
                if problem is None:
                    self.answers += 1
                elif self.up and self.generation == generation:
                    self.failures.append(f"{time.strftime('%H:%M:%S')} {problem}")
            self._done.wait(0.1)

    def finish(self) -> None:
        self._done.set()
        self.join(15)


class CwdSampler(threading.Thread):
    """Samples /proc: the most processes seen at once in each directory under ``root``."""

    def __init__(self, root: Path) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.most: dict[str, int] = {}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            counts: dict[str, int] = {}
            for pid in processes_under(self.root):
                with contextlib.suppress(OSError):
                    cwd = os.readlink(f"/proc/{pid}/cwd")
                    if alive(pid):
                        counts[cwd] = counts.get(cwd, 0) + 1
            for cwd, count in counts.items():
                self.most[cwd] = max(self.most.get(cwd, 0), count)
            self._done.wait(0.02)

    def finish(self) -> None:
        self._done.set()
        self.join(15)


# ------------------------------------------------------------------ damaged job files


def _edit_json(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def _status_truncated(jobdir: Path, outside: Path) -> None:
    status = jobdir / "status.xml"
    status.write_bytes(status.read_bytes()[:100])


def _status_empty(jobdir: Path, outside: Path) -> None:
    (jobdir / "status.xml").write_bytes(b"")


def _status_garbage(jobdir: Path, outside: Path) -> None:
    (jobdir / "status.xml").write_bytes(b"\x00\xff\xfe<<not xml at all>>\x89PNG\r\n" * 40)


def _status_symlink(jobdir: Path, outside: Path) -> None:
    # a copy of the job's own (valid, succeeded) document, outside the job directory:
    # the server must not follow the link and serve it
    target = outside / "planted-status.xml"
    target.write_bytes((jobdir / "status.xml").read_bytes())
    (jobdir / "status.xml").unlink()
    (jobdir / "status.xml").symlink_to(target)


def _record_list(jobdir: Path, outside: Path) -> None:
    (jobdir / "job.json").write_text("[]")


def _record_truncated(jobdir: Path, outside: Path) -> None:
    text = (jobdir / "job.json").read_text()
    (jobdir / "job.json").write_text(text[: len(text) // 2])


def _record_created_number(jobdir: Path, outside: Path) -> None:
    _edit_json(jobdir / "job.json", created=5)


def _record_finished_not_a_time(jobdir: Path, outside: Path) -> None:
    _edit_json(jobdir / "job.json", finished="not a time")


def _verdict_list(jobdir: Path, outside: Path) -> None:
    (jobdir / "verdict.json").write_text("[1, 2]")


def _verdict_unknown_state(jobdir: Path, outside: Path) -> None:
    moment = dt.datetime.now(dt.timezone.utc).isoformat()
    verdict = {"state": "exploded", "message": "a state nobody knows", "time": moment}
    (jobdir / "verdict.json").write_text(json.dumps(verdict))


def _record_removed(jobdir: Path, outside: Path) -> None:
    (jobdir / "job.json").unlink()


#: case -> (how to damage the job directory, the file the job's message must name)
DAMAGES: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "status.xml truncated to 100 bytes": (_status_truncated, "status.xml"),
    "status.xml empty": (_status_empty, "status.xml"),
    "status.xml garbage": (_status_garbage, "status.xml"),
    "status.xml a symlink outside": (_status_symlink, "status.xml"),
    "job.json is []": (_record_list, "job.json"),
    "job.json truncated": (_record_truncated, "job.json"),
    "job.json created is 5": (_record_created_number, "job.json"),
    "job.json finished is not a time": (_record_finished_not_a_time, "job.json"),
    "verdict.json is [1, 2]": (_verdict_list, "verdict.json"),
    "verdict.json unknown state": (_verdict_unknown_state, "verdict.json"),
    "job.json removed": (_record_removed, ""),
}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("case", list(DAMAGES))
def test_a_damaged_file_is_that_jobs_failure(fresh: LiveServer, tmp_path: Path, case: str):
    """One damaged file of a finished job, found at restart: the job is failed, naming the
    file, everywhere it is shown; the server and new jobs are unaffected."""
    damage, named = DAMAGES[case]
    server = fresh
    job_id = submit(server, "say_hello", "name=x")
    assert final_status(server, job_id)["status"] == "successful"
    server.stop()
    outside = tmp_path / "outside"
    outside.mkdir()
    damage(server.workdir / job_id, outside)
    offset = log_size(server)
    server.start()

    problems: list[str] = []
    reply = capabilities(server)
    if reply.status_code != 200:
        problems.append(f"GetCapabilities: HTTP {reply.status_code}: {reply.text[:500]}")
    else:
        assert_valid(reply.content)

    new_job = submit(server, "say_hello", "name=after")
    new_final = final_status(server, new_job, timeout=60)
    if new_final["status"] != "successful":
        problems.append(f"a new job after the restart: {new_final}")

    listing = listed_jobs(server)
    if listing.status_code != 200:
        problems.append(f"GET api/jobs: HTTP {listing.status_code}: {listing.text[:500]}")
        shown = {}
    else:
        shown = {j["jobID"]: j for j in listing.json()["jobs"]}
    single = requests.get(f"{server.wps_url}/api/jobs/{job_id}", headers=server.headers, timeout=10)
    status = status_reply(server, job_id)

    if not named:  # a directory without a record is no job: not listed, and no error
        if job_id in shown:
            problems.append(f"a directory without job.json is listed as a job: {shown[job_id]}")
        if single.status_code != 404:
            problems.append(f"GET api/jobs/<id>: HTTP {single.status_code} (expected 404)")
    else:
        listed = shown.get(job_id)
        if listing.status_code == 200 and listed is None:
            problems.append("GET api/jobs does not list the damaged job")
        if listed is not None and (listed["status"] != "failed" or named not in listed["message"]):
            problems.append(f"GET api/jobs shows {listed}, not failed naming {named}")
        if single.status_code != 200:
            problems.append(f"GET api/jobs/<id>: HTTP {single.status_code}: {single.text[:500]}")
        else:
            shown_one = single.json()
            if shown_one["status"] != "failed" or named not in shown_one["message"]:
                problems.append(f"GET api/jobs/<id> shows {shown_one}, not failed naming {named}")
        if status.status_code != 200:
            problems.append(f"the status URL: HTTP {status.status_code}: {status.text[:500]}")
        else:
            assert_valid(status.content)
            doc = etree.fromstring(status.content)
            if state_of(doc) != "ProcessFailed" or named not in status.text:
                problems.append(
                    f"the status URL: {state_of(doc)}, not ProcessFailed naming {named}: "
                    f"{status.text[:1500]}"
                )
    logged = log_since(server, offset)
    if "Traceback" in logged:
        problems.append(
            f"the server logged a traceback: {logged[logged.index('Traceback') :][:3000]}"
        )
    assert not problems, f"{case}:\n" + "\n".join(problems)


def _running_status_truncated(jobdir: Path) -> None:
    status = jobdir / "status.xml"
    status.write_bytes(status.read_bytes()[:100])


def _running_record_list(jobdir: Path) -> None:
    (jobdir / "job.json").write_text("[]")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "damage",
    [_running_status_truncated, _running_record_list],
    ids=["status.xml truncated", "job.json is []"],
)
def test_a_damaged_file_of_a_running_job(fresh: LiveServer, damage):
    """Damaged while its launcher runs: the server keeps answering, the job ends final."""
    server = fresh
    job_id = submit(server, "sleep", "seconds=4")
    wait_until(lambda: job(server, job_id)["status"] == "running", 30, what="the job to run")
    damage(server.workdir / job_id)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        assert_capabilities(server)
        listing = listed_jobs(server)
        assert listing.status_code == 200, listing.text
        reply = requests.get(
            f"{server.wps_url}/api/jobs/{job_id}", headers=server.headers, timeout=10
        )
        assert reply.status_code == 200, reply.text
        time.sleep(0.2)
    final = final_status(server, job_id, timeout=60)
    assert final["status"] in ("successful", "failed"), final
    reply = status_reply(server, job_id)
    assert reply.status_code == 200, reply.text
    assert_valid(reply.content)
    assert state_of(etree.fromstring(reply.content)) in ("ProcessSucceeded", "ProcessFailed")
    assert final_status(server, submit(server, "say_hello", "name=y"))["status"] == "successful"


# ------------------------------------------------------------------ a full filesystem


def _mount_tmpfs(path: Path) -> Path:
    if os.geteuid() != 0:
        raise RuntimeError("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mount -t tmpfs failed: {done.stderr.strip() or done.returncode}")
    return path


@pytest.fixture
def small_disk_server(tmp_path):
    """A server whose workdir is a 2 MB tmpfs (root only)."""
    live = LiveServer(tmp_path, CONFIG)
    mount = require("a 2 MB tmpfs for the workdir", lambda: _mount_tmpfs(live.workdir))
    try:
        yield live.start()
    finally:
        live.stop()
        for pid in processes_under(mount):  # launchers of this test's server, if any are left
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for _ in range(50):
            if subprocess.run(["umount", str(mount)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


class Filler(threading.Thread):
    """Fills the filesystem of ``path`` and keeps it full (takes whatever is freed)."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.full = threading.Event()
        self._done = threading.Event()

    def run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        chunk = b"\0" * 65536
        try:
            while not self._done.is_set():
                try:
                    os.write(fd, chunk if not self.full.is_set() else chunk[:4096])
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    self.full.set()
                    self._done.wait(0.01)
        finally:
            os.close(fd)

    def finish(self) -> None:
        self._done.set()
        self.join(10)
        self.path.unlink(missing_ok=True)


@pytest.mark.timeout(300)
def test_a_full_filesystem(small_disk_server: LiveServer):
    """The workdir's filesystem full for ~10 s while jobs run: the server keeps answering,
    refuses new jobs with an exception report and leaves no half-written job; once space
    is back, every job ends final, new jobs run, and the server stops on SIGTERM."""
    server = small_disk_server
    before = [submit(server, "sleep", "seconds=3") for _ in range(6)]
    wait_until(lambda: any(job(server, j)["status"] == "running" for j in before), 30)
    filler = Filler(server.workdir / "filler")
    filler.start()
    accepted_during: list[str] = []
    try:
        assert filler.full.wait(30), "the tmpfs did not fill up"
        ended = time.monotonic() + 10
        while time.monotonic() < ended:
            assert_capabilities(server)
            reply = send_execute(server, "say_hello", "name=full")
            if reply.status_code == 200:
                accepted_during.append(reply.text)
                with contextlib.suppress(Exception):
                    accepted_during[-1] = job_id_of(etree.fromstring(reply.content))
            else:
                assert 400 <= reply.status_code < 600, reply.status_code
                assert_valid(reply.content)
                assert etree.QName(etree.fromstring(reply.content)).localname == (
                    "ExceptionReport"
                ), reply.text
            half_written = [
                entry.name
                for entry in server.workdir.iterdir()
                if is_job_id(entry.name) and not (entry / "job.json").exists()
            ]
            assert not half_written, f"job directories without job.json: {half_written}"
            time.sleep(0.5)
    finally:
        filler.finish()
    assert not accepted_during, f"an Execute was accepted on a full disk: {accepted_during}"

    # the server may take a few seconds to see that the disk has room again
    after = wait_until(
        lambda: try_submit(server, "say_hello", "name=space"),
        20,
        0.5,
        "an Execute to be accepted once space is back",
    )
    assert final_status(server, after, timeout=30)["status"] == "successful"
    for job_id in before + accepted_during:
        final = final_status(server, job_id, timeout=60)
        assert final["status"] in ("successful", "failed"), final
        if final["status"] == "failed":
            assert final["message"], final
    stop_gracefully(server)


def _remount(path: Path, mode: str) -> None:
    for _ in range(50):  # busy while a file there is open for writing
        done = subprocess.run(
            ["mount", "-o", f"remount,{mode}", str(path)], capture_output=True, text=True
        )
        if done.returncode == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"mount -o remount,{mode} {path}: {done.stderr}")


@pytest.mark.timeout(180)
def test_a_read_only_workdir_is_reported(small_disk_server: LiveServer):
    """The workdir's filesystem turned read-only for ~8 s (the loops' writes fail): the
    server keeps answering, refuses Executes saying why, and takes jobs again after."""
    server = small_disk_server
    warm = submit(server, "say_hello", "name=before")
    assert final_status(server, warm)["status"] == "successful"
    wait_until(lambda: not processes_under(server.workdir), 15, what="the launchers to end")
    _remount(server.workdir, "ro")
    try:
        ends = time.monotonic() + 8
        while time.monotonic() < ends:
            assert_capabilities(server)
            reply = send_execute(server, "say_hello", "name=ro")
            assert 400 <= reply.status_code < 600, reply.text
            assert_valid(reply.content)
            assert re.search(r"read-only|workdir", reply.text, re.I), reply.text
            listing = listed_jobs(server)
            assert listing.status_code == 200, listing.text
            time.sleep(1)
    finally:
        _remount(server.workdir, "rw")
    after = wait_until(
        lambda: try_submit(server, "say_hello", "name=rw"),
        20,
        0.5,
        "an Execute to be accepted once the workdir is writable",
    )
    assert final_status(server, after, timeout=30)["status"] == "successful"
    stop_gracefully(server)


# ------------------------------------------------------------------ SIGKILL


@pytest.mark.timeout(300)
def test_sigkill_during_a_burst(fresh: LiveServer):
    """SIGKILL in the middle of 40 Executes: after a restart every accepted job succeeds,
    having run exactly once; GetCapabilities never failed while the server was up."""
    server = fresh
    watch = CapabilitiesWatch(server)
    watch.start()
    accepted: list[str] = []
    killed = threading.Event()

    def one(i: int) -> None:
        if killed.is_set():
            return
        with contextlib.suppress(requests.RequestException):
            reply = requests.get(
                server.wps_url,
                headers=server.headers,
                timeout=30,
                params={
                    "service": "WPS",
                    "version": "1.0.0",
                    "request": "Execute",
                    "identifier": "sleep",
                    "DataInputs": "seconds=0.5",
                    "storeExecuteResponse": "true",
                    "status": "true",
                },
            )
            if reply.status_code == 200:
                doc = etree.fromstring(reply.content)
                if state_of(doc) == "ProcessAccepted":
                    accepted.append(job_id_of(doc))

    try:
        with ThreadPoolExecutor(8) as clients:
            futures = [clients.submit(one, i) for i in range(40)]
            wait_until(lambda: len(accepted) >= 15, 60, 0.01, "15 accepted Executes")
            watch.down()
            killed.set()
            server.stop(kill=True)
            for future in futures:
                future.result()
        server.start()
        watch.back_up()
        assert accepted
        for job_id in accepted:
            final = final_status(server, job_id, timeout=120)
            assert final["status"] == "successful", final
        time.sleep(2)  # a second run, if any, would have started by now
        for job_id in accepted:
            lines = start_lines(server, job_id)
            assert len(lines) == 1, (job_id, lines)
    finally:
        watch.finish()
    assert watch.answers > 0
    assert not watch.failures, watch.failures


@pytest.mark.timeout(180)
@pytest.mark.parametrize("order", ["pool resumes first", "server restarts first"])
def test_sigkill_during_the_hand_over(fresh: LiveServer, order: str):
    """The server killed while the launcher pool (stopped) has the job's line and not yet
    answered: whichever resumes first, the job runs exactly once and succeeds."""
    server = fresh
    warm = submit(server, "say_hello", "name=warm")  # the pool is started by the first job
    assert final_status(server, warm)["status"] == "successful"
    pool = wait_until(lambda: pool_pid(server), 10, what="the launcher pool")
    sampler = CwdSampler(server.workdir)
    sampler.start()
    os.kill(pool, signal.SIGSTOP)
    try:
        job_id = submit(server, "sleep", "seconds=6")
        jobdir = server.workdir / job_id
        wait_until(lambda: record(server, job_id).get("submitting"), 10, what="the hand-over")
        time.sleep(0.5)
        server.stop(kill=True)
        if order == "pool resumes first":
            os.kill(pool, signal.SIGCONT)
            server.start()
        else:
            server.start()
            wait_until(lambda: start_lines(server, job_id), 30, what="the job to be launched")
            time.sleep(0.5)
            os.kill(pool, signal.SIGCONT)
        final = final_status(server, job_id, timeout=60)
        assert final["status"] == "successful", final
        wait_until(lambda: not alive(pool), 15, what="the old pool to exit")
        wait_until(lambda: not processes_in(jobdir), 15, what="the job's launchers to end")
    finally:
        with contextlib.suppress(OSError):
            os.kill(pool, signal.SIGCONT)
        sampler.finish()
    log = (jobdir / "launcher.log").read_text(errors="replace")
    assert len(start_lines(server, job_id)) == 1, log
    if order == "pool resumes first":
        assert sampler.most.get(str(jobdir), 0) <= 1, (sampler.most, log)
    else:
        others = [line for line in log.splitlines() if line not in start_lines(server, job_id)]
        assert any(re.search(r"claim|already", line, re.I) for line in others), (
            f"the second launcher did not say it refused the job: {log}"
        )
    assert_capabilities(server)


# ------------------------------------------------------------------ busy and slow clients


@pytest.mark.timeout(180)
def test_many_quick_sync_jobs_leave_the_dispatcher_alive(server: LiveServer):
    """60 synchronous Executes from 4 clients, each job gone as it finishes: all succeed,
    and the dispatcher still runs an async job afterwards."""
    with ThreadPoolExecutor(4) as clients:
        docs = list(
            clients.map(lambda i: execute(server, "say_hello", f"name=q{i}", sync=True), range(60))
        )
    assert [state_of(doc) for doc in docs] == ["ProcessSucceeded"] * 60
    greeting = docs[7].findtext(".//wps:LiteralData", namespaces=NS)
    assert greeting == "Hello q7"
    job_id = submit(server, "sleep", "seconds=0.5")
    assert final_status(server, job_id, timeout=30)["status"] == "successful"


def _open(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.setblocking(False)
    return sock


@pytest.mark.timeout(120)
def test_slow_clients(server: LiveServer):
    """50 clients dripping their headers a byte every 0.2 s and 20 that announce a body
    they never send: others still get GetCapabilities within 2 s, and jobs run."""
    host = f"127.0.0.1:{server.port}"
    path = f"{server.base_url}wps"
    request = (
        f"GET {path}?service=WPS&request=GetCapabilities HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: token {server.token}\r\nUser-Agent: slow-client\r\n\r\n"
    ).encode()
    post = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: token {server.token}\r\n"
        "Content-Type: text/xml\r\nContent-Length: 10000\r\n\r\n<?xml ver"
    ).encode()
    drips = [_open(server) for _ in range(50)]
    stalls = [_open(server) for _ in range(20)]
    for sock in stalls:
        with contextlib.suppress(OSError):
            sock.send(post)
    stop = threading.Event()

    def drip() -> None:
        for i in range(len(request)):
            if stop.is_set():
                return
            for sock in drips:
                with contextlib.suppress(OSError):
                    sock.send(request[i : i + 1])
            stop.wait(0.2)

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        job_id = submit(server, "sleep", "seconds=1")
        slow: list[float] = []
        ends = time.monotonic() + 10
        while time.monotonic() < ends:
            began = time.monotonic()
            reply = capabilities(server, timeout=10)
            took = time.monotonic() - began
            assert reply.status_code == 200, reply.text
            if took > 2:
                slow.append(took)
            time.sleep(0.3)
        assert not slow, f"GetCapabilities took {slow} s while slow clients were connected"
        assert final_status(server, job_id, timeout=30)["status"] == "successful"
    finally:
        stop.set()
        dripper.join(10)
        for sock in drips + stalls:
            sock.close()
    assert_capabilities(server)
