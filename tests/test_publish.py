"""Publishing notebook functions as WPS processes (jupyter_wps.client.publish).

The "kernels" are ``python -c`` subprocesses (their functions live in ``__main__``,
importable by nobody else) running under their own environment: a venv whose
interpreter is not the server's and which holds a module the server's Python does
not have. One test uses a real IPython kernel through nbclient. The plain-WPS
client is OWSLib; the servers are live ``jupyter server`` processes, one with
stable identities (alice and bob, ``tests/identity.py``) for ownership, and, on
Grid Engine and Slurm, scheduler-mode servers as the backend tests set them up.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import site
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Literal

import cluster
import nbformat
import pytest
import requests
from live import LiveServer, execute, state_of
from lxml import etree
from nbclient import NotebookClient
from owslib.wps import ASYNC, SYNC, WebProcessingService
from schema import assert_valid

from jupyter_wps import (
    BoundingBoxInput,
    ComplexInput,
    ComplexOutput,
    Format,
    LiteralInput,
    LiteralOutput,
    process,
)
from jupyter_wps.client.publish import publication
from jupyter_wps.description import DescriptionError, from_json, to_json
from jupyter_wps.process import AllowedRange

NS = {"wps": "http://www.opengis.net/wps/1.0.0", "ows": "http://www.opengis.net/ows/1.1"}
ALICE = {"Authorization": "token alice-token"}
BOB = {"Authorization": "token bob-token"}

#: a module only the kernel's environment has
KERNEL_ONLY_MODULE = "def scaled(value, factor):\n    return value * factor\n"

#: The notebook: a closure capturing a local variable and an object whose unpickling
#: leaves a marker (with the pid and interpreter of whoever unpickled it), using a module
#: imported in the notebook and one only the kernel's environment has.
NOTEBOOK = """
import json
import os
import statistics
from typing import Literal

import kernel_only_units
from jupyter_wps.client import connect, publish

client = connect(os.environ["WPS_URL"], token=os.environ["WPS_TOKEN"])


def _record_unpickling(directory):
    import json, os, sys, time

    path = os.path.join(directory, f"{os.getpid()}-{time.time_ns()}.json")
    with open(path, "w") as stream:
        json.dump({"pid": os.getpid(), "executable": sys.executable, "argv": sys.argv}, stream)
    return directory


class UnpicklingMarker:
    def __init__(self, directory):
        self.directory = directory

    def __reduce__(self):
        return (_record_unpickling, (self.directory,))


def make_process(scale, marker):
    def scaled_mean(
        values: list[float], offset: float = 0.0, how: Literal["mean", "median"] = "mean"
    ) -> float:
        \"\"\"Scaled mean

        The mean (or median) of the values, times a scale the notebook chose, plus an offset.\"\"\"
        assert marker is not None
        centre = statistics.mean if how == "mean" else statistics.median
        return kernel_only_units.scaled(centre(values), scale) + offset

    return scaled_mean


publish(make_process(3.0, UnpicklingMarker(os.environ["MARKERS"])), client=client)
print(json.dumps({"processes": sorted(client.processes), "local": make_process(2.0, 1)([1, 2])}))
"""


# --------------------------------------------------------------------------- helpers


#: the module the kernel environment's .pth file imports: it adds the site directories of
#: the tests' environment (a .pth line is exec'd inside a function of site.py, where a
#: comprehension cannot see the names the line imported; a module has no such trap)
TESTS_ENVIRONMENT_MODULE = """\
import site

for directory in {directories!r}:
    site.addsitedir(directory)
"""


def site_directories() -> list[str]:
    """The site directories of the tests' interpreter, as its site.py made them: a
    virtualenv's own (and its base's, with system site packages), else the base's."""
    directories = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        directories.append(site.getusersitepackages())
    return [d for d in directories if os.path.isdir(d)]


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory) -> Path:
    """A kernel's environment (a venv): its own interpreter, and a module only it has.

    It sees the packages of the tests' environment (jupyter_wps, dill...) through a .pth
    file, whether that environment is the base interpreter or itself a virtualenv (whose
    packages ``--system-site-packages`` would not reach: that reaches the base's only).
    """
    root = tmp_path_factory.mktemp("kernel-env")
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120
    )
    python = root / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (purelib / "kernel_only_units.py").write_text(KERNEL_ONLY_MODULE)
    module = TESTS_ENVIRONMENT_MODULE.format(directories=site_directories())
    (purelib / "tests_environment.py").write_text(module)
    (purelib / "tests_environment.pth").write_text("import tests_environment\n")
    assert python != Path(sys.executable)
    # site.py reports a failing .pth line on stderr and carries on: fail here instead
    check = subprocess.run(
        [python, "-c", "import dill, jupyter_wps, kernel_only_units"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,  # not the checkout, whose jupyter_wps would be found from the cwd
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert check.returncode == 0 and not check.stderr, check.stderr
    return python


def run_kernel(
    python: Path,
    code: str,
    server: LiveServer,
    token: str,
    cwd: Path,
    markers: Path | None = None,
    discoverable: bool = True,
) -> dict:
    """Run ``code`` as a kernel would (its own ``__main__``); its last line of output, as
    JSON, with the lines it printed before under ``"printed"``.

    ``discoverable``: whether ``connect()`` without arguments finds ``server`` (through
    ``JUPYTER_WPS_URL``); else it finds nothing at all (no WPS or JupyterHub variables,
    an empty runtime directory).
    """
    cwd.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "WPS_URL": server.wps_url,
        "WPS_TOKEN": token,
        "MARKERS": str(markers or cwd),
        # what connect() finds when it is given nothing
        "JUPYTER_WPS_URL": server.wps_url,
        "JUPYTER_WPS_TOKEN": token,
    }
    if not discoverable:
        env = {k: v for k, v in env.items() if not k.startswith(("JUPYTER_WPS_", "JUPYTERHUB_"))}
        env["JUPYTER_RUNTIME_DIR"] = str(cwd / "empty-runtime")
        (cwd / "empty-runtime").mkdir(exist_ok=True)
    result = subprocess.run(
        [str(python), "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    *printed, last = result.stdout.strip().splitlines()
    return {**json.loads(last), "printed": printed}


def stable_identity_server(root: Path, config: str = "") -> LiveServer:
    """A live server whose users are alice and bob (by token), as under JupyterHub."""
    config_dir = root / "jupyter-config"
    config_dir.mkdir(parents=True)
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"identity_provider_class": "identity.StableIdentityProvider"}})
    )
    live = LiveServer(root, config, env={"JUPYTER_CONFIG_DIR": str(config_dir)})
    live.token = "alice-token"  # what start() polls with
    return live


def owslib(server: LiveServer, headers: dict[str, str] = ALICE) -> WebProcessingService:
    return WebProcessingService(server.wps_url, headers=headers, version="1.0.0")


def wait_for(execution, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not execution.isComplete():
        assert time.monotonic() < deadline, "the job did not finish"
        execution.checkStatus(sleepSecs=0.2)
    return execution


def job_id_of(status_location: str) -> str:
    return status_location.rsplit("/", 1)[1].split(".xml")[0]


def record(server: LiveServer, job_id: str) -> dict:
    return json.loads((server.workdir / job_id / "job.json").read_text())


def api(server: LiveServer, method: str, path: str = "", headers=ALICE, **kwargs):
    url = f"{server.wps_url}/api/processes" + (f"/{path}" if path else "")
    return requests.request(method, url, headers=headers, timeout=30, **kwargs)


def listed(server: LiveServer) -> set[str]:
    return {p.identifier for p in owslib(server).processes}


def kvp_execute(server: LiveServer, identifier: str, inputs: str, headers) -> etree._Element:
    """An async Execute by KVP (curl's way): the ProcessAccepted response, checked."""
    doc = execute(server, identifier, inputs, headers=headers)
    assert state_of(doc) == "ProcessAccepted", etree.tostring(doc)
    return doc


def final_document(location: str, timeout: float = 120) -> etree._Element:
    deadline = time.monotonic() + timeout
    while True:
        reply = requests.get(location, timeout=10)
        assert reply.status_code == 200, reply.text
        doc = etree.fromstring(reply.content)
        state = etree.QName(doc.find("wps:Status", NS)[0]).localname
        if state in ("ProcessSucceeded", "ProcessFailed"):
            assert_valid(reply.content)
            return doc
        assert time.monotonic() < deadline, f"still {state} after {timeout} s"
        time.sleep(0.2)


def literal_outputs(doc: etree._Element) -> dict[str, str]:
    return {
        out.findtext("ows:Identifier", namespaces=NS): out.findtext(".//wps:LiteralData", "", NS)
        for out in doc.iterfind("wps:ProcessOutputs/wps:Output", NS)
    }


def failure_text(doc: etree._Element) -> str:
    failed = doc.find("wps:Status/wps:ProcessFailed", NS)
    return " ".join(failed.itertext()) if failed is not None else ""


def kernel_python_version(python: Path) -> str:
    return subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = stable_identity_server(tmp_path_factory.mktemp("publish"), "parallelprocesses = 4\n")
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def published(server, kernel_env, tmp_path_factory) -> dict:
    """alice's kernel published its closure ``scaled_mean``; the kernel has ended."""
    kernel_dir = tmp_path_factory.mktemp("kernel")
    markers = tmp_path_factory.mktemp("markers")
    markers.chmod(0o777)
    out = run_kernel(kernel_env, NOTEBOOK, server, "alice-token", kernel_dir, markers)
    return {"markers": markers, **out}


# --------------------------------------------------------------------------- the closure


def test_the_kernels_module_is_beyond_the_servers_python(kernel_env):
    """What the tests below rely on: only the kernel's environment has kernel_only_units."""
    mine = subprocess.run([sys.executable, "-c", "import kernel_only_units"], capture_output=True)
    assert mine.returncode != 0
    theirs = subprocess.run([kernel_env, "-c", "import kernel_only_units"], capture_output=True)
    assert theirs.returncode == 0, theirs.stderr


def test_a_published_closure_is_a_process_for_every_client(server, published):
    assert "scaled_mean" in published["processes"]  # the kernel's client was refreshed
    assert published["local"] == 3.0  # the decorated function still runs in the notebook
    wps = owslib(server)
    assert "scaled_mean" in {p.identifier for p in wps.processes}
    assert "scaled_mean" in {p.identifier for p in owslib(server, BOB).processes}  # bob too
    description = wps.describeprocess("scaled_mean")
    assert description.title == "Scaled mean"
    assert description.abstract.startswith("The mean (or median) of the values")
    assert description.storeSupported and description.statusSupported
    inputs = {i.identifier: i for i in description.dataInputs}
    assert list(inputs) == ["values", "offset", "how"]
    assert inputs["values"].dataType.endswith("double")
    assert (inputs["values"].minOccurs, inputs["values"].maxOccurs) == (1, 1000)
    assert inputs["offset"].dataType.endswith("double") and inputs["offset"].minOccurs == 0
    assert inputs["offset"].defaultValue == "0.0"
    assert inputs["how"].allowedValues == ["mean", "median"]
    assert inputs["how"].defaultValue == "mean"
    (output,) = description.processOutputs
    assert output.identifier == "output" and output.dataType.endswith("double")
    # the JSON API says who published it
    data = api(server, "GET", "scaled_mean").json()
    assert data["published"]["owner"] == "alice"


@pytest.mark.parametrize("mode", [SYNC, ASYNC])
def test_owslib_executes_the_published_closure(server, published, kernel_env, mode):
    wps = owslib(server, BOB)  # any user of the server may run it
    how = "mean" if mode == SYNC else "median"
    inputs = [("values", "1"), ("values", "2"), ("values", "9"), ("offset", "1"), ("how", how)]
    execution = wps.execute("scaled_mean", inputs, output=[("output", False)], mode=mode)
    if mode == ASYNC:
        assert execution.status == "ProcessAccepted" and execution.statusLocation
    wait_for(execution)
    assert execution.isSucceded(), execution.errors
    # mean(1, 2, 9) * 3 + 1 = 13; median * 3 + 1 = 7
    assert execution.processOutputs[0].data == (["13.0"] if mode == SYNC else ["7.0"])
    if mode == ASYNC:
        job = record(server, job_id_of(execution.statusLocation))
        # the job runs under the publishing kernel's interpreter, with its versions
        assert job["runtime"]["interpreter"] == str(kernel_env)
        assert job["runtime"]["python"] == kernel_python_version(kernel_env)
        assert job["published"]["owner"] == "alice"
        assert job["owner"] == "bob"


def test_only_launchers_under_the_kernels_python_unpickled_it(server, published, kernel_env):
    wps = owslib(server)
    execution = wps.execute("scaled_mean", [("values", "4")], output=[("output", False)])
    wait_for(execution)
    assert execution.isSucceded(), execution.errors
    markers = [json.loads(p.read_text()) for p in published["markers"].glob("*.json")]
    assert markers, "the launcher unpickled the process, so there must be markers"
    assert server.process is not None
    for marker in markers:
        assert marker["pid"] != server.process.pid, "the server unpickled the process"
        assert marker["executable"] == str(kernel_env)
        # a launcher: started anew, or forked by the warm launcher pool of that interpreter
        launchers = ("launcher.py", os.path.join("backends", "forkpool.py"))
        assert marker["argv"][0].endswith(launchers), marker
    # and the server's own Python could not even have imported what it uses
    assert "kernel_only_units" not in sys.modules


def test_a_new_kernel_finds_and_runs_it(server, published, kernel_env, tmp_path):
    code = textwrap.dedent(
        """
        import json, os
        from jupyter_wps.client import connect

        client = connect(os.environ["WPS_URL"], token=os.environ["WPS_TOKEN"])
        print(json.dumps({"result": client.scaled_mean([2, 4], how="median")}))
        """
    )
    out = run_kernel(kernel_env, code, server, "bob-token", tmp_path / "kernel2")
    assert out["result"] == 9.0


# --------------------------------------------------------------------------- ownership


def test_only_the_owner_replaces_or_removes_it(server, published, kernel_env):
    body = publication(process(_stand_in, identifier="scaled_mean"))
    reply = api(server, "POST", headers=BOB, json=body)
    assert reply.status_code == 403, reply.text
    assert "alice" in reply.json()["detail"]
    reply = api(server, "DELETE", "scaled_mean", headers=BOB)
    assert reply.status_code == 403, reply.text
    assert "scaled_mean" in listed(server)
    assert api(server, "GET", "scaled_mean").json()["title"] == "Scaled mean"  # unchanged

    # the server's own processes are nobody's to replace or remove
    reply = api(
        server, "POST", headers=ALICE, json=publication(process(_stand_in, identifier="sleep"))
    )
    assert reply.status_code == 409, reply.text
    assert api(server, "DELETE", "sleep").status_code == 409
    assert api(server, "DELETE", "no_such_process").status_code == 404
    # no credentials: 401, before the body is looked at
    assert api(server, "POST", headers={}, json=body).status_code == 401
    assert api(server, "DELETE", "scaled_mean", headers={}).status_code == 401

    # bob's own process: his to replace, not alice's to remove
    mine = publication(process(_stand_in, identifier="bobs_process", title="First"))
    assert api(server, "POST", headers=BOB, json=mine).status_code == 201
    again = publication(process(_stand_in, identifier="bobs_process", title="Second"))
    reply = api(server, "POST", headers=BOB, json=again)
    assert reply.status_code == 200, reply.text
    assert api(server, "GET", "bobs_process").json()["title"] == "Second"
    assert owslib(server).describeprocess("bobs_process").title == "Second"  # not cached
    assert api(server, "DELETE", "bobs_process", headers=ALICE).status_code == 403
    assert api(server, "DELETE", "bobs_process", headers=BOB).status_code == 204
    assert "bobs_process" not in listed(server)


def _stand_in(x: int = 1) -> int:
    """Stand-in

    Never run: only published, to be refused or removed."""
    return x


def test_unpublish_removes_it_from_capabilities(server, kernel_env, tmp_path):
    code = textwrap.dedent(
        """
        import json
        from jupyter_wps import connect, publish, unpublish

        prefix = "tmp"

        @publish(identifier="short_lived", title="Short lived")  # to the server it finds
        def short_lived(text: str) -> str:
            return f"{prefix}-{text}"

        client = connect()
        before = sorted(client.processes)
        ran = client.short_lived("x")
        unpublish("short_lived")
        client.refresh()
        print(json.dumps({"before": before, "after": sorted(client.processes), "ran": ran}))
        """
    )
    out = run_kernel(kernel_env, code, server, "alice-token", tmp_path / "kernel")
    # never connected: publish() found the server, and said how; unpublish() then used the
    # client connect() made last
    assert out["printed"] == [
        f"published short_lived to {server.wps_url} (found from JUPYTER_WPS_URL)",
        f"unpublished short_lived from {server.wps_url} (the client connected last)",
    ]
    assert "short_lived" in out["before"] and "short_lived" not in out["after"]
    assert out["ran"] == "tmp-x"
    assert "short_lived" not in listed(server)
    reply = requests.get(
        server.wps_url,
        headers=ALICE,
        timeout=10,
        params={"service": "WPS", "version": "1.0.0", "request": "DescribeProcess"}
        | {"identifier": "short_lived"},
    )
    assert reply.status_code == 400 and b"InvalidParameterValue" in reply.content
    assert not list((server.workdir / ".published").glob("*/short_lived"))


# --------------------------------------------------------------------------- connected last


CONNECTED_LAST = """
import json, os
from jupyter_wps.client import ServerNotFound, connect, find_endpoint, publish, unpublish

def plus_one(x: int) -> int:
    return x + 1

try:  # what the tests rely on: this kernel finds no server by itself
    find_endpoint()
    discovered = True
except ServerNotFound:
    discovered = False
try:  # and, never connected, publish() has nowhere to go
    publish(plus_one)
    refused = ""
except ServerNotFound as error:
    refused = str(error)

alices = connect(os.environ["WPS_URL"], token="alice-token")
bobs = connect(os.environ["WPS_URL"], token=os.environ["WPS_TOKEN"])  # the last one
publish(plus_one)
ran = bobs.plus_one(41)
unpublish(plus_one, client=bobs)  # the client given: nothing said
print(json.dumps({"discovered": discovered, "refused": refused, "ran": ran}))
"""


def test_publish_uses_the_client_connected_last(server, kernel_env, tmp_path):
    """connect(url, token=...) then publish(func): that client's server and user, with no
    discovery (which would find nothing here), and a line saying so."""
    out = run_kernel(
        kernel_env, CONNECTED_LAST, server, "bob-token", tmp_path / "kernel", discoverable=False
    )
    assert out["discovered"] is False
    assert out["refused"].startswith("no Jupyter server with a WPS found"), out["refused"]
    assert out["ran"] == 42
    assert out["printed"] == [f"published plus_one to {server.wps_url} (the client connected last)"]
    assert "plus_one" not in listed(server)
    records = list((server.workdir / ".published").glob("*/plus_one"))
    assert records == [], records


def test_the_client_connected_last_publishes_as_its_user(server, kernel_env, tmp_path):
    code = textwrap.dedent(
        """
        import json, os
        from jupyter_wps.client import connect, publish

        connect(os.environ["WPS_URL"], token="alice-token")
        connect(os.environ["WPS_URL"], token="bob-token")

        @publish(identifier="whose")
        def whose() -> str:
            return "mine"

        print(json.dumps({}))
        """
    )
    out = run_kernel(kernel_env, code, server, "bob-token", tmp_path / "kernel", discoverable=False)
    assert out["printed"] == [f"published whose to {server.wps_url} (the client connected last)"]
    try:
        assert api(server, "GET", "whose").json()["published"]["owner"] == "bob"
    finally:
        assert api(server, "DELETE", "whose", headers=BOB).status_code == 204


# --------------------------------------------------------------------------- malformed


def _valid_body() -> dict:
    return publication(process(_stand_in, identifier="malformed"))


def _with(path: str, value, body=None):
    """The body with the field at ``path`` (dots, list indices) set (or removed: ...)."""
    body = body or _valid_body()
    target = body
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        target = target[key]
    if value is ...:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return body


MALFORMED = {
    "no identifier": (_with("description.identifier", ...), "identifier: is required"),
    "path in identifier": (_with("description.identifier", "../evil"), "not a valid identifier"),
    "unknown field": (_with("description.executable", "rm -rf"), "unknown field"),
    "unknown data type": (_with("description.inputs.0.data_type", "float128"), "float128"),
    "default of the wrong type": (_with("description.inputs.0.default", "one"), "integer"),
    "allowed value of the wrong type": (
        _with("description.inputs.0.allowed_values", [1, "two"]),
        "allowed_values[1]",
    ),
    "inverted range": (
        _with("description.inputs.0.allowed_values", [{"minimum": 5, "maximum": 1}]),
        "minimum is above the maximum",
    ),
    "min above max occurs": (_with("description.inputs.0.min_occurs", 3), "min_occurs"),
    "no outputs": (_with("description.outputs", []), "at least one output"),
    "bad kind": (_with("description.outputs.0.kind", "raster"), "kind"),
    "a control character": (_with("description.title", "bell\x07"), "cannot appear"),
    "injected resource": (
        _with("description.resources", {"queue": "all.q -l h_rt=99:00:00"}),
        "not a scheduler name",
    ),
    "pickle not base64": (_with("pickle", "not base64!"), "base64"),
    "pickle not a pickle": (_with("pickle", "aGVsbG8="), "not a pickle"),
    "no pickle": (_with("pickle", ...), "pickle: missing"),
    "relative interpreter": (_with("runtime.interpreter", "python3"), "absolute path"),
    "version not a version": (_with("runtime.python", "three"), "version"),
    "description not an object": (_with("description", [1, 2]), "expected an object"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_publication_is_refused(server, case):
    body, expected = MALFORMED[case]
    reply = api(server, "POST", json=body)
    assert reply.status_code == 400, reply.text
    assert expected in reply.json()["detail"], reply.json()
    assert "malformed" not in listed(server)


def test_a_body_that_is_not_json_is_refused(server):
    reply = api(
        server, "POST", data=b"{nope", headers={**ALICE, "Content-Type": "application/json"}
    )
    assert reply.status_code == 400 and "not JSON" in reply.json()["detail"]


# --------------------------------------------------------------------------- restarts, versions


def test_publications_survive_a_server_restart_and_versions_are_checked(
    server, published, tmp_path
):
    body = publication(process(_stand_in, identifier="versioned"))
    assert api(server, "POST", json=body).status_code == 201
    (meta_file,) = (server.workdir / ".published").glob("alice/versioned/meta.json")
    meta = json.loads(meta_file.read_text())
    meta["runtime"]["python"] = "2.7.18"  # as if a kernel of another Python had published it
    meta_file.write_text(json.dumps(meta))

    server.stop()
    server.start()
    assert {"scaled_mean", "versioned"} <= listed(server)
    execution = owslib(server).execute("scaled_mean", [("values", "2")], output=[("output", False)])
    wait_for(execution)
    assert execution.isSucceded() and execution.processOutputs[0].data == ["6.0"]

    doc = kvp_execute(server, "versioned", "x=2", ALICE)
    final = final_document(doc.get("statusLocation"))
    message = failure_text(final)
    assert "published from python 2.7.18" in message, message
    assert f"runs python {platform.python_version()}" in message, message
    assert api(server, "DELETE", "versioned").status_code == 204


# --------------------------------------------------------------------------- a real kernel


REAL_KERNEL_CELLS = [
    """
import os
import statistics
from jupyter_wps.client import connect, publish

client = connect(os.environ["JUPYTER_WPS_URL"], token=os.environ["JUPYTER_WPS_TOKEN"])
factor = 5
""",
    '''
@publish(client=client, identifier="kernel_mean", title="Kernel mean")
def kernel_mean(values: list[int]) -> float:
    """The mean of the values times the notebook's factor."""
    return statistics.mean(values) * factor
''',
    "print('local', kernel_mean([1, 3]), 'remote', client.kernel_mean([1, 3, 5]))",
]


def test_publish_from_a_real_kernel(server, monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_WPS_URL", server.wps_url)
    monkeypatch.setenv("JUPYTER_WPS_TOKEN", "alice-token")
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in REAL_KERNEL_CELLS]
    )
    NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    output = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    assert "local 10 remote 15" in output, output
    # the kernel is gone; the process stays, for plain WPS clients too
    execution = owslib(server, BOB).execute(
        "kernel_mean", [("values", "2"), ("values", "4")], output=[("output", False)]
    )
    wait_for(execution)
    assert execution.isSucceded(), execution.errors
    assert float(execution.processOutputs[0].data[0]) == 15.0


# --------------------------------------------------------------------------- descriptions


def test_every_field_of_a_description_travels_as_json():
    @process(
        identifier="everything",
        title="Everything",
        abstract="All the fields.",
        version="2.1",
        keywords=("a", "b"),
        metadata=("https://example.org/doc",),
        store_supported=False,
        resources={"walltime": "01:00:00", "memory": "2G", "cores": 2, "queue": "all.q"},
        inputs={
            "count": LiteralInput(
                title="Count",
                abstract="How many",
                keywords=("k",),
                allowed_values=(1, 2, AllowedRange(10, 20, 2, "closed-open")),
                uoms=("m", "km"),
            ),
            "blob": ComplexInput(
                formats=(Format("application/json"), Format("image/png", "base64", None, ".png")),
                max_megabytes=1.5,
            ),
            "area": BoundingBoxInput(crss=("EPSG:4326", "EPSG:3857"), min_occurs=0),
        },
        outputs={
            "n": LiteralOutput(data_type="integer", uoms=("m",)),
            "doc": ComplexOutput(formats=(Format("text/csv", schema="urn:csv"),)),
        },
    )
    def everything(
        count: int,
        blob: bytes,
        day: dt.date = dt.date(2024, 2, 29),
        when: dt.datetime = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc),
        choice: Literal["x", "y"] = "y",
        area=None,
        many: list[float] | None = None,
    ):
        return {}

    data = to_json(everything)
    text = json.dumps(data, allow_nan=False)  # JSON-safe: dates as ISO strings
    assert '"default": "2024-02-29"' in text
    rebuilt = from_json(json.loads(text))
    for name in (
        "identifier",
        "title",
        "abstract",
        "version",
        "keywords",
        "metadata",
        "store_supported",
        "status_supported",
        "resources",
    ):
        assert getattr(rebuilt, name) == getattr(everything, name), name
    assert rebuilt.inputs == everything.inputs
    assert rebuilt.outputs == everything.outputs
    assert rebuilt.input("day").default == dt.date(2024, 2, 29)
    assert rebuilt.input("when").default == dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc)
    assert rebuilt.input("count").allowed_values[2] == AllowedRange(10, 20, 2, "closed-open")
    assert rebuilt.input("many").max_occurs == 1000 and rebuilt.input("many").min_occurs == 0


def test_descriptions_are_checked_strictly():
    good = to_json(process(_stand_in))
    with pytest.raises(DescriptionError, match=r"inputs\[0\] \(x\)\.default"):
        from_json({**good, "inputs": [{**good["inputs"][0], "default": True}]})
    with pytest.raises(DescriptionError, match="unknown field"):
        from_json({**good, "inputs": [{**good["inputs"][0], "handler": "os.system"}]})
    with pytest.raises(DescriptionError, match="two inputs"):
        from_json({**good, "inputs": good["inputs"] * 2})
    with pytest.raises(DescriptionError, match="max_occurs"):
        from_json({**good, "inputs": [{**good["inputs"][0], "max_occurs": 10**9}]})
    with pytest.raises(DescriptionError, match="format"):
        from_json({**good, "format": 99})


# --------------------------------------------------------------------------- schedulers


def _publish_and_run_on(live: LiveServer, kernel_env: Path, tmp_path: Path) -> None:
    """A kernel publishes the closure; an async Execute goes Accepted -> Succeeded."""
    out = run_kernel(kernel_env, NOTEBOOK, live, live.token, tmp_path / "kernel")
    assert "scaled_mean" in out["processes"]
    doc = kvp_execute(live, "scaled_mean", "values=1;values=5;offset=0.5", live.headers)
    location = doc.get("statusLocation")
    final = final_document(location, timeout=180)
    assert final.find("wps:Status/wps:ProcessSucceeded", NS) is not None, failure_text(final)
    assert literal_outputs(final) == {"output": "9.5"}  # mean(1, 5) * 3 + 0.5
    job = record(live, job_id_of(location))
    assert job["native_id"] and job["runtime"]["interpreter"] == str(kernel_env)
    assert job["published"]["owner"]


@pytest.mark.sge
def test_a_published_closure_runs_on_grid_engine(kernel_env, tmp_path):
    sge_env = cluster.require_sge()
    from test_drmaa_backend import scheduler_server

    live = scheduler_server(tmp_path / "server", sge_env).start()
    try:
        _publish_and_run_on(live, kernel_env, tmp_path)
        (job_dir,) = [p for p in live.workdir.iterdir() if (p / "job.json").exists()]
        assert json.loads((job_dir / "job.json").read_text())["backend"] == "drmaa"
    finally:
        live.stop()


@pytest.mark.slurm
def test_a_published_closure_runs_on_slurm(kernel_env, tmp_path):
    slurm_env = cluster.require_slurm()
    from test_slurm_backend import make_server

    live = make_server(tmp_path / "server", slurm_env).start()
    try:
        _publish_and_run_on(live, kernel_env, tmp_path)
        (job_dir,) = [p for p in live.workdir.iterdir() if (p / "job.json").exists()]
        assert json.loads((job_dir / "job.json").read_text())["backend"] == "slurm"
    finally:
        live.stop()
