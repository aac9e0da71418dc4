"""The JupyterLab panel (labextension/) in a real JupyterLab, in Chromium."""

from __future__ import annotations

import json
import re
import time

import nbformat
import pytest
from live import job, submit, wait_until

pytestmark = pytest.mark.browser
pytest_plugins = ["browser"]

DEMO_PROCESSES = ("say_hello", "sleep", "echo", "ultimate_question")


def show_panel(lab) -> None:
    """The WPS panel, opened from the command palette."""
    lab.command("WPS: Show processes and jobs")
    lab.page.locator("#jp-wps-panel").wait_for(state="visible")


def job_row(lab, job_id: str):
    return lab.page.locator(f'.jp-wps-job[data-job-id="{job_id}"]')


def progress_of(row) -> float:
    return float(row.locator("progress.jp-wps-job-progress").evaluate("p => p.value"))


def jobs_polls(lab, since: float) -> int:
    return lab.count_requests(r"/wps/api/jobs/?(\?|$)", since)


def test_panel_shows_processes_and_a_job_that_it_cancels(lab):
    server = lab.server
    lab.untrack_jupyterlab_activity()
    lab.open()
    show_panel(lab)

    page = lab.page
    for identifier in DEMO_PROCESSES:
        item = page.locator(f'.jp-wps-process[data-process-id="{identifier}"]')
        item.wait_for(state="visible")
    sleep_item = page.locator('.jp-wps-process[data-process-id="sleep"]')
    assert "Sleep" in sleep_item.inner_text()
    assert "reporting progress" in sleep_item.locator(".jp-wps-process-description").inner_text()
    assert page.locator(".jp-wps-error").is_hidden()

    # a job submitted over HTTP, as a notebook or OWSLib would; the panel shows it at its
    # next look at the server (here the refresh button: no job was running, no polling)
    job_id = submit(server, "sleep", "seconds=30")
    page.locator(".jp-wps-refresh").click()
    row = job_row(lab, job_id)
    row.wait_for(state="visible")
    assert row.locator(".jp-wps-job-process").inner_text() == "sleep"
    assert row.locator(".jp-wps-job-cancel").is_visible()
    assert (
        row.locator("a.jp-wps-job-status-link")
        .get_attribute("href")
        .startswith(f"{server.wps_url}/status/{job_id}.xml")
    )

    # the progress bar rises, polled by the panel itself, and the elapsed time ticks
    wait_until(lambda: row.get_attribute("data-status") == "running", 30, what="running")
    first = progress_of(row)
    wait_until(lambda: progress_of(row) > first, 15, interval=0.2, what="the progress to rise")
    wait_until(lambda: progress_of(row) >= first + 10, 20, interval=0.2, what="more progress")
    assert row.locator(".jp-wps-job-message").inner_text().startswith("Sleeping")
    elapsed = row.locator(".jp-wps-job-elapsed")
    before = elapsed.inner_text()
    assert before.startswith("running"), before
    wait_until(lambda: elapsed.inner_text() != before, 5, what="the elapsed time to tick")

    # the panel's polling is not user activity: only the WPS API is tracked here
    # (JupyterLab's own calls carry no_track_activity), so any change of last_activity
    # in this window comes from the panel's GETs
    activity = server.last_activity()
    window = time.monotonic()
    lab.wait(7)
    polls = jobs_polls(lab, window)
    assert polls >= 2, f"the panel polled {polls} times in 7 s"
    assert server.last_activity() == activity, "the panel's polling counted as activity"

    # hidden, the panel does not poll; shown again, it does at once
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="filebrowser"]').click()
    page.locator("#jp-wps-panel").wait_for(state="hidden")
    lab.wait(0.5)  # a request under way when it was hidden
    hidden = time.monotonic()
    lab.wait(5)
    assert jobs_polls(lab, hidden) == 0, "the panel polled while hidden"
    shown = time.monotonic()
    show_panel(lab)
    wait_until(lambda: jobs_polls(lab, shown) >= 1, 5, what="a poll once shown again")
    assert server.last_activity() == activity

    # Cancel dismisses the job: in the panel and on the server (and that counts as activity)
    assert job(server, job_id)["status"] == "running"
    row.locator(".jp-wps-job-cancel").click()
    wait_until(
        lambda: row.get_attribute("data-status") == "dismissed", 20, what="dismissed in the panel"
    )
    assert row.locator(".jp-wps-job-status").inner_text() == "dismissed"
    assert row.locator(".jp-wps-job-cancel").is_hidden()
    assert job(server, job_id)["status"] == "dismissed"
    assert server.last_activity() > activity, "a Cancel is user activity"
    assert not page.locator(".jp-wps-error").is_visible()

    # nothing unfinished: the panel only looks for new jobs now and then (every 15 s)
    lab.wait(0.5)
    idle = time.monotonic()
    lab.wait(4)
    assert jobs_polls(lab, idle) == 0, "the panel polled fast with no unfinished job"
    later = submit(server, "sleep", "seconds=5")  # from another client
    job_row(lab, later).wait_for(state="visible", timeout=25_000)


def test_panel_shows_a_finished_job_with_its_results(lab):
    server = lab.server
    job_id = submit(server, "say_hello", "name=Lab")
    wait_until(lambda: job(server, job_id)["status"] == "successful", 30, what="the job to end")
    lab.open()
    show_panel(lab)
    row = job_row(lab, job_id)
    row.wait_for(state="visible")
    assert row.get_attribute("data-status") == "successful"
    assert progress_of(row) == 100
    assert row.locator(".jp-wps-job-cancel").is_hidden()
    results = row.locator("a.jp-wps-job-results-link")
    assert results.is_visible()
    assert results.get_attribute("href") == f"{server.wps_url}/api/jobs/{job_id}/results"
    assert row.locator(".jp-wps-job-elapsed").inner_text().startswith("took")


def test_panel_reports_errors_and_escapes_server_text(lab):
    """A server without the WPS (a 404 page), a refused request, and markup in the data."""
    page = lab.page
    state = {"mode": "missing"}
    evil = '<img src=x onerror="window.__wps_xss = 1">'

    def processes(route) -> None:
        if state["mode"] == "missing":
            route.fulfill(status=404, content_type="text/html", body="<html>404</html>")
        elif state["mode"] == "forbidden":
            route.fulfill(status=403, content_type="application/json", body="{}")
        else:
            body = {"processes": [{"id": "evil", "title": evil, "description": evil}]}
            route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    def jobs(route) -> None:
        if state["mode"] == "markup":
            body = {
                "jobs": [
                    {
                        "jobID": "j1",
                        "processID": evil,
                        "status": "failed",
                        "message": evil,
                        "progress": 30,
                        "links": [{"rel": "status", "href": "javascript:alert(1)"}],
                    }
                ]
            }
            route.fulfill(status=200, content_type="application/json", body=json.dumps(body))
        else:
            processes(route)

    # ServerConnection adds a cache-busting query to GETs
    page.route(re.compile(r"/wps/api/processes(\?|$)"), processes)
    page.route(re.compile(r"/wps/api/jobs(\?|$)"), jobs)
    lab.open()
    show_panel(lab)
    error = page.locator(".jp-wps-error")
    wait_until(lambda: "no WPS API" in error.inner_text(), 10, what="the missing-API message")

    state["mode"] = "forbidden"
    page.locator(".jp-wps-refresh").click()
    wait_until(lambda: "Not allowed (403)" in error.inner_text(), 10, what="the 403 message")

    state["mode"] = "markup"
    page.locator(".jp-wps-refresh").click()
    item = page.locator('.jp-wps-process[data-process-id="evil"]')
    item.wait_for(state="visible")
    assert evil in item.inner_text()
    row = job_row(lab, "j1")
    row.wait_for(state="visible")
    assert row.locator(".jp-wps-job-error").inner_text() == evil
    assert row.locator(".jp-wps-job-status-link").is_hidden()  # not a javascript: link
    assert page.locator("#jp-wps-panel img").count() == 0
    assert page.evaluate("window.__wps_xss") is None
    assert error.is_hidden()


def test_lab_helpers_run_a_notebook(lab):
    """The helpers of tests/browser.py that other browser tests build on."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import time\ntime.sleep(1)\nx = 6 * 7"),
        nbformat.v4.new_code_cell("print(x)"),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, lab.server.root / "helpers.ipynb")

    lab.open_notebook("helpers.ipynb")
    assert lab.kernel() == ("Python 3 (ipykernel)", "idle")
    lab.run_all_cells()
    lab.wait_kernel_idle()
    assert lab.cells().nth(1).locator(".jp-OutputArea-output").inner_text().strip() == "42"

    lab.cells().nth(1).locator(".jp-InputArea-editor").click()
    lab.page.keyboard.press("Control+A")
    lab.page.keyboard.type("print(x + 1)")
    lab.run_cell(1)
    lab.wait_kernel_idle()
    assert lab.cells().nth(1).locator(".jp-OutputArea-output").inner_text().strip() == "43"
