"""Job widgets and the kernel's status monitor, against a live jupyter-wps server.

The widgets are driven as a kernel drives them (traits set from the monitor
thread while the main thread is busy); their front end is tested in a browser
by test_browser_widgets.py, and in executed notebooks by test_notebooks.py.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
import requests
from live import final_status, job, server_fixture, wait_until

from jupyter_wps import connect
from jupyter_wps.client import job as job_module
from jupyter_wps.client import monitor as monitor_module
from jupyter_wps.client.job import without_capability
from jupyter_wps.client.monitor import Monitor
from jupyter_wps.client.widgets import JobsDashboard, JobWidget

server = server_fixture("widgets", "parallelprocesses = 16\n")


@pytest.fixture(scope="module")
def client(server):
    return connect(server.wps_url, token=server.token)


def monitor_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "jupyter-wps-monitor"]


def test_job_widget_follows_the_job_while_the_main_thread_is_busy(client, server):
    job = client.sleep(seconds=3, wait=False)
    widget = JobWidget(job)
    seen: list[tuple[str, int]] = []
    widget.observe(lambda _: seen.append((widget.state, widget.percent)), ["state", "percent"])
    time.sleep(4.5)  # busy: nothing on this thread polls
    wait_until(lambda: widget.state == "successful", timeout=30, what="the widget to succeed")
    assert job.reads_file, "this process sees the workdir: the status file is read directly"
    running = [percent for state, percent in seen if state == "running"]
    assert len(set(running)) >= 3 and running == sorted(running), seen
    assert widget.percent == 100 and job.state == "successful"
    assert [o["text"] for o in widget.outputs] == ["Slept for 3.0 seconds"]
    created = dt.datetime.fromisoformat(widget.created)
    finished = dt.datetime.fromisoformat(widget.finished)
    assert 3 <= (finished - created).total_seconds() < 30
    # what is saved in a notebook holds no credentials
    state = json.dumps(widget.get_state())
    assert server.token not in state and "cap=" not in state and "cap=" in job.status_location


def test_polls_over_http_when_the_workdir_is_not_visible(client, monkeypatch):
    monkeypatch.setattr(job_module, "_visible_directory", lambda uri: False)
    job = client.sleep(seconds=2, wait=False)
    widget = JobWidget(job)
    wait_until(lambda: widget.state == "successful", timeout=30, what="the widget to succeed")
    assert not job.reads_file and widget.percent == 100
    assert any(entry.state == "running" for entry in job.history)


def test_failure_shows_the_error(client):
    job = client.sleep(seconds=-1, wait=False)
    widget = JobWidget(job)
    wait_until(lambda: widget.state in ("failed", "successful"), timeout=30)
    assert widget.state == "failed" and widget.error and not widget.outputs


def test_cancel_asked_of_the_kernel_dismisses_the_job(client, server):
    job = client.sleep(seconds=60, wait=False)
    widget = JobWidget(job)
    wait_until(lambda: widget.state == "running", timeout=30, what="the job to run")
    widget._on_front_end_message(widget, {"action": "cancel", "job": job.id}, [])
    assert widget.state == "dismissed"
    assert final_status(server, job.id)["status"] == "dismissed"


def test_one_monitor_thread_for_a_hundred_jobs(client):
    jobs = [client.sleep(seconds=1, wait=False) for _ in range(100)]
    dashboard = JobsDashboard(client, jobs=jobs)
    assert len(monitor_threads()) == 1  # one poller for all of them, not a thread per job
    dashboard.wait(timeout=180)
    rows = dashboard.jobs
    assert len(rows) == 100 and {row["job_id"] for row in rows} == {j.id for j in jobs}
    assert all(row["state"] == "successful" and row["percent"] == 100 for row in rows)
    wait_until(lambda: not any(job._watched for job in jobs), 10, what="the polling to end")


def test_the_monitor_thread_ends_when_no_task_is_left():
    own = Monitor()
    runs: list[float] = []

    def task() -> float | None:
        runs.append(time.monotonic())
        return 0.05 if len(runs) < 3 else None  # three runs, then done

    own.add(task)
    assert own.running
    wait_until(lambda: not own.running, timeout=10, what="the monitor to stop")
    assert len(runs) == 3


def test_a_job_whose_server_is_gone_is_given_up(client, monkeypatch):
    monkeypatch.setattr(monitor_module, "MAX_POLL_FAILURES", 3)
    monkeypatch.setattr(monitor_module, "RETRY_AFTER_ERROR", 0.05)
    job = client.sleep(seconds=1, wait=False)
    job.status_location = job.status_location.replace("/wps/status/", "/wps/nowhere/")
    job._history.clear()  # never seen: a 404 is an error, not "dismissed"
    job._directory = False
    own = Monitor()
    own.watch(job)
    wait_until(lambda: not own.running, timeout=30, what="the poller to give up")
    assert not job._watched and not job.done


def test_dashboard_lists_the_users_jobs_and_new_ones(client, server):
    first = client.sleep(seconds=1, wait=False)
    dashboard = JobsDashboard(client)
    assert first.id in {row["job_id"] for row in dashboard.jobs}
    second = client.sleep(seconds=30, wait=False)
    wait_until(
        lambda: second.id in {row["job_id"] for row in dashboard.jobs},
        timeout=30,
        what="the new job on the dashboard",
    )
    dashboard._on_front_end_message(dashboard, {"action": "cancel", "job": second.id}, [])
    dashboard.wait(timeout=60)
    rows = {row["job_id"]: row for row in dashboard.jobs}
    assert rows[first.id]["state"] == "successful" and rows[first.id]["percent"] == 100
    assert rows[second.id]["state"] == "dismissed"
    assert job(server, second.id)["status"] == "dismissed"
    dashboard.close()


def test_status_polling_is_not_user_activity(client, server):
    """A dashboard left open must not keep an idle server from being culled."""

    def last_activity() -> str:
        reply = requests.get(f"{server.url}api/status", headers=server.headers, timeout=10)
        return reply.json()["last_activity"]

    job = client.sleep(seconds=2, wait=False)  # executing is activity...
    before = last_activity()
    widget, dashboard = JobWidget(job), JobsDashboard(client)
    job.result(timeout=30)  # ...polling its status, listing jobs, reading results are not
    wait_until(lambda: widget.state == "successful")
    job.logs()
    requests.get(job.status_location, timeout=10).raise_for_status()
    for path in ("api/jobs", f"api/jobs/{job.id}", f"api/jobs/{job.id}/results"):
        requests.get(f"{server.wps_url}/{path}", headers=server.headers).raise_for_status()
    dashboard.close()
    assert last_activity() == before
    client.say_hello(name="activity")
    assert last_activity() > before


def test_logs_are_the_launchers(client):
    job = client.say_hello(name="logs", wait=False)
    job.result(timeout=30)
    log = job.logs()
    assert f"job {job.id}: process say_hello" in log and "succeeded after" in log


def test_capabilities_are_kept_out_of_widget_state():
    url = "http://h/wps/status/x.xml?cap=secret&a=1"
    assert without_capability(url) == "http://h/wps/status/x.xml?a=1"
    assert without_capability(None) == ""
