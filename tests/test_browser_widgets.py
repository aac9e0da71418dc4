"""The job widget in a real JupyterLab, in Chromium: progress moves and Cancel works
while the cell that waits for the job's result keeps the kernel busy.

JupyterLab runs under a prefix, as JupyterHub serves a user's server: the widget's
front end must find the server's API under the page's base URL."""

from __future__ import annotations

import re
import time

import nbformat
import pytest
from browser import LabServer
from live import final_status, wait_until

pytestmark = pytest.mark.browser
pytest_plugins = ["browser"]

NOTEBOOK = "watch-a-job.ipynb"


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    server = LabServer(tmp_path_factory.mktemp("hub-user"), base_url="/user/alice/").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def notebook(lab_server) -> str:
    cells = [
        nbformat.v4.new_code_cell(
            "from jupyter_wps import connect\n\n"
            "wps = connect()\n"
            "job = wps.sleep(seconds=120, wait=False)\n"
            "job"
        ),
        nbformat.v4.new_code_cell(
            "try:\n    job.result()\nexcept Exception as error:\n    print('ended:', error)"
        ),
    ]
    kernel = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": kernel})
    nbformat.write(notebook, lab_server.root / NOTEBOOK)
    return NOTEBOOK


def busy(lab) -> bool:
    kernel = lab.kernel()
    return kernel is not None and kernel[1] == "busy"


def run_cell(lab, index: int) -> None:
    """Select a cell and run it: Run > Run Selected Cell."""
    page = lab.page
    lab.cells().nth(index).locator(".jp-InputPrompt").click()
    page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(
        ".lm-Menu-item:visible .lm-Menu-itemLabel", has_text=re.compile(r"^Run Selected Cells?$")
    ).first.click()
    wait_until(
        lambda: "[ ]" not in lab.cells().nth(index).locator(".jp-InputPrompt").inner_text(),
        30,
        what=f"cell {index} to start",
    )


def test_progress_moves_and_cancel_works_while_the_kernel_is_busy(lab, notebook):
    page = lab.page
    lab.open_notebook(notebook)
    run_cell(lab, 0)
    widget = page.locator(".jwps-job").first
    widget.wait_for(state="visible", timeout=60_000)
    progress = widget.locator("progress.jwps-progress")
    wait_until(lambda: widget.get_attribute("data-state") == "running", 60, what="running")
    job_id = widget.get_attribute("data-job-id")
    assert job_id

    run_cell(lab, 1)  # blocks in job.result(): messages to the kernel wait from now on
    wait_until(lambda: busy(lab), 30, what="the kernel to be busy")
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(set(seen)) < 3:
        seen.append(float(progress.evaluate("p => p.value")))
        lab.wait(0.5)
    assert len(set(seen)) >= 3 and seen == sorted(seen), f"the bar did not move: {seen}"
    elapsed = widget.locator(".jwps-elapsed").inner_text()
    assert elapsed and elapsed != "0:00"

    assert busy(lab)
    since = time.monotonic()
    widget.locator("button.jwps-cancel").click()
    # the front end asked the server itself (the kernel could not have heard the click)
    wait_until(
        lambda: lab.count_requests(rf"/wps/api/jobs/{job_id}$", since, method="DELETE"),
        30,
        what="the DELETE request",
    )
    assert final_status(lab.server, job_id, timeout=30)["status"] == "dismissed"
    wait_until(lambda: widget.get_attribute("data-state") == "dismissed", 30, what="dismissed")
    # the waiting cell ends, told by the server that the job was dismissed
    output = page.locator(".jp-NotebookPanel:visible .jp-Cell").nth(1).locator(".jp-OutputArea")
    wait_until(lambda: "ended:" in output.inner_text(), 60, what="the cell to end")
    assert "dismissed" in output.inner_text()
    lab.wait_kernel_idle()
    assert not widget.locator("button.jwps-cancel").is_visible()


def test_watching_a_job_is_not_user_activity(lab, notebook):
    """A widget left open on a running job must not keep an idle server from being culled:
    its front end reads progress from the JSON API (not activity) and the kernel, told so,
    stays quiet until the job's state changes."""
    page = lab.page
    lab.open_notebook(notebook)
    lab.untrack_jupyterlab_activity()
    run_cell(lab, 0)
    widget = page.locator(".jwps-job").first
    wait_until(lambda: widget.get_attribute("data-state") == "running", 60, what="running")
    lab.wait_kernel_idle()
    lab.wait(2)  # the kernel has heard that the front end polls
    before = lab.server.last_activity()
    progress = widget.locator("progress.jwps-progress")
    seen = []
    for _ in range(12):
        seen.append(float(progress.evaluate("p => p.value")))
        lab.wait(0.5)
    assert len(set(seen)) >= 3 and seen == sorted(seen), f"the bar did not move: {seen}"
    assert lab.server.last_activity() == before
    job_id = widget.get_attribute("data-job-id")
    widget.locator("button.jwps-cancel").click()
    assert final_status(lab.server, job_id, timeout=30)["status"] == "dismissed"
