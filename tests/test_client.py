"""The notebook client (jupyter_wps.connect) against a live jupyter-wps server."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import os
import pydoc
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from live import LiveServer

from jupyter_wps import BoundingBox, ComplexData, connect
from jupyter_wps.client import (
    Job,
    ProcessError,
    Reference,
    ServerNotFound,
    WPSClient,
    WPSError,
    find_endpoint,
)

DEMO = ["say_hello", "sleep", "echo", "ultimate_question"]
#: variables that steer discovery: none may leak in from the environment of the tests
DISCOVERY_VARIABLES = (
    "JUPYTER_WPS_URL",
    "JUPYTER_WPS_TOKEN",
    "JUPYTERHUB_API_TOKEN",
    "JUPYTERHUB_SERVICE_PREFIX",
    "JUPYTERHUB_SERVICE_URL",
    "JUPYTERHUB_PUBLIC_URL",
    "JUPYTERHUB_HOST",
)

#: Test processes the live server loads (a site's own module): every literal type, an
#: optional input declared before a required one, several occurrences, a failure.
PROCESSES = """
import datetime as dt
import json

from jupyter_wps import ComplexData, ComplexOutput, Format, LiteralInput, LiteralOutput, process


@process(
    identifier="typed-values",
    title="Typed values",
    abstract="Returns its inputs, transformed: every literal type.",
    inputs={
        "count": LiteralInput(title="Count", abstract="How many", allowed_values=(1, 2, 3)),
        "scale": LiteralInput(title="Scale", uoms=("m", "km")),
    },
    outputs={
        "count": LiteralOutput(title="Twice the count", data_type="integer"),
        "scale": LiteralOutput(title="The scale", data_type="double", uoms=("m",)),
        "flag": LiteralOutput(title="Not the flag", data_type="boolean"),
        "day": LiteralOutput(title="The day after", data_type="date"),
        "when": LiteralOutput(title="An hour later", data_type="dateTime"),
        "words": LiteralOutput(title="The words, joined"),
        "document": ComplexOutput(title="All of it", formats=(Format("application/json"),)),
    },
)
def typed_values(
    *,
    scale: float = 1.5,
    count: int,
    flag: bool = False,
    day: dt.date | None = None,
    when: dt.datetime | None = None,
    words: list[str] | None = None,
):
    day = day or dt.date(2000, 1, 1)
    when = when or dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    return {
        "count": 2 * count,
        "scale": scale,
        "flag": not flag,
        "day": day + dt.timedelta(days=1),
        "when": when + dt.timedelta(hours=1),
        "words": " ".join(words or []),
        "document": json.dumps({"count": count, "words": words or []}),
    }


@process(title="Broken", abstract="Always fails.")
def broken(reason: str = "the disk is full") -> str:
    raise RuntimeError(reason)


PROCESSES = [typed_values, broken]
"""


def start_server(root: Path, config: str = "", base_url: str = "/", env=None, token=None):
    """A live server; ``env`` is added to its environment, discovery variables removed."""
    root.mkdir(parents=True, exist_ok=True)
    server = LiveServer(root, config, base_url=base_url)
    if token:
        server.token = token
    with pytest.MonkeyPatch.context() as patch:
        for name in DISCOVERY_VARIABLES:
            patch.delenv(name, raising=False)
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        return server.start()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("client")
    (root / "site").mkdir()
    (root / "site" / "client_test_processes.py").write_text(PROCESSES, encoding="utf-8")
    pythonpath = os.pathsep.join(filter(None, [str(root / "site"), os.environ.get("PYTHONPATH")]))
    live = start_server(
        root / "server",
        "parallelprocesses = 4\n[processing]\nprocesses = client_test_processes:PROCESSES\n",
        env={"PYTHONPATH": pythonpath},
    )
    yield live
    live.stop()


@pytest.fixture(scope="module")
def client(server) -> WPSClient:
    return connect(server.wps_url, token=server.token)


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory):
    """A server as JupyterHub spawns it (a prefix, the hub's token), with its own runtime dir."""
    runtime = tmp_path_factory.mktemp("runtime")
    live = start_server(
        tmp_path_factory.mktemp("hub") / "alice",
        base_url="/user/alice/",
        env={"JUPYTER_RUNTIME_DIR": str(runtime)},
        token="0123456789abcdef0123456789abcdef",
    )
    live.runtime_dir = runtime
    yield live
    live.stop()


@pytest.fixture
def no_discovery(monkeypatch, tmp_path):
    """An environment where discovery finds nothing unless a test says otherwise."""
    for name in DISCOVERY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty-runtime"
    empty.mkdir()
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(empty))
    return monkeypatch


# --------------------------------------------------------------------------- processes


def test_processes_are_methods_with_tab_completion(client):
    assert list(client.processes)[:4] == DEMO
    assert set(DEMO) | {"typed-values", "broken"} <= set(client.processes)
    assert set(DEMO) | {"typed_values", "broken"} <= set(dir(client))
    assert client.processes["typed-values"] is client.typed_values
    assert "2.0.0" in client.versions
    assert "say_hello" in repr(client) and "say_hello" in client._repr_html_()
    assert isinstance(client, WPSClient)
    rendered = pydoc.render_doc(client, renderer=pydoc.plaintext)  # help(client)
    assert "Processes\n |  ---------\n |  say_hello\n |      Say hello" in rendered
    assert "sleep(seconds: float = 2.0, *, wait: bool = True" in rendered
    with pytest.raises(AttributeError, match="its processes are say_hello, sleep"):
        client.no_such_process  # noqa: B018


def test_signatures(client):
    def params(function):
        return list(inspect.signature(function).parameters.values())

    name, wait, as_reference = params(client.say_hello)
    assert (name.name, name.kind, name.default, name.annotation) == (
        "name",
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.empty,
        str,
    )
    assert (wait.name, wait.kind, wait.default) == ("wait", inspect.Parameter.KEYWORD_ONLY, True)
    assert (as_reference.name, as_reference.default) == ("as_reference", None)
    assert inspect.signature(client.say_hello).return_annotation is str

    (seconds, *_) = params(client.sleep)
    assert (seconds.name, seconds.default, seconds.annotation) == ("seconds", 2.0, float)

    echo = inspect.signature(client.echo)
    assert [p.name for p in echo.parameters.values()][:3] == ["literal", "complex", "bbox"]
    assert all(echo.parameters[n].default is None for n in ("literal", "complex", "bbox"))
    assert echo.return_annotation._fields == ("literal", "complex", "bbox")

    assert [p.name for p in params(client.ultimate_question)] == ["wait", "as_reference"]
    assert inspect.signature(client.ultimate_question).return_annotation is int

    # required inputs first (count is declared after scale), defaults from DefaultValue
    typed = inspect.signature(client.typed_values).parameters
    assert list(typed)[:6] == ["count", "scale", "flag", "day", "when", "words"]
    assert typed["count"].default is inspect.Parameter.empty
    assert typed["scale"].default == 1.5 and typed["flag"].default is False
    assert typed["day"].default is None and typed["when"].default is None


def test_docstrings_and_help(client):
    doc = client.sleep.__doc__
    assert doc.startswith("Sleep\n\nSleeps for the given number of seconds")
    assert "seconds : float, optional" in doc
    assert "How long to sleep" in doc and "Unit of measure: s." in doc and "Default: 2.0." in doc
    assert "Returns\n-------\noutput : str" in doc
    rendered = pydoc.render_doc(client.sleep, renderer=pydoc.plaintext)
    assert "sleep(seconds: float = 2.0, *, wait: bool = True" in rendered
    assert "What the process did" in rendered

    echo = client.echo.__doc__
    assert "complex : complex data, optional" in echo
    assert "text/plain, text/xml, application/json, application/octet-stream (base64)" in echo
    assert "CRS: EPSG:4326, EPSG:3857, urn:ogc:def:crs:EPSG::4326 (default EPSG:4326)" in echo
    assert "bbox : BoundingBox" in echo

    typed = client.typed_values.__doc__
    assert "count : {1, 2, 3}" in typed and "How many" in typed
    assert "Unit of measure: m, km." in typed
    assert "words : str, or a list of up to 1000, optional" in typed
    assert "when : datetime" in typed and "document : complex data" in typed
    assert "WPS process ``typed-values``" in typed


# --------------------------------------------------------------------------- calls


def test_demo_processes_as_functions(client):
    assert client.say_hello(name="World") == "Hello World"
    assert client.say_hello("positional") == "Hello positional"
    assert client.sleep(seconds=0.5) == "Slept for 0.5 seconds"
    assert client.sleep() == "Slept for 2.0 seconds"  # the server's default
    assert client.ultimate_question() == 42


def test_echo_literal_complex_and_bbox(client, tmp_path):
    result = client.echo(literal="lit", complex="some text", bbox=(1.5, 2, 3, 4.25))
    assert result == ("lit", "some text", BoundingBox((1.5, 2), (3, 4.25), "EPSG:4326"))
    assert result.literal == "lit" and result.bbox.crs == "EPSG:4326"

    def echo_complex(value):
        return client.echo(literal="x", complex=value, bbox=(0, 0, 1, 1)).complex

    assert echo_complex({"a": [1, 2.5, None]}) == {"a": [1, 2.5, None]}  # JSON both ways
    assert echo_complex([1, 2]) == [1, 2]
    assert echo_complex(b"\x00\x01\xff") == b"\x00\x01\xff"  # base64 both ways
    xml = "<doc><item n='1'>x</item></doc>"
    assert echo_complex(xml) == xml  # a str without a MIME type is text
    as_xml = echo_complex(ComplexData(xml, mime_type="text/xml"))
    assert as_xml == '<doc><item n="1">x</item></doc>'  # sent and returned as XML
    text_file = tmp_path / "notes.txt"
    text_file.write_text("from a file\n")
    assert echo_complex(text_file) == "from a file\n"
    json_file = tmp_path / "data.json"
    json_file.write_text('{"from": "file"}')
    assert echo_complex(json_file) == {"from": "file"}
    binary_file = tmp_path / "data.bin"
    binary_file.write_bytes(bytes(range(256)))
    assert echo_complex(binary_file) == bytes(range(256))

    bbox = client.echo(literal="x", complex="y", bbox=BoundingBox((1, 2), (3, 4), "EPSG:3857")).bbox
    assert bbox == BoundingBox((1, 2), (3, 4), "EPSG:3857")


def test_outputs_by_reference(client, tmp_path):
    result = client.echo(literal="x", complex={"k": "v"}, bbox=(0, 0, 1, 1), as_reference=True)
    reference = result.complex
    assert isinstance(reference, Reference)
    assert "/wps/outputs/" in reference.href and "cap=" in reference.href
    assert reference.mime_type == "application/json"
    assert reference.json() == {"k": "v"} and reference.value == {"k": "v"}
    assert json.loads(reference.text) == {"k": "v"}
    saved = reference.save(tmp_path)
    assert saved.parent == tmp_path and json.loads(saved.read_text()) == {"k": "v"}
    assert "href" in reference._repr_html_()
    # a Reference is sent on by reference: the server fetches it
    assert client.echo(literal="x", complex=reference, bbox=(0, 0, 1, 1)).complex == {"k": "v"}
    only = client.echo(literal="x", complex="t", bbox=(0, 0, 1, 1), as_reference=["complex"])
    assert isinstance(only.complex, Reference) and only.complex.text == "t"
    with pytest.raises(ValueError, match="no output"):
        client.echo(literal="x", as_reference=["nope"])


def test_literal_types_both_ways(client):
    when = dt.datetime(2024, 2, 29, 23, 30, tzinfo=dt.timezone.utc)
    result = client.typed_values(
        2, scale=2.5, flag=True, day=dt.date(2024, 2, 28), when=when, words=["a", "b"]
    )
    assert result.count == 4 and isinstance(result.count, int)
    assert result.scale == 2.5 and result.flag is False
    assert result.day == dt.date(2024, 2, 29)
    assert result.when == dt.datetime(2024, 3, 1, 0, 30, tzinfo=dt.timezone.utc)
    assert result.words == "a b"
    assert result.document == {"count": 2, "words": ["a", "b"]}
    defaults = client.typed_values(count=1)
    assert (defaults.scale, defaults.flag, defaults.day) == (1.5, True, dt.date(2000, 1, 2))


def test_wrong_inputs_give_clear_errors(client):
    with pytest.raises(WPSError, match="input 'seconds'.*'abc' is not a valid double") as info:
        client.sleep(seconds="abc")
    assert info.value.code == "InvalidParameterValue" and info.value.locator == "seconds"
    with pytest.raises(WPSError, match="input 'count'.*not an allowed value"):
        client.typed_values(count=7)
    with pytest.raises(TypeError, match="missing a required argument: 'name'"):
        client.say_hello()
    with pytest.raises(TypeError, match="unexpected keyword argument 'nme'"):
        client.say_hello(name="x", nme="y")
    with pytest.raises(TypeError, match="input 'bbox': takes a BoundingBox"):
        client.echo(bbox="north")
    with pytest.raises(TypeError, match="input 'name': takes a literal value, not a dict"):
        client.say_hello(name={"a": 1})
    with pytest.raises(TypeError, match="input 'complex': cannot send a object"):
        client.echo(complex=object())


def test_failed_job_raises_process_error(client):
    with pytest.raises(ProcessError, match="the disk is full"):
        client.broken()
    job = client.broken(reason="out of luck", wait=False)
    with pytest.raises(ProcessError, match="broken job .*out of luck"):
        job.result(timeout=30)
    assert job.state == "failed" and "out of luck" in job.message


# --------------------------------------------------------------------------- jobs


def test_async_job_progress_and_result(client):
    job = client.sleep(seconds=4, wait=False)  # reports progress 4 times a second
    assert isinstance(job, Job) and job.state == "accepted"
    assert job.status_location and job.id in job.status_location and "cap=" in job.status_location
    seen = []
    deadline = time.monotonic() + 60
    while not job.refresh().done:
        assert time.monotonic() < deadline
        seen.append(job.percent)
        time.sleep(0.1)
    assert job.state == "successful" and job.percent == 100
    running = [p for p in seen if p]
    assert running == sorted(running) and len(set(running)) >= 2, (seen, job.logs())
    assert job.result() == "Slept for 4.0 seconds"
    assert any("Sleeping, " in entry.message for entry in job.history)
    assert job.history[-1].state == "successful"
    log = job.logs()  # the launcher's log
    assert f"job {job.id}: process sleep" in log and "succeeded after 4." in log, log
    assert "successful" in repr(job) and "<progress" in job._repr_html_()
    again = client.job(job.status_location)
    assert again.state == "successful" and again.result() == "Slept for 4.0 seconds"


def test_result_timeout_then_cancel(client):
    job = client.sleep(seconds=30, wait=False)
    with pytest.raises(TimeoutError, match="still"):
        job.result(timeout=0.5)
    deadline = time.monotonic() + 30
    while job.refresh().state != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert job.cancel() is job and job.state == "dismissed"
    with pytest.raises(ProcessError, match="dismissed"):
        job.result()
    # the server says so too
    status = requests.get(job.status_location, timeout=10)
    assert "Dismissed" in status.text


def test_await_jobs_in_an_event_loop(client):
    """``await job`` polls without blocking the event loop; several jobs are awaited at once."""

    async def main():
        jobs = [client.sleep(seconds=1, wait=False) for _ in range(3)]
        ticks = 0
        finished = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not finished.is_set():
                ticks += 1
                await asyncio.sleep(0.05)

        ticking = asyncio.create_task(ticker())
        started = time.monotonic()
        results = await asyncio.gather(*jobs)
        elapsed = time.monotonic() - started
        finished.set()
        await ticking
        return results, ticks, elapsed

    results, ticks, elapsed = asyncio.run(main())
    assert results == ["Slept for 1.0 seconds"] * 3
    assert ticks >= elapsed / 0.05 / 2, (ticks, elapsed)  # the loop kept running
    job = client.sleep(seconds=30, wait=False)
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(asyncio.wait_for(job, 0.5))
    job.cancel()


def test_sync_call_of_a_process_without_status(client):
    """wait=False on a process that cannot run async still gives a (finished) Job."""
    process = client.say_hello.process
    process.status_supported = False
    try:
        job = client.say_hello(name="sync", wait=False)
    finally:
        process.status_supported = True
    assert job.done and job.status_location is None and job.result() == "Hello sync"
    with pytest.raises(ValueError, match="synchronously"):
        job.cancel()


def test_credentials_go_to_the_wps_host_only(client):
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"elsewhere")

        def log_message(self, *args):
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{other.server_address[1]}/out.txt"
        assert Reference(url, "text/plain", client=client).text == "elsewhere"
    finally:
        other.shutdown()
    assert seen and "Authorization" not in seen[0]


def test_missing_credentials_are_explained(server):
    with pytest.raises(WPSError, match="refused the credentials: pass token="):
        WPSClient(server.wps_url)


def test_import_is_light_and_the_client_needs_no_server_stack():
    code = textwrap.dedent(
        """
        import sys
        import jupyter_wps
        assert "owslib" not in sys.modules and "requests" not in sys.modules
        from jupyter_wps import connect
        assert callable(connect)
        assert "tornado" not in sys.modules, "the client imported tornado"
        assert not [m for m in sys.modules if m.startswith("jupyter_wps.server")]
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------- discovery


def test_connect_from_jupyter_wps_env(server, no_discovery):
    no_discovery.setenv("JUPYTER_WPS_URL", server.wps_url)
    no_discovery.setenv("JUPYTER_WPS_TOKEN", server.token)
    client = connect()
    assert client.url == server.wps_url and client.source == "JUPYTER_WPS_URL"
    assert client.say_hello(name="env") == "Hello env"
    # an explicit URL of that server takes the token found for it
    assert connect(server.wps_url).say_hello(name="url") == "Hello url"


def test_nothing_found_says_what_was_tried(no_discovery, tmp_path):
    with pytest.raises(ServerNotFound) as info:
        connect()
    message = str(info.value)
    assert "JUPYTER_WPS_URL: not set" in message
    assert "JUPYTERHUB_API_TOKEN and JUPYTERHUB_SERVICE_PREFIX not both set" in message
    assert "no jpserver-*.json of a running server in" in message
    assert str(tmp_path / "empty-runtime") in message
    assert "connect(url, token=...)" in message


def test_connect_from_jupyterhub_env(hub_server, no_discovery):
    no_discovery.setenv("JUPYTERHUB_API_TOKEN", hub_server.token)
    no_discovery.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    # what the spawner writes for ip="" (all interfaces): the client dials the loopback
    no_discovery.setenv("JUPYTERHUB_SERVICE_URL", f"http://:{hub_server.port}/user/alice/")
    no_discovery.setenv("JUPYTERHUB_PUBLIC_URL", "https://hub.example.org/user/alice/")
    no_discovery.setenv("JUPYTERHUB_HOST", "")
    client = connect()
    assert client.url == hub_server.wps_url
    assert client.headers == {"Authorization": f"token {hub_server.token}"}
    assert "JUPYTERHUB_SERVICE_URL" in client.source
    assert client.say_hello(name="hub") == "Hello hub"
    assert client.sleep(seconds=0.2) == "Slept for 0.2 seconds"


def test_jupyterhub_urls_without_a_service_url():
    base = {"JUPYTERHUB_API_TOKEN": "t", "JUPYTERHUB_SERVICE_PREFIX": "/user/bob/"}
    public = find_endpoint(
        environ={**base, "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/user/bob/"}
    )
    assert public.url == "https://hub.example.org/user/bob/wps" and public.token == "t"
    host = find_endpoint(environ={**base, "JUPYTERHUB_HOST": "https://bob.hub.example.org"})
    assert host.url == "https://bob.hub.example.org/user/bob/wps"
    internal_ssl = {
        **base,
        "JUPYTERHUB_SERVICE_URL": "https://10.0.0.5:8888/user/bob/",
        "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/user/bob/",
    }
    assert find_endpoint(environ=internal_ssl).url == "https://hub.example.org/user/bob/wps"
    first = find_endpoint(environ={**base, "JUPYTER_WPS_URL": "http://x/wps"})
    assert first.url == "http://x/wps" and first.token is None  # JUPYTER_WPS_URL first
    explicit = find_endpoint("http://y/wps", "tok", environ=base)
    assert (explicit.url, explicit.token) == ("http://y/wps", "tok")


def run_python(code: str, cwd: Path, env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in DISCOVERY_VARIABLES}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_connect_from_the_runtime_file(hub_server):
    notebooks = hub_server.root / "notebooks" / "deep"
    notebooks.mkdir(parents=True, exist_ok=True)
    code = """
        from jupyter_wps import connect
        client = connect()
        print(client.url)
        print(client.source)
        print(client.say_hello(name="runtime file"))
    """
    out = run_python(code, notebooks, {"JUPYTER_RUNTIME_DIR": str(hub_server.runtime_dir)})
    url, source, greeting = out.splitlines()
    assert url == hub_server.wps_url
    assert "jpserver-" in source and "contains" in source
    assert greeting == "Hello runtime file"
    # outside the server's root_dir, the runtime file is not taken
    outside = hub_server.root.parent.parent
    with pytest.raises(AssertionError, match="none is a parent process"):
        run_python(code, outside, {"JUPYTER_RUNTIME_DIR": str(hub_server.runtime_dir)})


def test_connect_inside_a_kernel_of_the_server(hub_server):
    """A kernel the server started finds it as its parent, wherever its cwd and runtime dir."""
    from jupyter_client import BlockingKernelClient

    api = f"{hub_server.url}api/kernels"
    reply = requests.post(api, json={"name": "python3"}, headers=hub_server.headers, timeout=60)
    assert reply.status_code == 201, reply.text
    kernel_id = reply.json()["id"]
    kernel = BlockingKernelClient()
    try:
        connection_file = hub_server.runtime_dir / f"kernel-{kernel_id}.json"
        kernel.load_connection_file(str(connection_file))
        kernel.start_channels()
        kernel.wait_for_ready(timeout=60)
        printed = []
        code = textwrap.dedent(
            """
            import os
            os.chdir("/")  # not under the server's root_dir
            os.environ["JUPYTER_RUNTIME_DIR"] = "/nonexistent"  # only the connection file's dir
            from jupyter_wps import connect
            client = connect()
            print(client.url, client.source, client.say_hello(name="kernel"), sep="|")
            """
        )

        def output(message):
            if message["msg_type"] == "stream":
                printed.append(message["content"]["text"])
            elif message["msg_type"] == "error":
                printed.append("\n".join(message["content"]["traceback"]))

        result = kernel.execute_interactive(code, timeout=120, output_hook=output)
        assert result["content"]["status"] == "ok", printed
        url, source, greeting = "".join(printed).strip().split("|")
        assert url == hub_server.wps_url
        assert "the server that started this kernel" in source
        assert greeting == "Hello kernel"
    finally:
        kernel.stop_channels()
        requests.delete(f"{api}/{kernel_id}", headers=hub_server.headers, timeout=60)
