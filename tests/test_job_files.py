"""Job directory files read as untrusted input, and a manager that no fault stops.

Unit tests of the typed record and verdict (what a damaged file says), of the
symlink-safe opens, of the launcher's claim (one launcher a job), and of the job
manager in-process with a backend that fails on purpose (the loops go on, report
their problem, and recover). The same faults from outside, on a live server, are
in test_faults.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_wps.backends import FINISHED, RUNNING, Backend, NativeState
from jupyter_wps.config import load_config
from jupyter_wps.jobs import DamagedFile, JobDir, JobRecord, Verdict, now
from jupyter_wps.jobs.jobdir import (
    CLAIMED_EXIT,
    clear_outputs,
    open_output,
    write_output,
)
from jupyter_wps.processes import say_hello
from jupyter_wps.server import manager as manager_module
from jupyter_wps.server.manager import JobManager
from jupyter_wps.wps.exceptions import ServerBusy
from jupyter_wps.wps.request import ResponseForm

ASYNC = ResponseForm(store=True, status=True)

# --------------------------------------------------------------------------- the record


def test_record_round_trip():
    record = JobRecord("id-1", "say_hello", "alice", now(), native_id="42", sync=True)
    record.resources = {"cores": 2}
    assert JobRecord.from_json(record.to_json()) == record
    assert json.loads(record.to_json())["version"] == 1


def test_a_record_of_the_previous_layout_loads():
    """job.json as the release before the typed record wrote it: no version, nulls."""
    old = {
        "id": "id-1",
        "process": "sleep",
        "process_title": "Sleep",
        "owner": "alice",
        "backend": "local",
        "native_id": None,
        "created": "2026-11-30T10:00:00.000001+00:00",
        "store": True,
        "status": True,
        "raw": False,
        "sync": False,
        "language": "en-US",
        "outputs_dir": "/tmp/x/outputs",
        "runtime": {"interpreter": "/usr/bin/python3", "python": "3.11.7", "dill": "0.3.9"},
        "resources": {},
        "submitting": "2026-11-30T10:00:01+00:00",
        "finished": "2026-11-30T10:00:05+00:00",
    }
    record = JobRecord.from_json(json.dumps(old).encode())
    assert record.native_id is None and record.store
    assert record.finished - record.created == dt.timedelta(seconds=4.999999)


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "not JSON"),
        (b'{"id": "x", "proc', "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "a JSON list, not an object"),
        (b"null", "a JSON NoneType, not an object"),
        (b'{"id": "x", "process": "p", "owner": "o", "created": 5}', "field 'created'"),
        (
            b'{"id": "x", "process": "p", "owner": "o", "created": "2026-01-01T00:00:00",'
            b' "finished": "not a time"}',
            "field 'finished'",
        ),
        (b'{"id": "x", "process": 3, "owner": "o", "created": "2026-01-01"}', "field 'process'"),
        (b'{"id": "x", "process": "p", "created": "2026-01-01"}', "missing owner"),
        (
            b'{"id": "x", "process": "p", "owner": "o", "created": "2026-01-01", "runtime": []}',
            "runtime",
        ),
        (b'{"version": 99, "id": "x"}', "unknown layout version"),
    ],
)
def test_a_damaged_record_says_what_is_wrong(content, problem):
    with pytest.raises(DamagedFile) as caught:
        JobRecord.from_json(content)
    assert str(caught.value).startswith("job.json is damaged: ")
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"[1, 2]", "not an object"),
        (b'{"state": "paused", "message": "", "time": "2026-01-01T00:00:00"}', "unknown state"),
        (b'{"state": "failed", "message": 1, "time": "2026-01-01T00:00:00"}', "message"),
        (b'{"state": "failed", "message": "m", "time": 3}', "field 'time'"),
        (b"{", "not JSON"),
    ],
)
def test_a_damaged_verdict_says_what_is_wrong(content, problem):
    with pytest.raises(DamagedFile, match=problem):
        Verdict.from_json(content)


def test_reading_a_job_directory_refuses_what_is_not_a_file(tmp_path):
    jobdir = JobDir.create(tmp_path)
    os.mkdir(jobdir.status_file)
    with pytest.raises(DamagedFile, match="status.xml is damaged: not a regular file"):
        jobdir.read_status()
    (tmp_path / "elsewhere.json").write_text("{}")
    jobdir.record_file.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(DamagedFile, match="job.json is damaged"):
        jobdir.read_record()


# --------------------------------------------------------------------------- symlinks


def test_no_symlink_is_followed_under_a_job_directory(tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "data.txt").write_text("not yours")
    (tmp_path / "work").mkdir()
    jobdir = JobDir.create(tmp_path / "work")
    # outputs/ swapped for a symlink to a directory outside the workdir
    os.rmdir(jobdir.outputs_dir)
    jobdir.outputs_dir.symlink_to(secret)
    with pytest.raises(OSError):
        open_output(jobdir.outputs_dir, "data.txt")
    with pytest.raises(OSError):
        write_output(jobdir.outputs_dir, "data.txt", b"overwritten")
    clear_outputs(jobdir.outputs_dir)  # deletes nothing through the link
    assert (secret / "data.txt").read_text() == "not yours"
    # launcher.log as a symlink: its tail is empty, not the target's content
    jobdir.log_file.symlink_to(secret / "data.txt")
    assert jobdir.log_tail() == ""


def test_output_names_with_path_tricks_are_not_opened(tmp_path):
    jobdir = JobDir.create(tmp_path)
    write_output(jobdir.outputs_dir, "result.txt", b"42")
    fd = open_output(jobdir.outputs_dir, "result.txt")
    assert os.read(fd, 10) == b"42"
    os.close(fd)
    for name in ("../job.json", ".hidden", "a/b", ""):
        with pytest.raises(FileNotFoundError):
            open_output(jobdir.outputs_dir, name)
    # a file planted as a symlink in the outputs is not written through either
    (tmp_path / "target").write_text("keep")
    (jobdir.outputs_dir / "planted.txt").symlink_to(tmp_path / "target")
    with pytest.raises(OSError):
        write_output(jobdir.outputs_dir, "planted.txt", b"x")
    assert (tmp_path / "target").read_text() == "keep"


# --------------------------------------------------------------------------- the claim


def _write_job(manager: JobManager, **inputs) -> JobDir:
    form = ResponseForm(store=True, status=True)
    values = {k: [v] for k, v in inputs.items()}
    jobdir, _ = manager._write_job(
        "11111111-2222-4333-8444-555555555555", say_hello, values, form, "alice", None, False, {}
    )
    return jobdir


def _launch(jobdir: JobDir) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_wps.launcher", str(jobdir.path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_second_launcher_on_the_same_job_refuses_to_run(tmp_path):
    manager = JobManager(load_config(None, {"workdir": str(tmp_path)}), tmp_path)
    jobdir = _write_job(manager, name="Ada")
    first = _launch(jobdir)
    assert first.returncode == 0, first.stderr
    status = jobdir.read_status()
    assert b"ProcessSucceeded" in status
    claim = jobdir.read_claim()
    assert claim["host"] and claim["pid"].isdigit() and ":" in claim["native_id"]
    assert dt.datetime.fromisoformat(claim["time"]) <= now()

    second = _launch(jobdir)
    assert second.returncode == CLAIMED_EXIT
    assert "already claimed by another launcher" in second.stderr
    assert jobdir.read_status() == status  # nothing written, nothing run again


# --------------------------------------------------------------------------- the manager


class FlakyBackend(Backend):
    """A backend that fails on purpose: ``fail_states`` makes every query raise."""

    name = "flaky"

    def __init__(self, config, on_exit):
        super().__init__(config, on_exit)
        self.capacity = None
        self.fail_states = False
        self.submitted: list[str] = []
        self.finished: set[str] = set()

    async def submit(self, job_id, jobdir, interpreter, resources):
        self.submitted.append(job_id)
        return f"native-{len(self.submitted)}"

    async def states(self, native_ids):
        if self.fail_states:
            raise OSError(errno.EIO, "the scheduler is not answering")
        return {
            n: NativeState(FINISHED if n in self.finished else RUNNING, exit_code=0)
            for n in native_ids
        }

    async def cancel(self, native_id):
        self.finished.add(native_id)


def _manager(tmp_path: Path) -> tuple[JobManager, FlakyBackend]:
    config = load_config(None, {"workdir": str(tmp_path), "poll_interval": 0.05})
    manager = JobManager(config, tmp_path, backend=None, owner="alice")
    backend = FlakyBackend(config, manager._on_exit)
    manager.backend = backend
    return manager, backend


async def _until(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_the_watch_loop_survives_a_failing_scheduler_and_says_so(tmp_path):
    async def scenario():
        manager, backend = _manager(tmp_path)
        await manager.start()
        job = await manager.submit(say_hello, {"name": ["x"]}, ASYNC, "alice")
        await _until(lambda: backend.submitted)
        backend.fail_states = True
        await _until(lambda: "watch" in manager.problems)
        assert "not answering" in manager.problems["watch"]
        with pytest.raises(ServerBusy, match="cannot take jobs now"):
            await manager.submit(say_hello, {"name": ["y"]}, ASYNC, "alice")
        assert manager.summary(job).state == "accepted"  # a failed query changes nothing
        backend.fail_states = False
        await _until(lambda: not manager.problems)
        backend.finished.add(job.native_id)
        await manager.wait(job, timeout=10)
        assert all(not task.done() for task in manager._tasks)
        await manager.stop()

    asyncio.run(scenario())


def test_a_full_disk_refuses_new_jobs_and_leaves_nothing_behind(tmp_path, monkeypatch):
    async def scenario():
        manager, _ = _manager(tmp_path)
        await manager.start()

        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(manager_module, "dump_payload", full)
        with pytest.raises(ServerBusy, match="No space left on device"):
            await manager.submit(say_hello, {"name": ["x"]}, ASYNC, "alice")
        assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []
        monkeypatch.undo()
        job = await manager.submit(say_hello, {"name": ["x"]}, ASYNC, "alice")
        assert job.dir.record_file.exists()
        await manager.stop()

    asyncio.run(scenario())


def test_a_verdict_the_disk_refuses_is_kept_and_written_later(tmp_path, monkeypatch):
    async def scenario():
        manager, backend = _manager(tmp_path)
        await manager.start()
        job = await manager.submit(say_hello, {"name": ["x"]}, ASYNC, "alice")
        await _until(lambda: backend.submitted)
        real = JobDir.write_verdict

        def full(self, verdict):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(JobDir, "write_verdict", full)
        backend.finished.add(job.native_id)  # the launcher is gone without a final status
        await manager.wait(job, timeout=10)
        assert manager.summary(job).state == "failed"
        assert not job.dir.has_verdict()
        monkeypatch.setattr(JobDir, "write_verdict", real)
        await _until(job.dir.has_verdict)
        assert job.dir.read_verdict().state == "failed"
        assert all(not task.done() for task in manager._tasks)
        await manager.stop()

    asyncio.run(scenario())


def test_a_damaged_job_is_that_jobs_failure_only(tmp_path):
    async def scenario():
        manager, _ = _manager(tmp_path)
        await manager.start()
        good = await manager.submit(say_hello, {"name": ["x"]}, ASYNC, "bob")
        bad = await manager.submit(say_hello, {"name": ["y"]}, ASYNC, "bob")
        await manager.stop()
        bad.dir.record_file.write_text('{"id": 1}')

        manager, _ = _manager(tmp_path)
        await manager.start()
        damaged = manager.get(bad.id, "alice")  # shown to the workdir's owner
        summary = manager.summary(damaged)
        assert summary.state == "failed"
        assert "job.json is damaged: field 'id'" in summary.message
        assert b"ProcessFailed" in manager.status_document(damaged)
        assert manager.get(good.id, "bob").record.process == "say_hello"
        assert manager.job_json(damaged, "http://x/wps")["status"] == "failed"
        await manager.stop()

    asyncio.run(scenario())


def test_unset_fields_are_left_out_of_job_json():
    """What is not set is absent (``"deferred" in record`` means the job was deferred)."""
    written = json.loads(JobRecord("id-1", "say_hello", "alice", now()).to_json())
    assert "deferred" not in written and "native_id" not in written and "finished" not in written
