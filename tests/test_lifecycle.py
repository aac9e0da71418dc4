"""Job lifecycle on a live server: restarts, lost launchers, cancel, retention."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import requests
from live import NS, LiveServer, final_status, job, record, submit, wait_until
from lxml import etree
from schema import assert_valid


def status_document(server: LiveServer, job_id: str) -> etree._Element:
    reply = requests.get(
        f"{server.wps_url}/status/{job_id}.xml", headers=server.headers, timeout=10
    )
    assert reply.status_code == 200, reply.text
    assert_valid(reply.content)
    return etree.fromstring(reply.content)


def launcher_pid(server: LiveServer, job_id: str) -> int:
    native = wait_until(lambda: record(server, job_id).get("native_id"))
    return int(native.split(":")[0])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def server(tmp_path):
    live = LiveServer(tmp_path, "parallelprocesses = 2\n[processing]\npoll_interval = 0.3\n")
    yield live.start()
    live.stop()


def test_restart_in_the_middle_of_jobs(server):
    jobs = [submit(server, "sleep", "seconds=3") for _ in range(6)]
    running = wait_until(lambda: [j for j in jobs if job(server, j)["status"] == "running"])
    pids = {j: launcher_pid(server, j) for j in running}
    server.stop(kill=True)  # as if the allocation ended: launchers keep running
    assert all(alive(pid) for pid in pids.values())
    server.start()
    listed = requests.get(f"{server.wps_url}/api/jobs", headers=server.headers, timeout=10)
    assert set(jobs) <= {j["jobID"] for j in listed.json()["jobs"]}
    for job_id in jobs:
        assert final_status(server, job_id)["status"] == "successful", job(server, job_id)
        doc = status_document(server, job_id)
        assert doc.findtext(".//wps:LiteralData", namespaces=NS) == "Slept for 3.0 seconds"
    for job_id, pid in pids.items():  # adopted, not restarted
        assert record(server, job_id)["native_id"].startswith(f"{pid}:")


def test_killed_launcher_is_reported_failed(server):
    job_id = submit(server, "sleep", "seconds=30")
    wait_until(lambda: job(server, job_id)["status"] == "running")
    os.killpg(launcher_pid(server, job_id), signal.SIGKILL)
    final = final_status(server, job_id, timeout=15)
    assert final["status"] == "failed"
    assert "launcher" in final["message"]
    doc = status_document(server, job_id)
    assert doc.find("wps:Status/wps:ProcessFailed", NS) is not None


def test_launcher_dead_while_server_down(server):
    job_id = submit(server, "sleep", "seconds=30")
    wait_until(lambda: job(server, job_id)["status"] == "running")
    pid = launcher_pid(server, job_id)
    server.stop(kill=True)
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid), 10)
    server.start()
    final = final_status(server, job_id, timeout=15)
    assert final["status"] == "failed" and "launcher" in final["message"]


def test_cancel_queued_and_running_jobs(server):
    running = [submit(server, "sleep", "seconds=30") for _ in range(2)]
    queued = submit(server, "sleep", "seconds=30")
    pids = [launcher_pid(server, j) for j in running]
    assert job(server, queued)["status"] == "accepted"

    reply = requests.delete(
        f"{server.wps_url}/api/jobs/{queued}", headers=server.headers, timeout=10
    )
    assert reply.status_code == 200 and reply.json()["status"] == "dismissed"
    assert record(server, queued).get("native_id") is None  # never started

    # a file in the running job's outputs is deleted once its launcher is gone
    output = Path(record(server, running[0])["outputs_dir"]) / "partial.txt"
    output.write_text("partial result")
    wps = requests.get(
        server.wps_url,
        headers=server.headers,
        timeout=10,
        params={"service": "WPS", "version": "2.0.0", "request": "Dismiss", "jobId": running[0]},
    )
    assert wps.status_code == 200, wps.text
    assert_valid(wps.content)
    wait_until(lambda: not alive(pids[0]), 10)
    wait_until(lambda: not output.exists(), 10)
    assert job(server, running[0])["status"] == "dismissed"
    assert alive(pids[1]), "only the dismissed job's launcher is stopped"
    doc = status_document(server, running[0])
    assert doc.find("wps:Status/wps:ProcessFailed", NS) is not None

    # the record stays, and survives a restart as dismissed
    server.stop()
    server.start()
    assert job(server, running[0])["status"] == "dismissed"
    assert job(server, queued)["status"] == "dismissed"


def test_expired_jobs_are_removed(tmp_path):
    live = LiveServer(tmp_path, "job_retention = 2s\n[processing]\npoll_interval = 0.2\n").start()
    try:
        job_id = submit(live, "say_hello", "name=old")
        assert final_status(live, job_id)["status"] == "successful"
        wait_until(lambda: not (live.workdir / job_id).exists(), 15)
        reply = requests.get(f"{live.wps_url}/api/jobs/{job_id}", headers=live.headers, timeout=10)
        assert reply.status_code == 404
    finally:
        live.stop()
