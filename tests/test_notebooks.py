"""The notebooks in notebooks/ run against a live server, as a user runs them.

nbclient executes each one in a real kernel with the widget state stored, as
JupyterLab saves it; the assertions read that state: what the user saw at the
end (every progress bar at its end, the right final states).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import cluster
import nbformat
import pytest
from live import LiveServer, record, server_fixture
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
FINAL = ("successful", "failed", "dismissed")


server = server_fixture("notebooks")


def run_notebook(name: str, server: LiveServer, monkeypatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("JUPYTER_WPS_URL", server.wps_url)
    monkeypatch.setenv("JUPYTER_WPS_TOKEN", server.token)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()
    return notebook


def output_of(notebook: nbformat.NotebookNode) -> str:
    """Everything the code cells printed or returned, as text."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


def widgets(notebook: nbformat.NotebookNode, kind: str) -> list[dict]:
    """The saved state of the notebook's job widgets (kind "job") or dashboards."""
    models = notebook.metadata["widgets"][WIDGET_STATE]["state"].values()
    return [m["state"] for m in models if m["state"].get("kind") == kind]


def assert_at_the_end(job: dict) -> None:
    """A job the user saw end: a final state; a success with its progress bar full."""
    assert job["state"] in FINAL, job
    if job["state"] == "successful":
        assert job["percent"] == 100 and job["finished"], job


def test_quickstart(server, monkeypatch):
    notebook = run_notebook("quickstart.ipynb", server, monkeypatch)
    output = output_of(notebook)
    assert f"WPS at {server.wps_url}" in output  # the client's repr
    assert "'Hello Jupyter'" in output and "Slept for 3.0 seconds\nsuccessful 100" in output
    assert "process sleep" in output and "succeeded after" in output  # the launcher's log
    for identifier in ("say_hello", "sleep", "echo", "ultimate_question"):
        assert identifier in output
    assert "The answer: 42" in output and "ProcessSucceeded Hello OWSLib" in output
    [job] = widgets(notebook, "job")
    assert job["process"] == "sleep" and job["outputs"][0]["text"] == "Slept for 3.0 seconds"
    assert_at_the_end(job)
    [dashboard] = widgets(notebook, "dashboard")
    processes = {row["process"] for row in dashboard["jobs"]}
    assert {"sleep", "ultimate_question"} <= processes
    for row in dashboard["jobs"]:
        assert_at_the_end(row)


def test_publish(server, monkeypatch):
    notebook = run_notebook("publish.ipynb", server, monkeypatch)
    output = output_of(notebook)
    assert "'scaled_root']" in output  # in GetCapabilities, for OWSLib
    # DescribeProcess from the type hints and the docstring
    assert "Scaled square root - The square root of x, times the notebook's scale" in output
    assert " input x double a non-negative number" in output
    assert " input label string what to call the result" in output
    assert "ProcessSucceeded OWSLib: 10.000" in output
    assert "'result: 10.000'" in output and "'async: 3.536'" in output
    assert "200 result: 25.000" in output  # plain KVP, raw output
    [job] = widgets(notebook, "job")
    assert job["process"] == "scaled_root" and job["state"] == "successful"
    assert_at_the_end(job)
    assert output.rstrip().endswith("False"), "unpublished at the end"


# --------------------------------------------------------------------------- the cluster

SCHEDULERS = {
    "sge": ("drmaa", cluster.require_sge),
    "slurm": ("slurm", cluster.require_slurm),
}


def still_queued(scheduler: str, native_id: str, env: dict[str, str]) -> bool:
    """Whether the scheduler still has the job queued or running."""
    if scheduler == "sge":
        argv = ["qstat", "-j", native_id]
    else:
        argv = ["squeue", "--noheader", "--jobs", native_id]
    run = subprocess.run(
        argv,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    return run.returncode == 0 and bool(run.stdout.strip())


@pytest.mark.parametrize(
    "scheduler",
    [pytest.param("sge", marks=pytest.mark.sge), pytest.param("slurm", marks=pytest.mark.slurm)],
)
def test_cluster(scheduler, tmp_path, monkeypatch):
    backend, require = SCHEDULERS[scheduler]
    env = require()
    config = f"[processing]\nmode = scheduler\nbackend = {backend}\npoll_interval = 0.5\n"
    live = LiveServer(tmp_path, config, env=env).start()
    try:
        notebook = run_notebook("cluster.ipynb", live, monkeypatch)
    finally:
        live.stop()
    output = output_of(notebook)
    assert "Counter({'successful': 19, 'dismissed': 1})" in output
    [dashboard] = widgets(notebook, "dashboard")
    rows = dashboard["jobs"]
    assert len(rows) == 20
    for row in rows:
        assert_at_the_end(row)
    [cancelled] = [row for row in rows if row["state"] == "dismissed"]
    assert [row["state"] for row in rows].count("successful") == 19
    [first] = widgets(notebook, "job")
    assert first["state"] == "successful" and first["percent"] == 100
    # the cancelled one is gone from the scheduler, and it never finished
    native = record(live, cancelled["job_id"])["native_id"]
    assert native and not still_queued(scheduler, native, env)
    log = (live.workdir / cancelled["job_id"] / "launcher.log").read_text(errors="replace")
    assert "succeeded" not in log
