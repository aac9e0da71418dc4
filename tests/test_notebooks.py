"""The notebooks in notebooks/ run against a live server, as a user runs them."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from live import LiveServer
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("notebooks")).start()
    yield live
    live.stop()


def run_notebook(name: str, server: LiveServer, monkeypatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("JUPYTER_WPS_URL", server.wps_url)
    monkeypatch.setenv("JUPYTER_WPS_TOKEN", server.token)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()
    return notebook


def text_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []))


def test_quickstart(server, monkeypatch):
    notebook = run_notebook("quickstart.ipynb", server, monkeypatch)
    output = "\n".join(text_of(c) for c in notebook.cells if c.cell_type == "code")
    assert f"WPS at {server.wps_url}" in output
    for identifier in ("say_hello", "sleep", "echo", "ultimate_question"):
        assert identifier in output
    assert "ProcessSucceeded Hello Jupyter" in output
    assert "ProcessSucceeded -> 42" in output
    assert "ultimate_question successful 100" in output
    assert os.environ.get("JUPYTER_WPS_URL") == server.wps_url
