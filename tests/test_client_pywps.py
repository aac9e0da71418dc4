"""The notebook client against a real PyWPS 4.x server (under gunicorn): any WPS 1.0.0 works."""

from __future__ import annotations

import importlib.util
import inspect
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from live import free_port, wait_until

from jupyter_wps import connect
from jupyter_wps.client import Job, ProcessError, Reference, WPSError

#: A PyWPS service with a say_hello-like and a sleep-like (async, progress) process; its
#: outputs directory (status documents, outputs by reference) is served at /outputs.
APP = """
import os
import time

from pywps import ComplexOutput, Format, LiteralInput, LiteralOutput, Process, Service
from werkzeug.middleware.shared_data import SharedDataMiddleware

HERE = os.path.dirname(os.path.abspath(__file__))


def hello(request, response):
    response.outputs["output"].data = "Hello " + request.inputs["name"][0].data
    return response


def nap(request, response):
    seconds = request.inputs["seconds"][0].data
    if seconds < 0:
        raise ValueError("cannot sleep a negative time")
    steps = 4
    for step in range(steps):
        response.update_status(f"napping, step {step + 1} of {steps}", 100 * step // steps)
        time.sleep(seconds / steps)
    response.outputs["output"].data = f"Slept for {seconds} seconds"
    response.outputs["report"].data = '{"seconds": %s}' % seconds
    return response


PROCESSES = [
    Process(
        hello,
        identifier="say_hello",
        title="Say hello",
        abstract="Greets the given name.",
        inputs=[LiteralInput("name", "Name", data_type="string", abstract="Who to greet")],
        outputs=[LiteralOutput("output", "Greeting", data_type="string")],
        store_supported=True,
        status_supported=True,
    ),
    Process(
        nap,
        identifier="nap",
        title="Nap",
        abstract="Sleeps, reporting progress.",
        inputs=[
            LiteralInput(
                "seconds", "Seconds", data_type="float", default=1.0, min_occurs=0, uoms=["second"]
            )
        ],
        outputs=[
            LiteralOutput("output", "Result", data_type="string"),
            ComplexOutput("report", "Report", supported_formats=[Format("application/json")]),
        ],
        store_supported=True,
        status_supported=True,
    ),
]

application = SharedDataMiddleware(
    Service(PROCESSES, [os.path.join(HERE, "pywps.cfg")]),
    {"/outputs": os.path.join(HERE, "outputs")},
)
"""

CONFIG = """
[server]
url = {url}/wps
outputurl = {url}/outputs
outputpath = {root}/outputs
workdir = {root}/work
parallelprocesses = -1

[logging]
level = INFO
file = {root}/pywps.log
database = sqlite:///{root}/pywps.sqlite
"""


def require(*modules: str) -> None:
    """Skip without PyWPS and gunicorn; under CI (the test extra installs them) fail."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return
    message = f"not installed: {', '.join(missing)}"
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def pywps_url(tmp_path_factory):
    require("pywps", "gunicorn")
    root = tmp_path_factory.mktemp("pywps")
    for name in ("outputs", "work"):
        (root / name).mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (root / "app.py").write_text(APP, encoding="utf-8")
    (root / "pywps.cfg").write_text(CONFIG.format(url=url, root=root), encoding="utf-8")
    with open(root / "gunicorn.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
            + ["--workers", "1", "--chdir", str(root), "app:application"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    params = {"service": "WPS", "request": "GetCapabilities"}
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (root / "gunicorn.log").read_text()
            assert time.monotonic() < deadline, (root / "gunicorn.log").read_text()
            try:
                if requests.get(f"{url}/wps", params=params, timeout=10).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.2)
        yield f"{url}/wps"
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # gunicorn and the job processes PyWPS forked
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="module")
def client(pywps_url):
    return connect(pywps_url)  # a plain URL: no token, no headers


def test_processes_described(client):
    assert list(client.processes) == ["say_hello", "nap"]
    assert "Hello" not in repr(client) and "nap" in dir(client)
    seconds = inspect.signature(client.nap).parameters["seconds"]
    assert (seconds.default, seconds.annotation) == (1.0, float)
    assert inspect.signature(client.nap).return_annotation._fields == ("output", "report")
    doc = client.nap.__doc__
    assert doc.startswith("Nap\n\nSleeps, reporting progress.")
    assert "seconds : float, optional" in doc and "Unit of measure: second." in doc
    assert "report : complex data" in doc and "Formats: application/json." in doc
    assert "Who to greet" in client.say_hello.__doc__


def test_sync_and_async_calls(client):
    assert client.say_hello(name="PyWPS") == "Hello PyWPS"
    result = client.nap(seconds=0.5)  # async under the hood: PyWPS supports status
    assert result.output == "Slept for 0.5 seconds"
    assert result.report == {"seconds": 0.5}


def test_async_job_with_progress_and_outputs_by_reference(client, tmp_path):
    job = client.nap(seconds=2, wait=False, as_reference=["report"])
    assert isinstance(job, Job) and job.status_location and job.id in job.status_location
    seen = []
    deadline = time.monotonic() + 60
    while not job.refresh().done:
        assert time.monotonic() < deadline
        seen.append(job.percent)
        time.sleep(0.1)
    assert job.state == "successful", job.logs()
    running = [p for p in seen if p]
    assert running == sorted(running) and len(set(running)) >= 2, job.logs()
    result = job.result()
    assert result.output == "Slept for 2.0 seconds"
    assert isinstance(result.report, Reference) and result.report.json() == {"seconds": 2.0}
    assert result.report.save(tmp_path / "report.json").read_text() == '{"seconds": 2.0}'
    assert "napping, step 2 of 4" in job.logs()


def test_widgets_follow_a_pywps_job(client):
    """No JSON API, no status file: the widgets poll PyWPS's status documents over HTTP."""
    from jupyter_wps.client import JobsDashboard, JobWidget, NoJobList

    job = client.nap(seconds=2, wait=False, as_reference=["report"])
    widget = JobWidget(job)
    dashboard = JobsDashboard(jobs=[job])
    assert widget.api_url == "" and job.api_url is None  # Cancel can only ask the kernel
    wait_until(lambda: widget.state == "successful", timeout=60, what="the widget to succeed")
    assert widget.percent == 100 and not job.reads_file
    assert {o["name"] for o in widget.outputs} == {"output", "report"}
    report = next(o for o in widget.outputs if o["name"] == "report")
    assert report["href"].startswith("http") and report["mime"] == "application/json"
    assert dashboard.wait(timeout=30).jobs[0]["state"] == "successful"
    with pytest.raises(NoJobList, match="JobsDashboard\\(jobs="):
        JobsDashboard(client)
    other = client.nap(seconds=1, wait=False)
    other_widget = JobWidget(other)
    other_widget._on_front_end_message(other_widget, {"action": "cancel", "job": other.id}, [])
    # PyWPS has no WPS 2.0 Dismiss: the widget says it cannot cancel
    assert (
        other_widget.notice.startswith("cancel failed") and "cannot cancel" in other_widget.notice
    )
    wait_until(lambda: other.done, timeout=30, what="the uncancelled job to end")


def test_await_a_job(client):
    import asyncio

    async def main():
        return await client.nap(seconds=0.5, wait=False)

    assert asyncio.run(main()).output == "Slept for 0.5 seconds"


def test_cancel_is_not_implemented(client):
    job = client.nap(seconds=1, wait=False)
    with pytest.raises(NotImplementedError, match="cannot cancel jobs"):
        job.cancel()
    assert job.result(timeout=60).output == "Slept for 1.0 seconds"  # the job was left alone


def test_errors(client):
    with pytest.raises(WPSError, match="InvalidParameterValue.*abc"):
        client.nap(seconds="abc")
    # PyWPS keeps the handler's message in its log; the client reports what PyWPS says
    with pytest.raises(ProcessError, match="nap job .*: NoApplicableCode: Process failed"):
        client.nap(seconds=-1)
