"""The same jobs through jupyter-wps on a batch scheduler, and straight to the scheduler.

    python benchmarks/scheduler.py --scheduler sge     # Grid Engine, through DRMAA
    python benchmarks/scheduler.py --scheduler slurm   # Slurm, through sbatch
    python benchmarks/scheduler.py --scheduler slurm --jobs 50 --no-write   # a quick look

**Through jupyter-wps**: ``python -m jupyter_server`` with the extension in scheduler mode
(``backend = drmaa`` or ``slurm``); ``--jobs`` async Executes of ``say_hello``, each with
its own name, from ``--clients`` client threads at once; every job's end is seen by
polling ``<wps>/api/jobs`` (one request for all) every ``POLL`` seconds, while another
thread keeps asking for GetCapabilities. **Straight to the scheduler**: as many trivial
Python jobs (``python -c 'print("Hello")'``, the same interpreter) submitted with
``sbatch --wrap`` / ``qsub -b y`` from as many threads; a job's end is seen when its
output file says Hello (what a status document saying ProcessSucceeded is for ours), and
when the scheduler no longer lists it as queued or running, polled as often.

The scheduler must be running (``scripts/cluster/sge.sh start`` or ``slurm.sh start`` as
root; ``status`` tells): this script starts nothing of it. The results are printed and,
unless ``--no-write``, written into ``results.md`` as this scheduler's section (a
previous section of the same scheduler is replaced).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench  # noqa: E402 - the servers and the machine description of run.py

REPO = HERE.parent
#: seconds between polls for the jobs' ends (both ways)
POLL = 0.25
#: seconds between two GetCapabilities of the load-time prober
PROBE_PAUSE = 0.05
CLIENTS = 16
SCHEDULERS = {
    "sge": {
        "title": "Grid Engine",
        "script": REPO / "scripts" / "cluster" / "sge.sh",
        "backend": "drmaa",
        "submit": "qsub -b y",
        "check": ["qstat", "-help"],
    },
    "slurm": {
        "title": "Slurm",
        "script": REPO / "scripts" / "cluster" / "slurm.sh",
        "backend": "slurm",
        "submit": "sbatch --wrap",
        "check": ["sinfo", "-V"],
    },
}
SLURM_ENDED = {
    "COMPLETED",
    "CANCELLED",
    "FAILED",
    "TIMEOUT",
    "NODE_FAIL",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
    "OUT_OF_MEMORY",
}
RESULTS = HERE / "results.md"
HEADING = "# Through a batch scheduler: jupyter-wps vs straight to the scheduler"
BEGIN, END = "<!-- scheduler.py {}: begin -->", "<!-- scheduler.py {}: end -->"


def percentile(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores, all processes)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle, iowait
    return (sum(fields[:8]) - idle) / bench.CLK_TCK


# ---------------------------------------------------------------------- the scheduler


def scheduler_env(name: str) -> dict[str, str]:
    """The variables the scheduler's commands need; exits when the scheduler is not up."""
    spec = SCHEDULERS[name]
    script = spec["script"]
    status = subprocess.run(["bash", str(script), "status"], capture_output=True, text=True)
    env: dict[str, str] = {}
    if "running=yes" in status.stdout.split():
        out = subprocess.run(["bash", str(script), "env"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            words = shlex.split(line)
            if len(words) == 2 and words[0] == "export" and "=" in words[1]:
                key, value = words[1].split("=", 1)
                env[key] = value
    probe = subprocess.run(
        spec["check"], env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if "running=yes" not in status.stdout.split() or probe.returncode:
        sys.exit(
            f"{spec['title']} is not running here ({script.name} status: "
            f"{' '.join(status.stdout.split()) or status.stderr.strip()}). Start it first: "
            f"bash scripts/cluster/{script.name} start (as root)"
        )
    return env


def version(name: str, env: dict[str, str]) -> str:
    argv = SCHEDULERS[name]["check"]
    out = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True)
    return (out.stdout or out.stderr).strip().splitlines()[0]


def command(argv: list[str], env: dict[str, str], timeout: float = 60) -> str:
    result = subprocess.run(
        argv,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd="/",
    )
    if result.returncode:
        raise RuntimeError(f"{shlex.join(argv)}: exit {result.returncode}: {result.stderr}")
    return result.stdout


# ---------------------------------------------------------------------- measuring


@dataclass
class Run:
    """One way of running the jobs, measured."""

    label: str
    jobs: int
    #: per job: when its submission began, when it was answered
    submit_began: list[float] = field(default_factory=list)
    submit_answered: list[float] = field(default_factory=list)
    #: per job: seconds from its submission to its end being seen
    latencies: list[float] = field(default_factory=list)
    first_submit: float = 0.0
    last_submitted: float = 0.0
    all_final: float = 0.0
    busy_cpu: float = 0.0
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def submit_rate(self) -> float:
        span = self.last_submitted - self.first_submit
        return len(self.submit_answered) / span if span > 0 else float("nan")

    @property
    def submit_latencies(self) -> list[float]:
        return [b - a for a, b in zip(self.submit_began, self.submit_answered, strict=True)]

    @property
    def time_to_final(self) -> float:
        return self.all_final - self.first_submit

    @property
    def cpu_per_job(self) -> float:
        return self.busy_cpu / self.jobs


class Prober(threading.Thread):
    """GetCapabilities, again and again until stopped: the latencies and the failures."""

    def __init__(self, server: bench.JupyterWPS) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.stopping = threading.Event()
        self.latencies: list[float] = []
        self.failures: list[str] = []

    def run(self) -> None:
        session = requests.Session()
        session.headers.update(self.server.headers())
        params = {"service": "WPS", "request": "GetCapabilities"}
        while not self.stopping.is_set():
            began = time.perf_counter()
            try:
                reply = session.get(self.server.wps_url, params=params, timeout=60)
                if reply.status_code != 200 or b"<wps:Capabilities" not in reply.content:
                    self.failures.append(f"HTTP {reply.status_code}: {reply.text[:200]}")
            except requests.RequestException as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
            self.latencies.append(time.perf_counter() - began)
            self.stopping.wait(PROBE_PAUSE)

    def stop(self) -> Prober:
        self.stopping.set()
        self.join(120)
        return self


def submit_concurrently(jobs: int, clients: int, one) -> tuple[list, list[float], list[float]]:
    """``one(i)`` for every job from ``clients`` threads released at once: the results,
    and when each call began and returned (perf_counter)."""
    began = [0.0] * jobs
    answered = [0.0] * jobs
    results: list = [None] * jobs
    barrier = threading.Barrier(min(clients, jobs))
    local = threading.local()

    def call(i: int) -> None:
        if not hasattr(local, "ready"):
            local.ready = True
            barrier.wait(60)
        began[i] = time.perf_counter()
        results[i] = one(i)
        answered[i] = time.perf_counter()

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(call, i) for i in range(jobs)]:
            future.result()
    return results, began, answered


# ---------------------------------------------------------------------- straight to it


def direct_submit_argv(name: str, job_name: str, output: Path, workdir: Path) -> list[str]:
    python = sys.executable
    if name == "slurm":
        return [
            "sbatch",
            "--parsable",
            f"--job-name={job_name}",
            f"--output={output}",
            f"--chdir={workdir}",
            "--export=NONE",
            "--wrap",
            f"{shlex.quote(python)} -c {shlex.quote('print(' + repr('Hello') + ')')}",
        ]
    return [
        "qsub",
        "-terse",
        "-b",
        "y",
        "-N",
        job_name,
        "-o",
        str(output),
        "-j",
        "y",
        "-wd",
        str(workdir),
        python,
        "-c",
        shlex.quote("print('Hello')"),  # qsub -b y hands the words to a shell
    ]


def alive_natives(name: str, env: dict[str, str], job_name: str) -> set[str] | None:
    """The scheduler's queued or running jobs of this name (None: the query failed)."""
    try:
        if name == "slurm":
            out = command(
                ["squeue", "--noheader", "--states=all", f"--name={job_name}", "-o", "%i|%T"],
                env,
            )
            return {
                line.split("|")[0]
                for line in out.split()
                if "|" in line and line.split("|")[1] not in SLURM_ENDED
            }
        out = command(["qstat", "-u", "*"], env)
        return {line.split()[0] for line in out.splitlines()[2:] if line.strip()}
    except (RuntimeError, subprocess.TimeoutExpired):
        return None


def direct(name: str, env: dict[str, str], jobs: int, clients: int, cap: float) -> Run:
    """``jobs`` trivial Python jobs straight to the scheduler, from ``clients`` threads."""
    spec = SCHEDULERS[name]
    result = Run(f"straight to {spec['title']} ({spec['submit']})", jobs)
    workdir = Path(tempfile.mkdtemp(prefix="wps-bench-direct-"))
    job_name = f"bench-{uuid.uuid4().hex[:8]}"
    outputs = [workdir / f"job-{i:04d}.out" for i in range(jobs)]
    natives: list[str | None] = [None] * jobs
    try:
        # warm up: one job, waited for (not measured)
        warm = workdir / "warm.out"
        command(direct_submit_argv(name, job_name + "w", warm, workdir), env)
        deadline = time.monotonic() + 60
        while "Hello" not in (warm.read_text() if warm.exists() else ""):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the warm-up job did not run ({warm})")
            time.sleep(0.1)

        def one(i: int) -> str:
            argv = direct_submit_argv(name, job_name, outputs[i], workdir)
            out = command(argv, env).strip()
            native = out.splitlines()[-1].split(";")[0] if out else ""
            natives[i] = native
            return native

        busy = machine_busy()
        output_seen: dict[int, float] = {}
        ended_seen: dict[int, float] = {}
        stop = threading.Event()

        def watch() -> None:
            # each job's end: its output file says Hello; the scheduler lists it no more
            while not stop.is_set():
                now = time.perf_counter()
                for i, path in enumerate(outputs):
                    if (
                        i not in output_seen
                        and natives[i]
                        and path.exists()
                        and "Hello" in path.read_text(errors="replace")
                    ):
                        output_seen[i] = now
                alive = alive_natives(name, env, job_name)
                if alive is not None:
                    now = time.perf_counter()
                    for i, native in enumerate(natives):
                        if native and i not in ended_seen and native not in alive:
                            ended_seen[i] = now
                if len(output_seen) == jobs and len(ended_seen) == jobs:
                    return
                stop.wait(POLL)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, began, answered = submit_concurrently(jobs, clients, one)
        watcher.join(cap)
        stop.set()
        watcher.join(30)
        result.busy_cpu = machine_busy() - busy
        result.submit_began, result.submit_answered = began, answered
        result.first_submit, result.last_submitted = min(began), max(answered)
        result.latencies = [output_seen[i] - began[i] for i in sorted(output_seen)]
        result.all_final = max(output_seen.values(), default=float("nan"))
        if len(output_seen) < jobs:
            result.failures.append(f"{jobs - len(output_seen)} jobs wrote no Hello in {cap} s")
        if len(set(natives)) != jobs:
            result.failures.append(f"{len(set(natives))} distinct job ids for {jobs} jobs")
        ended = [ended_seen[i] - began[i] for i in sorted(ended_seen)]
        if ended:
            result.notes.append(
                "the scheduler listed the last job no more "
                f"{max(ended_seen.values()) - min(began):.1f} s after the first submission; "
                f"per job p50 {percentile(ended, 50):.2f} s, "
                f"p95 {percentile(ended, 95):.2f} s"
            )
        return result
    finally:
        leftover = [n for n in natives if n]
        if leftover:  # nothing is left normally; after an error, nothing queued stays
            cancel = ["scancel"] if name == "slurm" else ["qdel"]
            for start in range(0, len(leftover), 100):
                subprocess.run(
                    cancel + leftover[start : start + 100],
                    env={**os.environ, **env},
                    capture_output=True,
                    check=False,
                )
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------- through jupyter-wps


class SchedulerWPS(bench.JupyterWPS):
    """Our server in scheduler mode, the scheduler's variables in its environment."""

    def __init__(self, root: Path, name: str, env: dict[str, str], poll: float | None) -> None:
        super().__init__(root)
        self.scheduler_env = env
        self.config_file.write_text(
            "[server]\n"
            f"workdir = {root / 'wps-work'}\n"
            "maxprocesses = 100000\n"
            "[processing]\n"
            "mode = scheduler\n"
            f"backend = {SCHEDULERS[name]['backend']}\n"
            + (f"poll_interval = {poll:g}\n" if poll else "")
            + "[logging]\nlevel = INFO\n",
            encoding="utf-8",
        )

    def environment(self) -> dict[str, str]:
        return {**super().environment(), **self.scheduler_env}


def execute_params(name: str) -> dict[str, str]:
    return {
        "service": "WPS",
        "version": "1.0.0",
        "request": "Execute",
        "identifier": "say_hello",
        "DataInputs": f"name={name}",
        "storeExecuteResponse": "true",
        "status": "true",
    }


def job_states(session: requests.Session, server: bench.JupyterWPS) -> dict[str, str]:
    reply = session.get(f"{server.wps_url}/api/jobs", timeout=60)
    reply.raise_for_status()
    return {job["jobID"]: job["status"] for job in reply.json()["jobs"]}


def ours(
    name: str, env: dict[str, str], jobs: int, clients: int, cap: float, poll: float | None
) -> tuple[Run, Prober, list[float]]:
    """The jobs as async Executes through our server: the run, the load-time GetCapabilities
    prober, and GetCapabilities latencies of the idle server (before the load)."""
    root = Path(tempfile.mkdtemp(prefix="wps-bench-scheduler-"))
    server = SchedulerWPS(root, name, env, poll)
    result = Run(f"jupyter-wps ({SCHEDULERS[name]['backend']} backend)", jobs)
    session = requests.Session()
    session.headers.update(server.headers())
    job_ids: list[str | None] = [None] * jobs
    try:
        server.start()
        # warm up, and the idle server's GetCapabilities (not measured as load)
        warm = session.get(server.wps_url, params=execute_params("warm-up"), timeout=60)
        warm_id = re.search(rb'statusLocation="[^"]*/status/([^".?]+)', warm.content).group(1)
        deadline = time.monotonic() + 60
        while job_states(session, server).get(warm_id.decode()) != "successful":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the warm-up job did not succeed:\n{server.log()}")
            time.sleep(0.2)
        idle = []
        for _ in range(100):
            began = time.perf_counter()
            session.get(server.wps_url, params={"service": "WPS", "request": "GetCapabilities"})
            idle.append(time.perf_counter() - began)

        names = [f"{name}-bench-{i:04d}" for i in range(jobs)]
        local = threading.local()

        def one(i: int) -> str:
            if not hasattr(local, "session"):
                local.session = requests.Session()
                local.session.headers.update(server.headers())
            reply = local.session.get(server.wps_url, params=execute_params(names[i]), timeout=120)
            match = re.search(rb'statusLocation="[^"]*/status/([^".?]+)', reply.content)
            if reply.status_code != 200 or match is None:
                raise RuntimeError(f"Execute {names[i]}: HTTP {reply.status_code} {reply.text}")
            job_ids[i] = match.group(1).decode()
            return job_ids[i]

        prober = Prober(server)
        final_seen: dict[int, float] = {}
        stop = threading.Event()

        def watch() -> None:
            poller = requests.Session()
            poller.headers.update(server.headers())
            while not stop.is_set():
                states = job_states(poller, server)
                now = time.perf_counter()
                for i, job_id in enumerate(job_ids):
                    if (
                        i not in final_seen
                        and job_id
                        and states.get(job_id)
                        in (
                            "successful",
                            "failed",
                            "dismissed",
                        )
                    ):
                        final_seen[i] = now
                if len(final_seen) == jobs:
                    return
                stop.wait(POLL)

        busy, cpu = machine_busy(), server.cpu()
        prober.start()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, began, answered = submit_concurrently(jobs, clients, one)
        watcher.join(cap)
        stop.set()
        watcher.join(60)
        prober.stop()
        result.busy_cpu = machine_busy() - busy
        server_cpu = server.cpu() - cpu
        result.submit_began, result.submit_answered = began, answered
        result.first_submit, result.last_submitted = min(began), max(answered)
        result.latencies = [final_seen[i] - began[i] for i in sorted(final_seen)]
        result.all_final = max(final_seen.values(), default=float("nan"))
        if len(final_seen) < jobs:
            result.failures.append(f"{jobs - len(final_seen)} jobs not final after {cap} s")

        # not timed: every job's outcome, and what the server's records say
        wrong = 0
        for i, job_id in enumerate(job_ids):
            reply = session.get(f"{server.wps_url}/api/jobs/{job_id}/results", timeout=60)
            if reply.status_code != 200 or reply.json().get("output") != f"Hello {names[i]}":
                wrong += 1
        if wrong:
            result.failures.append(f"{wrong} jobs without their own greeting")
        records = [bench_record(server.root / "wps-work" / job_id) for job_id in job_ids if job_id]
        natives = {r.get("native_id") for r in records}
        if len(natives) != jobs or None in natives:
            result.failures.append(f"{len(natives)} distinct native ids for {jobs} jobs")
        waits = [seconds(r["created"], r["submitted"]) for r in records if r.get("submitted")]
        submitting = [r["submitting"] for r in records if r.get("submitting")]
        submitted = [r["submitted"] for r in records if r.get("submitted")]
        if submitting and submitted:
            span = seconds(min(submitting), max(submitted))
            result.notes.append(
                f"the server handed the {len(submitted)} jobs to the scheduler at "
                f"{len(submitted) / span:.1f}/s; Execute -> submitted: p50 "
                f"{percentile(waits, 50):.2f} s, max {max(waits):.2f} s"
            )
        result.notes.append(
            f"server CPU (the jupyter server process and the scheduler commands it ran): "
            f"{1000 * server_cpu.total / jobs:.0f} ms per job"
        )
        deferred = sum("deferred" in r for r in records)
        if deferred:
            result.notes.append(f"{deferred} submissions were deferred by the scheduler")
        return result, prober, idle
    except BaseException:
        if server.process is not None:
            print(f"--- jupyter-wps log (tail)\n{server.log()}", file=sys.stderr)
        raise
    finally:
        server.stop()
        natives = [
            bench_record(server.root / "wps-work" / j).get("native_id") for j in job_ids if j
        ]
        leftover = [n for n in natives if n]
        cancel = ["scancel"] if name == "slurm" else ["qdel"]
        for start in range(0, len(leftover), 100):  # jobs finished: nothing to cancel
            subprocess.run(
                cancel + leftover[start : start + 100],
                env={**os.environ, **env},
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


def bench_record(jobdir: Path) -> dict:
    try:
        return json.loads((jobdir / "job.json").read_text())
    except (OSError, ValueError):
        return {}


def seconds(earlier: str, later: str) -> float:
    return (dt.datetime.fromisoformat(later) - dt.datetime.fromisoformat(earlier)).total_seconds()


# ---------------------------------------------------------------------- report


def ratio(ours_value: float, theirs: float) -> str:
    if not theirs or ours_value != ours_value or theirs != theirs:
        return "-"
    return f"{ours_value / theirs:.2f}"


def report(
    name: str,
    env: dict[str, str],
    runs: tuple[Run, Run],
    prober: Prober,
    idle: list[float],
    settings: str,
) -> str:
    ourrun, theirs = runs
    title = SCHEDULERS[name]["title"]
    lines = [
        BEGIN.format(name),
        f"## {title}: {ourrun.jobs} jobs",
        "",
        *bench.machine(),
        f"- scheduler: {version(name, env)}",
        f"- {settings}",
        "",
        f"| {ourrun.jobs} jobs at once | {ourrun.label} | {theirs.label} | ours / straight |",
        "|---|---:|---:|---:|",
    ]

    def row(label: str, a: float, b: float, fmt: str = "{:.2f}") -> None:
        lines.append(f"| {label} | {fmt.format(a)} | {fmt.format(b)} | **{ratio(a, b)}** |")

    row("submissions answered per second", ourrun.submit_rate, theirs.submit_rate, "{:.1f}")
    row(
        "submission p50 (s)",
        percentile(ourrun.submit_latencies, 50),
        percentile(theirs.submit_latencies, 50),
        "{:.3f}",
    )
    row("time to all final (s)", ourrun.time_to_final, theirs.time_to_final, "{:.1f}")
    row(
        "per-job latency p50 (s)",
        percentile(ourrun.latencies, 50),
        percentile(theirs.latencies, 50),
    )
    row(
        "per-job latency p95 (s)",
        percentile(ourrun.latencies, 95),
        percentile(theirs.latencies, 95),
    )
    row("machine CPU per job (s)", ourrun.cpu_per_job, theirs.cpu_per_job, "{:.2f}")
    lines += [
        "",
        f"GetCapabilities while our {ourrun.jobs} jobs ran: {len(prober.latencies)} requests, "
        f"{len(prober.failures)} failed; p50 {1000 * percentile(prober.latencies, 50):.0f} ms, "
        f"p95 {1000 * percentile(prober.latencies, 95):.0f} ms, "
        f"max {1000 * max(prober.latencies, default=float('nan')):.0f} ms "
        f"(idle server: p50 {1000 * percentile(idle, 50):.1f} ms, "
        f"max {1000 * max(idle, default=float('nan')):.1f} ms).",
        "",
    ]
    for run in (ourrun, theirs):
        for note in run.notes:
            lines.append(f"- {run.label}: {note}")
        for failure in run.failures:
            lines.append(f"- {run.label}: **FAILED**: {failure}")
    lines += ["", END.format(name)]
    return "\n".join(lines) + "\n"


def write_section(path: Path, name: str, section: str) -> None:
    """This scheduler's section of ``path``: replaced where it is, else appended."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    begin, end = BEGIN.format(name), END.format(name)
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section.rstrip("\n") + rest.split(end, 1)[1]
    else:
        if HEADING not in text:
            text = text.rstrip("\n") + (
                f"\n\n{HEADING}\n\n"
                "Written by `python benchmarks/scheduler.py --scheduler sge|slurm`; "
                "README.md says how to read it.\n"
            )
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scheduler", choices=sorted(SCHEDULERS), required=True)
    parser.add_argument("--jobs", type=int, default=200, help="jobs each way (default 200)")
    parser.add_argument(
        "--clients", type=int, default=CLIENTS, help=f"client threads (default {CLIENTS})"
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        help="our server's [processing] poll_interval (default: the product's, 10 s)",
    )
    parser.add_argument(
        "--cap", type=float, default=900, help="seconds for the jobs to end (default 900)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="default results.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    env = scheduler_env(args.scheduler)
    settings = (
        f"{args.jobs} jobs each way from {args.clients} client threads at once, ends polled "
        f"every {POLL:g} s; jupyter-wps: async Execute say_hello, poll_interval "
        f"{args.poll_interval or 'default'}; straight: "
        f"{SCHEDULERS[args.scheduler]['submit']} python -c 'print(\"Hello\")'; "
        f"load average at the start: {bench.load_average()}"
    )
    print(settings, flush=True)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        theirs = direct(args.scheduler, env, args.jobs, args.clients, args.cap)
        print(f"straight: all final in {theirs.time_to_final:.1f} s {theirs.failures}", flush=True)
        ourrun, prober, idle = ours(
            args.scheduler, env, args.jobs, args.clients, args.cap, args.poll_interval
        )
        print(f"ours: all final in {ourrun.time_to_final:.1f} s {ourrun.failures}", flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    section = report(args.scheduler, env, (ourrun, theirs), prober, idle, settings)
    print()
    print(section)
    if not args.no_write:
        write_section(args.output, args.scheduler, section)
        print(f"written to {args.output}")
    return 1 if ourrun.failures or theirs.failures or prober.failures else 0


if __name__ == "__main__":
    sys.exit(main())
