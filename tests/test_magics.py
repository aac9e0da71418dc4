"""``%load_ext jupyter_wps`` and ``%wps`` in a real IPython, against a live jupyter-wps server.

Most tests run the magics in an in-process ``InteractiveShell``; one runs them in a real
kernel (nbclient) to see what a notebook front end gets: HTML tables, the Job.
"""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest
import requests
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from live import free_port, job, server_fixture, submit, wait_until
from nbclient import NotebookClient
from test_client import DISCOVERY_VARIABLES
from test_client_pywps import pywps_url  # noqa: F401 - a fixture: PyWPS under gunicorn
from traitlets.config import Config

from jupyter_wps import connect
from jupyter_wps.client import Job, WPSClient
from jupyter_wps.client.magics import Table, WPSMagics

DEMO = ["say_hello", "sleep", "echo", "ultimate_question"]


server = server_fixture("magics")


@pytest.fixture(scope="module")
def shell():
    """IPython's shell, in this process (its history in memory, not in ~/.ipython)."""
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    yield InteractiveShell.instance(config=config)
    InteractiveShell.clear_instance()


@pytest.fixture
def ip(shell, monkeypatch):
    """The shell with the extension loaded, and no server to discover."""
    for name in DISCOVERY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    shell.run_line_magic("load_ext", "jupyter_wps")
    yield shell
    shell.run_line_magic("unload_ext", "jupyter_wps")


@pytest.fixture
def wps(ip, server):
    """``%wps`` connected to the live server; call it with the magic's arguments."""
    ip.run_line_magic("wps", f"connect {server.wps_url} --token {server.token}")
    return lambda line="": ip.run_line_magic("wps", line)


def magics(shell: InteractiveShell) -> WPSMagics | None:
    return shell.magics_manager.registry.get("WPSMagics")


def error_of(shell: InteractiveShell, line: str, capsys) -> str:
    """Run ``line`` as a cell: what the user sees of the error it must end with."""
    result = shell.run_cell(line)
    assert isinstance(result.error_in_exec, UsageError), result.error_in_exec
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return out + err


# --------------------------------------------------------------------------- the extension


def test_importing_the_package_loads_no_ipython():
    """The launcher imports jupyter_wps on compute nodes: the load function costs nothing."""
    code = (
        "import sys, jupyter_wps\n"
        "assert callable(jupyter_wps.load_ipython_extension)\n"
        "assert callable(jupyter_wps.unload_ipython_extension)\n"
        "heavy = ('IPython', 'ipywidgets', 'tornado', 'owslib', 'requests', 'traitlets')\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_load_twice_then_unload(shell):
    names = set(shell.user_ns)
    shell.run_line_magic("load_ext", "jupyter_wps")
    first = magics(shell)
    assert isinstance(first, WPSMagics) and first.client is None  # nothing connected at load
    assert shell.find_line_magic("wps") is not None
    shell.run_line_magic("load_ext", "jupyter_wps")  # "already loaded"
    import jupyter_wps

    jupyter_wps.load_ipython_extension(shell)  # %reload_ext calls it again: harmless
    assert magics(shell) is first
    assert set(shell.user_ns) == names  # nothing pushed into the user's namespace
    shell.run_line_magic("unload_ext", "jupyter_wps")
    assert shell.find_line_magic("wps") is None and magics(shell) is None
    shell.run_line_magic("load_ext", "jupyter_wps")
    assert shell.find_line_magic("wps") is not None
    shell.run_line_magic("unload_ext", "jupyter_wps")


def test_help(ip, capsys):
    doc = ip.find_line_magic("wps").__doc__
    for usage in ("%wps connect", "%wps processes", "%wps jobs", "%wps job", "%wps cancel"):
        assert usage in doc
    ip.run_cell("%wps?")  # IPython's pager prints the docstring in a plain shell
    assert "%wps cancel [-h] [--remove] ID [ID ...]" in capsys.readouterr().out
    assert ip.run_line_magic("wps", "--help") is None
    assert capsys.readouterr().out.strip() == doc.strip()
    ip.run_line_magic("wps", "jobs --help")
    out = capsys.readouterr().out
    assert "%wps jobs [-h] [-a] [-n N]" in out and "%wps cancel" not in out
    assert "invalid choice: 'frobnicate'" in error_of(ip, "%wps frobnicate", capsys)
    assert "unrecognized arguments: --token" in error_of(ip, "%wps jobs --token x", capsys)


# --------------------------------------------------------------------------- connecting


def test_connect_with_url_and_token(ip, server):
    client = ip.run_line_magic("wps", f"connect {server.wps_url} --token {server.token}")
    assert isinstance(client, WPSClient) and client.url == server.wps_url
    assert magics(ip).client is client
    assert sorted(client.processes) == sorted(DEMO)


def test_connect_to_a_client_variable(ip, server):
    mine = connect(server.wps_url, token=server.token)
    ip.user_ns["mine"] = mine
    try:
        assert ip.run_line_magic("wps", "connect mine") is mine
        assert magics(ip).client is mine
    finally:
        del ip.user_ns["mine"]


def test_other_commands_connect_lazily(ip, server, monkeypatch, capsys):
    monkeypatch.setenv("JUPYTER_WPS_URL", server.wps_url)
    monkeypatch.setenv("JUPYTER_WPS_TOKEN", server.token)
    table = ip.run_line_magic("wps", "")
    assert f"connected to {server.wps_url} (found from JUPYTER_WPS_URL)" in capsys.readouterr().out
    assert [p.identifier for p in table] == DEMO
    assert magics(ip).client.url == server.wps_url


def test_no_server_to_connect_to(ip, monkeypatch, tmp_path, capsys):
    empty = tmp_path / "runtime"
    empty.mkdir()
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(empty))
    shown = error_of(ip, "%wps jobs", capsys)
    assert "UsageError: no Jupyter server with a WPS found" in shown
    assert "%wps connect URL --token T" in shown
    assert magics(ip).client is None


def test_connection_errors(ip, server, capsys):
    url = f"http://127.0.0.1:{free_port()}/wps"
    shown = error_of(ip, f"%wps connect {url}", capsys)
    assert shown.strip() == f"UsageError: cannot reach {url}: Connection refused"
    shown = error_of(ip, f"%wps connect {server.wps_url} --token wrong", capsys)
    assert "the server refused the credentials" in shown
    assert "neither a URL" in error_of(ip, "%wps connect nothing_here", capsys)
    assert magics(ip).client is None  # a failed connect keeps nothing


# --------------------------------------------------------------------------- processes


def test_processes(wps, ip):
    table = wps()
    assert isinstance(table, Table) and [p.identifier for p in table] == DEMO
    assert [p.identifier for p in wps("processes")] == DEMO
    text = repr(table)
    assert text.splitlines()[1].split() == ["process", "title", "abstract"]
    assert "sleep" in text and "Greets the given name" in text
    # a notebook shows the HTML table, a terminal the text
    bundle, _ = ip.display_formatter.format(table)
    assert bundle["text/plain"] == text
    html = bundle["text/html"]
    assert "<table>" in html and "<td>Say hello</td>" in html
    assert html.count("<tr>") == len(DEMO) + 1


# --------------------------------------------------------------------------- jobs


def test_jobs_listing(wps, server):
    running = submit(server, "sleep", "seconds=60")
    done = submit(server, "say_hello", "name=magics")
    wait_until(lambda: job(server, done)["status"] == "successful", what="say_hello to end")
    wait_until(lambda: job(server, running)["status"] == "running", what="sleep to run")
    try:
        table = wps("jobs")
        listed = {j["jobID"]: j for j in table}
        assert listed[running]["status"] == "running"
        assert listed[done]["status"] == "successful"
        # unfinished first
        states = [j["status"] for j in table]
        assert states == sorted(states, key=lambda s: s not in ("accepted", "running"))
        lines = repr(table).splitlines()
        assert lines[1].split() == ["id", "process", "state", "progress", "message", "created"]
        row = next(line for line in lines if line.startswith(done[:8]))
        assert row.split()[1:4] == ["say_hello", "successful", "100%"]
        assert f'<td title="{running}">{running[:8]}</td>' in table._repr_html_()
        assert len(wps("jobs -n 1")) == 1
        assert "--all for all" in repr(wps("jobs --limit 1"))
        assert len(wps("jobs --all")) == len(table) >= 2
    finally:
        requests.delete(f"{server.wps_url}/api/jobs/{running}", headers=server.headers, timeout=30)


def test_job_by_prefix(wps, server):
    job_id = submit(server, "say_hello", "name=prefix")
    found = wps(f"job {job_id[:6]}")
    assert isinstance(found, Job) and found.id == job_id
    assert found.process.identifier == "say_hello"
    assert found.result(timeout=60) == "Hello prefix"
    assert wps(f"job {job_id.upper()}").id == job_id  # the whole id, in any case
    assert wps(f"job {found.status_location}").id == job_id  # a status location URL


def test_unknown_and_ambiguous_ids(wps, ip, server, capsys):
    shown = error_of(ip, "%wps job ffff0000-no-such-job", capsys)
    assert shown.startswith("UsageError: no job 'ffff0000-no-such-job' among your")
    assert len(shown.strip().splitlines()) == 1
    with pytest.raises(UsageError, match="no job 'zzz'"):
        wps("cancel zzz")
    # job ids are random: jobs enough that two share a first character (16 at most)
    seen: dict[str, str] = {}
    while True:
        job_id = submit(server, "say_hello", "name=twin")
        if job_id[0] in seen:
            break
        seen[job_id[0]] = job_id
    with pytest.raises(UsageError, match=f"job id '{job_id[0]}' is ambiguous: .*{job_id}"):
        wps(f"job {job_id[0]}")


def test_cancel_a_running_job(wps, server, capsys):
    job_id = submit(server, "sleep", "seconds=60")
    wait_until(lambda: job(server, job_id)["status"] == "running", what="sleep to run")
    assert wps(f"cancel {job_id[:7]}") is None
    out = capsys.readouterr().out
    assert out.startswith(f"job {job_id[:8]} (sleep) dismissed (it was running, ")
    assert job(server, job_id)["status"] == "dismissed"  # on the server


def test_cancel_leaves_a_finished_job_unless_remove(wps, server, capsys):
    job_id = submit(server, "say_hello", "name=kept")
    wait_until(lambda: job(server, job_id)["status"] == "successful", what="say_hello to end")
    wps(f"cancel {job_id[:8]}")
    assert "has already ended (successful): nothing to cancel" in capsys.readouterr().out
    assert job(server, job_id)["status"] == "successful"
    wps(f"cancel --remove {job_id[:8]}")
    assert "removed (it was successful)" in capsys.readouterr().out
    reply = requests.get(f"{server.wps_url}/api/jobs/{job_id}", headers=server.headers, timeout=30)
    assert reply.status_code == 404


# --------------------------------------------------------------------------- another WPS


def test_a_wps_without_the_json_api(ip, pywps_url, capsys):  # noqa: F811 - the fixture
    client = ip.run_line_magic("wps", f"connect {pywps_url}")
    assert [p.identifier for p in ip.run_line_magic("wps", "processes")] == ["say_hello", "nap"]
    shown = error_of(ip, "%wps jobs", capsys)
    assert f"UsageError: {pywps_url} has no job list" in shown
    # a status location still works
    nap = client.nap(seconds=0.5, wait=False)
    found = ip.run_line_magic("wps", f"job {nap.status_location}")
    assert isinstance(found, Job) and found.id == nap.id
    assert found.result(timeout=60).output == "Slept for 0.5 seconds"


# --------------------------------------------------------------------------- a real kernel


def test_in_a_kernel(server, monkeypatch):
    """What a notebook gets: HTML tables with a text fallback, the Job as the cell's value."""
    for name in DISCOVERY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_WPS_URL", server.wps_url)
    monkeypatch.setenv("JUPYTER_WPS_TOKEN", server.token)
    job_id = submit(server, "sleep", "seconds=60")
    cells = [
        "before = set(globals())\n%load_ext jupyter_wps\n%load_ext jupyter_wps",
        "sorted(k for k in set(globals()) - before if not k.startswith('_'))",
        "%wps",
        "%wps jobs",
        f"job = %wps job {job_id[:8]}\njob.id",
        f"%wps job {job_id[:8]}",
        f"%wps cancel {job_id[:8]}",
        "%wps job nonexistent",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True).execute()
    outputs = [cell.outputs for cell in notebook.cells]

    def result(index: int) -> dict:
        (found,) = [o for o in outputs[index] if o.output_type == "execute_result"]
        return found.data

    assert result(1)["text/plain"] == "['before']"  # the magic added no names
    processes = result(2)
    assert "<table>" in processes["text/html"] and "ultimate_question" in processes["text/plain"]
    jobs = result(3)
    assert f'title="{job_id}"' in jobs["text/html"] and job_id[:8] in jobs["text/plain"]
    assert result(4)["text/plain"] == repr(job_id)
    assert "application/vnd.jupyter.widget-view+json" in result(5)  # the Job's live widget
    assert job_id in result(5)["text/html"]  # and its fallback
    printed = "".join(o.get("text", "") for o in outputs[6])
    assert f"job {job_id[:8]} (sleep) dismissed" in printed
    # an error as IPython shows a UsageError: one line on stderr, no traceback
    (error,) = outputs[7]
    assert (error.output_type, error.name) == ("stream", "stderr")
    assert error.text.startswith("UsageError: no job 'nonexistent' among your")
    assert job(server, job_id)["status"] == "dismissed"
