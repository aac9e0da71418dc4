"""jupyter-wps side by side with PyWPS 4.x: the same WPS requests against both, as ratios.

    python benchmarks/run.py            # full run (~3 minutes), writes benchmarks/results.md
    python benchmarks/run.py --quick    # a smoke run (~1 minute), prints only

Starts (a) ``python -m jupyter_server`` with the jupyter-wps extension, a temporary
pywps.cfg (parallelprocesses = 4) and a token, and (b) PyWPS under gunicorn with one
worker (``pywps_app.py``: the same four processes), both on 127.0.0.1. Each workload sends
a fixed number of requests (bounded by a time cap) from a pool of client threads, each
with its own ``requests.Session``. Our server is measured with a token-header client and
with a cookie client (what a browser does: one token request, then the login cookie).
Both servers are stopped at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime
import http.cookiejar
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CONCURRENCY = 8
ROUNDS = 3
STATUS_RE = re.compile(rb'statusLocation="([^"]+)"')
PERCENT_RE = re.compile(rb'percentCompleted="(\d+)"')
CLK_TCK = os.sysconf("SC_CLK_TCK")
PYCACHE = Path(tempfile.gettempdir()) / "jupyter-wps-bench-pycache"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Cpu:
    """CPU seconds (user + system) of a server: in all, and in its front processes only
    (the HTTP server itself, not the job processes it starts)."""

    total: float = 0.0
    front: float = 0.0

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(self.total + other.total, self.front + other.front)

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.total - other.total, self.front - other.front)


def tree_cpu(root_pid: int, front_depth: int) -> Cpu:
    """A process and its descendants, including the reaped ones (in their parent's
    c*time); processes at most ``front_depth`` below the root are the front."""
    children: dict[int, list[int]] = {}
    times: dict[int, tuple[float, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        own = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime stime
        reaped = (int(fields[13]) + int(fields[14])) / CLK_TCK  # cutime cstime
        times[pid] = (own, reaped)
    total = front = 0.0
    stack = [(root_pid, 0)]
    while stack:
        pid, depth = stack.pop()
        own, reaped = times.get(pid, (0.0, 0.0))
        total += own + reaped
        if depth <= front_depth:
            front += own
        stack.extend((child, depth + 1) for child in children.get(pid, ()))
    return Cpu(total, front)


# ---------------------------------------------------------------------- servers


class Server:
    """A server process in its own session, its log in a file; stop() is idempotent."""

    name = ""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def wps_url(self) -> str:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        """Bytecode cached as in an installed package, in a cache outside the checkout
        (a development shell with PYTHONDONTWRITEBYTECODE and stale __pycache__ would
        have every job launcher recompile our modules)."""
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
        return env

    def start(self, timeout: float = 60) -> None:
        with open(self.root / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                cwd=self.root,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log()}")
            try:
                reply = requests.get(
                    self.wps_url,
                    params={"service": "WPS", "request": "GetCapabilities"},
                    headers=self.headers(),
                    timeout=5,
                )
                if reply.status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer:\n{self.log()}")

    def headers(self) -> dict[str, str]:
        return {}

    #: gunicorn: the master and its workers are the front
    front_depth = 0

    def cpu(self) -> Cpu:
        return tree_cpu(self.process.pid, self.front_depth) if self.process else Cpu()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # the server's own session
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def log(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")[-4000:]


class JupyterWPS(Server):
    name = "jupyter-wps"

    def __init__(self, root: Path, profile: Path | None = None) -> None:
        super().__init__(root)
        self.token = secrets.token_hex(16)
        self.profile = profile
        self.config_file = root / "pywps.cfg"
        self.config_file.write_text(
            "[server]\n"
            f"workdir = {root / 'wps-work'}\n"
            "parallelprocesses = 4\n"
            "maxprocesses = 10000\n"
            "[logging]\n"
            "level = INFO\n",
            encoding="utf-8",
        )

    @property
    def wps_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/wps"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def command(self) -> list[str]:
        runner = [sys.executable]
        if self.profile:
            runner += ["-m", "cProfile", "-o", str(self.profile)]
        return [
            *runner,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--allow-root",
            f"--port={self.port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            f"--WPSExtensionApp.config_file={self.config_file}",
        ]

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "JUPYTER_PLATFORM_DIRS": "1"}


class PyWPS(Server):
    name = "PyWPS"
    front_depth = 1

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.outputs = root / "outputs"
        for name in ("outputs", "work", "tmp"):
            (root / name).mkdir(exist_ok=True)
        self.config_file = root / "pywps.cfg"
        self.config_file.write_text(
            "[server]\n"
            f"url = http://127.0.0.1:{self.port}/wps\n"
            f"outputurl = http://127.0.0.1:{self.port}/outputs/\n"
            f"outputpath = {self.outputs}\n"
            f"workdir = {root / 'work'}\n"
            f"temp_path = {root / 'tmp'}\n"
            "parallelprocesses = -1\n"
            "maxprocesses = 10000\n"
            "maxsingleinputsize = 3mb\n"
            "maxrequestsize = 3mb\n"
            "[processing]\n"
            "mode = default\n"
            "[logging]\n"
            "level = WARNING\n"
            f"file = {root / 'pywps.log'}\n"
            f"database = sqlite:///{root / 'pywps-logs.sqlite'}\n",
            encoding="utf-8",
        )

    @property
    def wps_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/wps"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers=1",
            f"--bind=127.0.0.1:{self.port}",
            f"--chdir={HERE}",
            "--timeout=120",
            "pywps_app:application",
        ]

    def environment(self) -> dict[str, str]:
        return {
            **super().environment(),
            "PYWPS_CFG": str(self.config_file),
            "PYWPS_OUTPUTPATH": str(self.outputs),
        }


# ---------------------------------------------------------------------- clients


@dataclass
class Client:
    """How one kind of client reaches one server."""

    label: str
    server: Server
    #: set up a new session (headers, log in); runs before the clock starts
    prepare: Callable[[requests.Session], None]

    @property
    def is_ours(self) -> bool:
        return isinstance(self.server, JupyterWPS)


def token_client(server: JupyterWPS) -> Client:
    """The token header on every request and no cookies kept (curl, OWSLib): jupyter_server
    then makes a new anonymous user and signs a login cookie for every request."""

    def prepare(session: requests.Session) -> None:
        session.headers.update(server.headers())
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))

    return Client("jupyter-wps, token header", server, prepare)


def cookie_client(server: JupyterWPS) -> Client:
    """One request with the token: jupyter_server answers with its signed login cookie
    (``username-<host>-<port>``); every later request sends only that cookie."""

    def prepare(session: requests.Session) -> None:
        reply = session.get(
            server.wps_url,
            params={"service": "WPS", "request": "GetCapabilities"},
            headers=server.headers(),
            timeout=30,
        )
        reply.raise_for_status()
        if not any(name.startswith("username-") for name in session.cookies.get_dict()):
            raise RuntimeError(f"no login cookie after a token request: {session.cookies}")

    return Client("jupyter-wps, login cookie", server, prepare)


def plain_client(server: Server) -> Client:
    return Client(f"{server.name}", server, lambda session: None)


# ---------------------------------------------------------------------- measuring


@dataclass
class Result:
    workload: str
    client: str
    requested: int
    done: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    server_cpu: Cpu = Cpu()
    client_cpu: float = 0.0
    first_error: str = ""
    capped: bool = False
    note: str = ""

    def merge(self, other: Result) -> Result:
        """This result and a later round's of the same workload and client, as one."""
        return Result(
            self.workload,
            self.client,
            self.requested + other.requested,
            self.done + other.done,
            self.errors + other.errors,
            self.seconds + other.seconds,
            self.latencies + other.latencies,
            self.server_cpu + other.server_cpu,
            self.client_cpu + other.client_cpu,
            self.first_error or other.first_error,
            self.capped or other.capped,
            "; ".join(x for x in (self.note, other.note) if x),
        )

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1]

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.server_cpu.total / self.done if self.done else float("nan")

    @property
    def job_cpu_ms(self) -> float:
        jobs = max(0.0, self.server_cpu.total - self.server_cpu.front)
        return 1000 * jobs / self.done if self.done else float("nan")

    @property
    def client_cpu_ms(self) -> float:
        return 1000 * self.client_cpu / self.done if self.done else float("nan")


def run_pool(
    client: Client,
    workload: str,
    n: int,
    cap: float,
    request: Callable[[requests.Session, int], tuple[bool, str]],
    concurrency: int = CONCURRENCY,
) -> Result:
    """``n`` calls of ``request(session, i)`` from ``concurrency`` threads, within ``cap`` s.

    ``request`` returns (ok, detail); latency is measured around it.
    """
    result = Result(workload, client.label, n)
    sessions = []
    for _ in range(concurrency):
        session = requests.Session()
        client.prepare(session)
        sessions.append(session)
    lock = threading.Lock()
    counter = iter(range(n))
    start_barrier = threading.Barrier(concurrency + 1)
    deadline = 0.0

    def worker(session: requests.Session) -> None:
        start_barrier.wait()
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            if time.monotonic() > deadline:
                result.capped = True
                return
            began = time.perf_counter()
            try:
                ok, detail = request(session, i)
            except requests.RequestException as exc:
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            elapsed = time.perf_counter() - began
            with lock:
                result.done += 1
                result.latencies.append(elapsed)
                if not ok:
                    result.errors += 1
                    result.first_error = result.first_error or detail[:300]

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in sessions]
    for thread in threads:
        thread.start()
    cpu_before, client_before = client.server.cpu(), time.process_time()
    deadline = time.monotonic() + cap
    began = time.perf_counter()
    start_barrier.wait()
    for thread in threads:
        thread.join(cap + 120)
    result.seconds = time.perf_counter() - began
    result.server_cpu = client.server.cpu() - cpu_before
    result.client_cpu = time.process_time() - client_before
    for session in sessions:
        session.close()
    return result


def kvp(**params: str) -> dict[str, str]:
    return {"service": "WPS", "version": "1.0.0", **params}


def get_ok(session: requests.Session, url: str, params: dict | None, marker: bytes):
    reply = session.get(url, params=params, timeout=60)
    if reply.status_code != 200 or marker not in reply.content:
        return False, f"HTTP {reply.status_code}: {reply.text[:200]}", reply
    return True, "", reply


def simple(client: Client, workload: str, n: int, cap: float, params, marker: bytes) -> Result:
    url = client.server.wps_url

    def request(session: requests.Session, i: int) -> tuple[bool, str]:
        ok, detail, _ = get_ok(session, url, params, marker)
        return ok, detail

    return run_pool(client, workload, n, cap, request)


def async_jobs(client: Client, n: int, cap: float) -> tuple[Result, Result, str | None]:
    """Submit ``n`` async say_hello jobs (submit throughput), then poll every
    statusLocation until all succeeded (end-to-end: first submit -> last success)."""
    url = client.server.wps_url
    params = kvp(
        request="Execute",
        identifier="say_hello",
        DataInputs="name=World",
        storeExecuteResponse="true",
        status="true",
    )
    locations: dict[int, str] = {}
    succeeded: list[str] = []
    submitted: dict[int, float] = {}

    def submit(session: requests.Session, i: int) -> tuple[bool, str]:
        submitted[i] = time.perf_counter()
        ok, detail, reply = get_ok(session, url, params, b"statusLocation")
        if ok:
            match = STATUS_RE.search(reply.content)
            if match:
                locations[i] = match.group(1).decode().replace("&amp;", "&")
            else:
                return False, "no statusLocation"
        return ok, detail

    submits = run_pool(client, "async Execute say_hello: submit", n, cap, submit)

    polling_began = time.perf_counter()
    e2e = Result("async Execute say_hello: end to end", client.label, n)
    pending = dict(sorted(locations.items()))
    lock = threading.Lock()
    deadline = time.monotonic() + cap
    cpu_before, client_before = client.server.cpu(), time.process_time()

    def poller(session: requests.Session, share: list[int]) -> None:
        # each poller walks its own share of the jobs in submission order and moves on
        # after a few unfinished ones: bounded polling load, completion seen within ~0.1 s
        while share and time.monotonic() < deadline:
            unfinished = 0
            for i in list(share):
                try:
                    reply = session.get(pending[i], timeout=60)
                except requests.RequestException as exc:
                    share.remove(i)
                    with lock:
                        e2e.errors += 1
                        e2e.first_error = e2e.first_error or f"{type(exc).__name__}: {exc}"
                    continue
                body = reply.content
                if b"ProcessSucceeded" in body or b"ProcessFailed" in body:
                    share.remove(i)
                    with lock:
                        e2e.done += 1
                        e2e.latencies.append(time.perf_counter() - submitted[i])
                        if b"ProcessSucceeded" in body:
                            succeeded.append(pending[i])
                        else:
                            e2e.errors += 1
                            e2e.first_error = e2e.first_error or body.decode()[:300]
                elif reply.status_code != 200:
                    share.remove(i)
                    with lock:
                        e2e.errors += 1
                        e2e.first_error = e2e.first_error or f"HTTP {reply.status_code}"
                else:
                    unfinished += 1
                    if unfinished >= 3:
                        break
            if share:
                time.sleep(0.1)

    ids = list(pending)
    shares = [ids[k::CONCURRENCY] for k in range(CONCURRENCY)]
    threads = []
    for share in shares:
        session = requests.Session()
        client.prepare(session)
        threads.append(threading.Thread(target=poller, args=(session, share), daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(cap + 120)
    e2e.seconds = submits.seconds + time.perf_counter() - polling_began
    e2e.server_cpu = submits.server_cpu + client.server.cpu() - cpu_before
    e2e.client_cpu = submits.client_cpu + time.process_time() - client_before
    e2e.capped = e2e.done < len(ids)
    if e2e.done < n:
        e2e.note = f"{e2e.done} of {n} jobs finished"
    return submits, e2e, (succeeded[0] if succeeded else None)


def sleep_jobs(client: Client, jobs: int, seconds: float, cap: float) -> Result:
    """``jobs`` async sleep jobs at once, each polled every 0.1 s: end to end and progress."""
    url = client.server.wps_url
    params = kvp(
        request="Execute",
        identifier="sleep",
        DataInputs=f"seconds={seconds}",
        storeExecuteResponse="true",
        status="true",
    )
    result = Result(f"async Execute sleep {seconds:g} s x{jobs}: end to end", client.label, jobs)
    seen: list[set[int]] = [set() for _ in range(jobs)]
    lock = threading.Lock()
    barrier = threading.Barrier(jobs + 1)

    def one(k: int) -> None:
        session = requests.Session()
        client.prepare(session)
        barrier.wait()
        began = time.perf_counter()
        try:
            ok, detail, reply = get_ok(session, url, params, b"statusLocation")
        except requests.RequestException as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        match = STATUS_RE.search(reply.content) if ok else None
        if not match:
            with lock:
                result.errors += 1
                result.first_error = result.first_error or detail or "no statusLocation"
            return
        location = match.group(1).decode().replace("&amp;", "&")
        deadline = time.monotonic() + cap
        while time.monotonic() < deadline:
            try:
                body = session.get(location, timeout=60).content
            except requests.RequestException as exc:
                with lock:
                    result.errors += 1
                    result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
                return
            seen[k].update(int(p) for p in PERCENT_RE.findall(body))
            if b"ProcessSucceeded" in body or b"ProcessFailed" in body:
                with lock:
                    result.done += 1
                    result.latencies.append(time.perf_counter() - began)
                    if b"ProcessSucceeded" not in body:
                        result.errors += 1
                return
            time.sleep(0.1)

    threads = [threading.Thread(target=one, args=(k,), daemon=True) for k in range(jobs)]
    for thread in threads:
        thread.start()
    cpu_before, client_before = client.server.cpu(), time.process_time()
    began = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join(cap + 60)
    result.seconds = time.perf_counter() - began
    result.server_cpu = client.server.cpu() - cpu_before
    result.client_cpu = time.process_time() - client_before
    progress = sorted(len(s) for s in seen)
    result.note = f"distinct progress values seen per job: {progress[0]}-{progress[-1]}"
    return result


def warm_up(client: Client) -> None:
    session = requests.Session()
    client.prepare(session)
    for params in (
        kvp(request="GetCapabilities"),
        kvp(request="DescribeProcess", identifier="say_hello"),
        kvp(request="Execute", identifier="say_hello", DataInputs="name=warm"),
    ):
        for _ in range(3):
            session.get(client.server.wps_url, params=params, timeout=60)
    session.close()


def run_all(
    clients: list[Client], n: int, jobs: int, cap: float, rounds: int = ROUNDS
) -> list[Result]:
    """Each workload against each client, one at a time, in ``rounds`` alternating rounds
    (PyWPS, ours with a token, ours with a cookie, PyWPS, ...) of ``n / rounds`` requests:
    a load that changes during the run (other work on the machine) hits all alike."""
    merged: dict[tuple[str, str], Result] = {}

    def record(result: Result) -> None:
        print(
            f"  {result.workload:<42} {result.client:<28} {result.done:>4} req "
            f"{result.rate:8.1f}/s p50 {1000 * result.percentile(50):7.1f} ms "
            f"p95 {1000 * result.percentile(95):7.1f} ms errors {result.errors}"
            + (" CAPPED" if result.capped else ""),
            flush=True,
        )
        if result.first_error:
            print(f"    first error: {result.first_error}", flush=True)
        key = (result.workload, result.client)
        merged[key] = merged[key].merge(result) if key in merged else result

    for client in clients:
        warm_up(client)
    per_round, jobs_per_round, round_cap = -(-n // rounds), -(-jobs // rounds), cap / rounds
    finished: dict[str, str] = {}
    for _ in range(rounds):
        for client in clients:
            params = kvp(request="GetCapabilities")
            record(simple(client, "GetCapabilities", per_round, round_cap, params, b"Capabilities"))
        for client in clients:
            params = kvp(request="DescribeProcess", identifier="say_hello")
            name, marker = "DescribeProcess say_hello", b"ProcessDescription"
            record(simple(client, name, per_round, round_cap, params, marker))
        for client in clients:
            params = kvp(request="Execute", identifier="say_hello", DataInputs="name=World")
            name, marker = "sync Execute say_hello", b"Hello World"
            record(simple(client, name, jobs_per_round, round_cap, params, marker))
        for client in clients:
            submits, e2e, location = async_jobs(client, jobs_per_round, round_cap)
            record(submits)
            record(e2e)
            if location is not None:
                finished[client.label] = location
        for client in clients:
            location = finished.get(client.label)
            if location is None:
                continue

            def poll(session: requests.Session, i: int, location: str = location):
                ok, detail, _ = get_ok(session, location, None, b"ProcessSucceeded")
                return ok, detail

            name = "status document (finished job)"
            record(run_pool(client, name, per_round, round_cap, poll))
    for client in clients:
        record(sleep_jobs(client, 4, 2.0, cap))
    return list(merged.values())


# ---------------------------------------------------------------------- report


def versions() -> dict[str, str]:
    found = {}
    for name in (
        "jupyter-wps",
        "jupyter_server",
        "tornado",
        "pywps",
        "gunicorn",
        "Jinja2",
        "SQLAlchemy",
        "lxml",
        "requests",
    ):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine() -> list[str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        "unknown",
    )
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: nproc {os.cpu_count()} (affinity {len(os.sched_getaffinity(0))}), "
        f"CPU {cpu}, memory {memory}, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()} ({platform.python_implementation()})",
        "- packages: " + ", ".join(f"{k} {v}" for k, v in versions().items()),
        f"- jupyter-wps commit: {commit or 'unknown'}",
        f"- load average (1, 5, 15 min) at the end: {load_average()}",
    ]


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{1000 * seconds:.1f}"


def ratio(ours: float, theirs: float) -> str:
    if not theirs or ours != ours or theirs != theirs:
        return "-"
    return f"{ours / theirs:.2f}"


def report(results: list[Result], header: list[str], settings: str) -> str:
    lines = [TITLE, "", *header, f"- {settings}", ""]
    lines += ["Written by `python benchmarks/run.py`; README.md says how to read it.", ""]
    lines += [
        "## Per server",
        "",
        "| workload | server / client | requests | errors | req/s | p50 ms | p95 ms "
        "| server CPU ms/req | of it in job processes | client CPU ms/req |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        name = r.workload + (" (capped)" if r.capped else "")
        lines.append(
            f"| {name} | {r.client} | {r.done} | {r.errors} | {r.rate:.1f} "
            f"| {ms(r.percentile(50))} | {ms(r.percentile(95))} | {r.cpu_ms:.1f} "
            f"| {r.job_cpu_ms:.1f} | {r.client_cpu_ms:.1f} |"
        )
    notes = [f"{r.workload}, {r.client}: {r.note}" for r in results if r.note]
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    lines += [
        "",
        "## Ratios ours / PyWPS",
        "",
        "Throughput: above 1 ours is faster. Latency and CPU: below 1 ours is faster.",
        "",
        "| workload | client | req/s | p50 latency | p95 latency | server CPU/req |",
        "|---|---|---:|---:|---:|---:|",
    ]
    reference = {r.workload: r for r in results if r.client == PyWPS.name}
    for r in results:
        theirs = reference.get(r.workload)
        if r.client == PyWPS.name or theirs is None:
            continue
        lines.append(
            f"| {r.workload} | {r.client.removeprefix('jupyter-wps, ')} "
            f"| **{ratio(r.rate, theirs.rate)}** "
            f"| {ratio(r.percentile(50), theirs.percentile(50))} "
            f"| {ratio(r.percentile(95), theirs.percentile(95))} "
            f"| {ratio(r.cpu_ms, theirs.cpu_ms)} |"
        )
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- run.py: begin -->", "<!-- run.py: end -->"
TITLE = "# jupyter-wps vs PyWPS"


def write_report(path: Path, text: str) -> None:
    """This script's part of ``path`` (between its markers) replaced; the sections other
    scripts write there (scheduler.py, widgets.py) and notes around them kept."""
    section = f"{BEGIN}\n{text.rstrip()}\n{END}\n"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + section.rstrip("\n") + rest.split(END, 1)[1]
    elif old.startswith(TITLE):  # written before the markers: ours up to the next title
        later = re.search(r"^# |^<!-- ", old[len(TITLE) :], re.MULTILINE)
        rest = old[len(TITLE) + later.start() :] if later else ""
        new = section + ("\n" + rest if rest else "")
    else:
        new = section + ("\n" + old if old else "")
    path.write_text(new, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="50 requests, 20 jobs, 1 round; no report file"
    )
    parser.add_argument("--requests", type=int, help="requests per workload (default 300)")
    parser.add_argument("--jobs", type=int, help="jobs per Execute workload (default 150)")
    parser.add_argument("--rounds", type=int, help=f"alternating rounds (default {ROUNDS})")
    parser.add_argument("--cap", type=float, help="seconds per workload at most (default 60)")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="run our server under cProfile, write its stats to FILE (numbers not recorded)",
    )
    parser.add_argument(
        "--output", type=Path, help="Markdown report (default benchmarks/results.md on full runs)"
    )
    args = parser.parse_args(argv)
    n = args.requests or (50 if args.quick else 300)
    jobs = args.jobs or (20 if args.quick else 150)
    cap = args.cap or (20.0 if args.quick else 60.0)
    rounds = args.rounds or (1 if args.quick else ROUNDS)
    output = args.output
    if output is None and not args.quick and not args.profile:
        output = HERE / "results.md"

    root = Path(tempfile.mkdtemp(prefix="wps-bench-"))
    profile = args.profile.resolve() if args.profile else None
    ours = JupyterWPS(root / "jupyter-wps", profile)
    theirs = PyWPS(root / "pywps")
    servers: list[Server] = [theirs, ours]
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        for server in servers:
            server.start()
            print(f"{server.name} on port {server.port} (pid {server.process.pid})", flush=True)
        clients = [plain_client(theirs), token_client(ours), cookie_client(ours)]
        settings = (
            f"workloads: {n} requests (Execute: {jobs} jobs) each, in {rounds} alternating "
            f"rounds, {CONCURRENCY} client threads, at most {cap:g} s each; "
            "jupyter-wps parallelprocesses = 4, "
            "PyWPS gunicorn 1 sync worker, parallelprocesses = -1"
        )
        print(settings, flush=True)
        settings += f"; load average at the start: {load_average()}"
        results = run_all(clients, n, jobs, cap, rounds)
    except BaseException:
        for server in servers:
            if server.process is not None:
                print(f"--- {server.name} log (tail)\n{server.log()}", file=sys.stderr)
        raise
    finally:
        for server in servers:
            server.stop()
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(root, ignore_errors=True)
    text = report(results, machine(), settings)
    print()
    print(text)
    if output:
        write_report(output, text)
        print(f"written to {output}")
    if profile:
        import pstats

        print(f"cProfile of jupyter-wps: {profile}")
        # the request path only (the server's start-up dominates the raw profile)
        stats = pstats.Stats(str(profile)).sort_stats("cumulative")
        stats.print_stats(r"jupyter_wps|tornado/web\.py|jupyter_server/(auth|base|log)", 40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
