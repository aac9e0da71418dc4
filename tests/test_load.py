"""Nothing lost under load: 200 async Executes at once through Grid Engine and Slurm.

A live server in scheduler mode (``poll_interval = 1``) gets ``JOBS`` async Executes of
``say_hello``, each with its own name, from ``CLIENTS`` client threads at once, while
another thread keeps asking for GetCapabilities (every answer must be a good one). Every
job must then end ProcessSucceeded with its own greeting; the job records must hold
exactly ``JOBS`` jobs with distinct native ids, and the scheduler's own records (Slurm's
job completion file, Grid Engine's accounting) exactly ``JOBS`` jobs of this run: none
lost, none run twice.

The limit test makes ``sbatch`` refuse submissions with Slurm's own "job submit limit"
message (what ``MaxSubmitJobs`` says; this Slurm has no accounting to set one): the jobs
wait in the server's queue and are retried, none is dropped or submitted twice, and
beyond ``maxprocesses`` the server answers ServerBusy instead of accepting a job.

``JUPYTER_WPS_LOAD_JOBS`` changes the number of jobs (a quicker run while developing).
``pytest -s`` prints the timings.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import threading
import time
from pathlib import Path

import cluster
import pytest
import requests
from live import LiveServer
from lxml import etree
from schema import assert_valid

from jupyter_wps.server.manager import SUBMIT_RETRY

NS = {"wps": "http://www.opengis.net/wps/1.0.0", "ows": "http://www.opengis.net/ows/1.1"}
JOBS = int(os.environ.get("JUPYTER_WPS_LOAD_JOBS", "200"))
CLIENTS = 16
#: seconds for all the jobs to reach a final state
FINAL_WAIT = 360.0
#: seconds for the scheduler's records to list every job (Grid Engine writes its
#: accounting file late: about 15 s here, more on a loaded machine)
RECORDS_WAIT = 120.0
FINAL = ("successful", "failed", "dismissed")
BACKEND = {"sge": "drmaa", "slurm": "slurm"}
JOBCOMP_WORKDIR = re.compile(r" WorkDir=(.*?) (?:ReservationName|Tres|Account)=")


def config(scheduler: str) -> str:
    return f"[processing]\nmode = scheduler\nbackend = {BACKEND[scheduler]}\npoll_interval = 1\n"


def scheduler_env(scheduler: str) -> dict[str, str]:
    return cluster.require_sge() if scheduler == "sge" else cluster.require_slurm()


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
    assert result.returncode == 0, f"{argv}: {result.stderr}"
    return result.stdout


def seconds(earlier: str, later: str) -> float:
    """Seconds between two ISO times of a job record."""
    return (dt.datetime.fromisoformat(later) - dt.datetime.fromisoformat(earlier)).total_seconds()


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


class Capabilities(threading.Thread):
    """Keeps asking for GetCapabilities until stopped: counts the answers, times them."""

    def __init__(self, server: LiveServer, pause: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.pause = pause
        self.stopping = threading.Event()
        self.latencies: list[float] = []
        self.failures: list[str] = []

    def run(self) -> None:
        session = requests.Session()
        session.headers.update(self.server.headers)
        params = {"service": "WPS", "request": "GetCapabilities"}
        while not self.stopping.is_set():
            began = time.perf_counter()
            try:
                reply = session.get(self.server.wps_url, params=params, timeout=30)
                good = reply.status_code == 200 and b"<wps:Capabilities" in reply.content
                problem = "" if good else f"HTTP {reply.status_code}: {reply.text[:300]}"
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}: {exc}"
            self.latencies.append(time.perf_counter() - began)
            if problem:
                self.failures.append(problem)
            self.stopping.wait(self.pause)
        session.close()

    def stop(self) -> Capabilities:
        self.stopping.set()
        self.join(60)
        return self

    def summary(self) -> str:
        values = self.latencies
        return (
            f"{len(values)} GetCapabilities, {len(self.failures)} failed; latency "
            f"p50 {1000 * percentile(values, 50):.0f} ms, p95 {1000 * percentile(values, 95):.0f} "
            f"ms, max {1000 * max(values, default=float('nan')):.0f} ms"
        )


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


def submit_all(server: LiveServer, names: list[str]) -> tuple[dict[str, str], list[float]]:
    """An async Execute per name from ``CLIENTS`` threads at once: name -> job id, and the
    latency of each Execute. Every one must be answered ProcessAccepted."""
    local = threading.local()
    start = threading.Barrier(min(CLIENTS, len(names)))

    def one(name: str) -> tuple[str, str, float, bytes]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers.update(server.headers)
            start.wait(30)
        began = time.perf_counter()
        reply = local.session.get(server.wps_url, params=execute_params(name), timeout=120)
        elapsed = time.perf_counter() - began
        assert reply.status_code == 200, f"Execute {name}: HTTP {reply.status_code} {reply.text}"
        doc = etree.fromstring(reply.content)
        assert doc.find("wps:Status/wps:ProcessAccepted", NS) is not None, reply.text
        job_id = doc.get("statusLocation").rsplit("/", 1)[1].split(".xml")[0]
        return name, job_id, elapsed, reply.content

    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(one, names))
    assert_valid(answers[0][3])
    assert_valid(answers[-1][3])
    return {name: job_id for name, job_id, _, _ in answers}, [a[2] for a in answers]


def job_states(server: LiveServer) -> dict[str, str]:
    """Every job the server lists (one request): job id -> status."""
    reply = requests.get(f"{server.wps_url}/api/jobs", headers=server.headers, timeout=60)
    assert reply.status_code == 200, reply.text
    return {job["jobID"]: job["status"] for job in reply.json()["jobs"]}


def wait_all_final(server: LiveServer, job_ids: set[str], timeout: float) -> dict[str, str]:
    """Until every one of these jobs is final (polled every 2 s, one request each time)."""
    deadline = time.monotonic() + timeout
    while True:
        states = job_states(server)
        assert job_ids <= set(states), f"the server lost jobs: {sorted(job_ids - set(states))}"
        waiting = {j: s for j, s in states.items() if j in job_ids and s not in FINAL}
        if not waiting:
            return {j: states[j] for j in job_ids}
        if time.monotonic() > deadline:
            counts: dict[str, int] = {}
            for status in waiting.values():
                counts[status] = counts.get(status, 0) + 1
            sample = sorted(waiting)[:3]
            records = [records_of(server, [j]) for j in sample]
            raise AssertionError(
                f"after {timeout:.0f} s {len(waiting)} jobs are not final ({counts}); "
                f"e.g. {records}\nserver log: {server.log()}"
            )
        time.sleep(2)


def greetings(server: LiveServer, job_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """Each job's status document: job id -> (state, the greeting it holds)."""

    def one(job_id: str) -> tuple[str, tuple[str, str | None], bytes]:
        reply = requests.get(
            f"{server.wps_url}/status/{job_id}.xml", headers=server.headers, timeout=60
        )
        assert reply.status_code == 200, reply.text
        doc = etree.fromstring(reply.content)
        state = etree.QName(doc.find("wps:Status", NS)[0]).localname
        return job_id, (state, doc.findtext(".//wps:LiteralData", namespaces=NS)), reply.content

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, job_ids))
    assert_valid(answers[0][2])
    return {job_id: result for job_id, result, _ in answers}


def records_of(server: LiveServer, job_ids: list[str] | None = None) -> dict[str, dict]:
    """The job records (job.json) of these jobs, or of every job directory."""
    if job_ids is None:
        job_ids = [p.name for p in server.workdir.iterdir() if (p / "job.json").exists()]
    return {j: json.loads((server.workdir / j / "job.json").read_text()) for j in job_ids}


# ---------------------------------------------------------------------- the scheduler's records


def slurm_records(env: dict[str, str], workdir: Path) -> tuple[list[str], dict[str, str]]:
    """Slurm's own records of the jobs of one workdir: the native ids of the ended jobs in
    the job completion file (one line per job that ended: repeated if one ran twice), and
    what ``squeue --states=all`` lists (id -> state)."""
    prefix = f"{workdir}/"
    settings = command(["scontrol", "show", "config"], env)
    location = re.search(r"^JobCompLoc\s*=\s*(\S+)", settings, re.MULTILINE)
    assert location, "no JobCompLoc: this Slurm writes no job completion file"
    ended = []
    with open(location.group(1), errors="replace") as stream:
        for line in stream:
            match = JOBCOMP_WORKDIR.search(line)
            if match and match.group(1).startswith(prefix) and line.startswith("JobId="):
                ended.append(line.split()[0].removeprefix("JobId="))
    listed = {}
    out = command(
        ["squeue", "--noheader", "--states=all", "--user=" + str(os.getuid()), "-o", "%i|%T|%Z"],
        env,
    )
    for line in out.splitlines():
        native, state, directory = line.strip().split("|", 2)
        if directory.startswith(prefix):
            listed[native] = state
    return ended, listed


def qacct_records(env: dict[str, str], names: set[str]) -> list[dict[str, str]]:
    """Grid Engine's accounting records of jobs with these names (one per job that ran)."""
    result = subprocess.run(
        ["qacct", "-j", "wps-*"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    records: list[dict[str, str]] = []
    for line in result.stdout.splitlines():
        if line.startswith("====="):
            records.append({})
            continue
        key, _, value = line.partition(" ")
        if records and key:
            records[-1][key] = value.strip()
    return [r for r in records if r.get("jobname") in names]


def sge_queued(env: dict[str, str], names: set[str]) -> list[str]:
    """Jobs with these names that Grid Engine still has queued or running."""
    doc = etree.fromstring(command(["qstat", "-xml", "-u", "*"], env).encode())
    return [
        job.findtext("JB_job_number")
        for job in doc.iter("job_list")
        if job.findtext("JB_name") in names
    ]


def scheduler_counts(
    scheduler: str, env: dict[str, str], server: LiveServer, natives: set[str], names: set[str]
) -> str:
    """Waits until the scheduler's records list every one of ``natives``, then checks that
    they list nothing else of this run (no job submitted twice). Returns what it saw."""
    deadline = time.monotonic() + RECORDS_WAIT
    began = time.monotonic()
    if scheduler == "slurm":
        while True:
            ended, listed = slurm_records(env, server.workdir)
            if natives <= set(ended) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert set(ended) == natives and len(ended) == len(natives), (
            f"job completion file: {len(ended)} lines, {len(set(ended))} jobs for "
            f"{len(natives)} recorded; missing {sorted(natives - set(ended))[:10]}, "
            f"others {sorted(set(ended) - natives)[:10]}"
        )
        assert set(listed) <= natives, f"squeue lists others: {sorted(set(listed) - natives)}"
        alive = {n: s for n, s in listed.items() if s in ("PENDING", "RUNNING", "COMPLETING")}
        assert not alive, f"still on Slurm: {alive}"
        return (
            f"jobcomp: {len(ended)} jobs of this run ({time.monotonic() - began:.1f} s after "
            f"the last one ended), squeue --states=all still lists {len(listed)}"
        )
    while True:
        records = qacct_records(env, names)
        seen = {r.get("jobnumber") for r in records}
        if natives <= seen or time.monotonic() > deadline:
            break
        time.sleep(3)
    lag = time.monotonic() - began
    numbers = [r.get("jobnumber") for r in records]
    assert set(numbers) == natives and len(numbers) == len(natives), (
        f"qacct: {len(numbers)} records, {len(set(numbers))} jobs for {len(natives)} recorded "
        f"after {lag:.0f} s; missing {sorted(natives - set(numbers))[:10]}, "
        f"others {sorted(set(numbers) - natives)[:10]}"
    )
    failed = [r for r in records if r.get("failed", "0").split()[0] != "0"]
    assert not failed, f"Grid Engine says these failed: {failed[:3]}"
    queued = sge_queued(env, names)
    assert not queued, f"Grid Engine still has jobs of this run: {queued}"
    cpu = [float(r.get("cpu", "0").rstrip("s") or 0) for r in records]
    return (
        f"qacct: {len(numbers)} jobs of this run, all in it {lag:.1f} s after the last ended; "
        f"CPU per job (launcher) mean {statistics.mean(cpu):.2f} s, max {max(cpu):.2f} s"
    )


def cancel_leftovers(scheduler: str, env: dict[str, str], server: LiveServer) -> None:
    """Leave no job of ours queued on the shared node (after a failure)."""
    natives = [r.get("native_id") for r in records_of(server).values()]
    natives = [n for n in natives if n]
    for start in range(0, len(natives), 50):
        argv = ["scancel"] if scheduler == "slurm" else ["qdel"]
        subprocess.run(
            argv + natives[start : start + 50],
            env={**os.environ, **env},
            capture_output=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )


# ---------------------------------------------------------------------- 200 jobs at once


@pytest.mark.timeout(FINAL_WAIT + RECORDS_WAIT + 300)
@pytest.mark.parametrize(
    "scheduler",
    [pytest.param("sge", marks=pytest.mark.sge), pytest.param("slurm", marks=pytest.mark.slurm)],
)
def test_many_async_executes_all_end_none_lost_or_duplicated(scheduler, tmp_path):
    env = scheduler_env(scheduler)
    began = time.monotonic()
    live = LiveServer(tmp_path, config(scheduler), env=env).start()
    capabilities = Capabilities(live)
    try:
        names = [f"{scheduler}-load-{i:03d}" for i in range(JOBS)]
        capabilities.start()
        submitted = time.monotonic()
        jobs, execute_latencies = submit_all(live, names)
        submit_seconds = time.monotonic() - submitted
        job_ids = set(jobs.values())
        assert len(job_ids) == JOBS, "two Executes were answered with the same job"

        states = wait_all_final(live, job_ids, FINAL_WAIT)
        all_final = time.monotonic() - submitted
        capabilities.stop()
        assert not capabilities.failures, (
            f"{len(capabilities.failures)} GetCapabilities failed under load, e.g. "
            f"{capabilities.failures[:3]}"
        )
        assert len(capabilities.latencies) > 10, capabilities.summary()

        bad = {j: s for j, s in states.items() if s != "successful"}
        assert not bad, f"{len(bad)} jobs did not succeed: {records_of(live, sorted(bad)[:3])}"
        found = greetings(live, list(jobs.values()))
        wrong = {
            name: found[job_id]
            for name, job_id in jobs.items()
            if found[job_id] != ("ProcessSucceeded", f"Hello {name}")
        }
        assert not wrong, f"{len(wrong)} jobs ended wrong, e.g. {list(wrong.items())[:5]}"

        # the server's records: these jobs and no others, each submitted once
        records = records_of(live)
        assert set(records) == job_ids, f"job directories: {len(records)} for {JOBS} jobs"
        natives = [r.get("native_id") for r in records.values()]
        assert all(natives) and len(set(natives)) == JOBS, (
            f"{len(set(filter(None, natives)))} distinct native ids for {JOBS} jobs"
        )
        assert all(r.get("submitted") and "deferred" not in r for r in records.values())

        handed = sorted(r["submitted"] for r in records.values())
        queued = [seconds(r["created"], r["submitted"]) for r in records.values()]
        rate = JOBS / max(seconds(min(r["submitting"] for r in records.values()), handed[-1]), 1e-3)
        counted = scheduler_counts(
            scheduler, env, live, set(natives), {f"wps-{j[:8]}" for j in job_ids}
        )
        took = time.monotonic() - began
        print(
            f"\n{scheduler}: {JOBS} async Executes from {CLIENTS} clients in "
            f"{submit_seconds:.1f} s "
            f"(Execute p50 {1000 * percentile(execute_latencies, 50):.0f} ms, max "
            f"{1000 * max(execute_latencies):.0f} ms); all final {all_final:.1f} s after the "
            f"first; handed to the scheduler at {rate:.1f}/s (Execute -> submitted max "
            f"{max(queued):.1f} s); {capabilities.summary()}; {counted}; "
            f"test wall time {took:.1f} s"
        )
    finally:
        capabilities.stop()
        live.stop()
        cancel_leftovers(scheduler, env, live)


# ---------------------------------------------------------------------- a submission limit

#: Slurm's answer when a user is at MaxSubmitJobs (ESLURM_ACCOUNTING_POLICY)
LIMIT_MESSAGE = (
    "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy "
    "(job submit limit, user's size and/or time limits)"
)
#: the sbatch calls (counted from 1) that are refused: the first job's first two, and
#: two in the middle of the queue
REFUSED_CALLS = (1, 2, 9, 10)
LIMITED_JOBS = 20

SBATCH_WRAPPER = """#!/bin/sh
# sbatch that refuses some calls as a submit limit would, then runs the real one
exec 9>>{lock}
flock 9
n=$(( $(cat {counter} 2>/dev/null || echo 0) + 1 ))
echo "$n" > {counter}
name=unknown
for arg in "$@"; do
    case "$arg" in --job-name=*) name=${{arg#--job-name=}} ;; esac
done
case " {refused} " in
    *" $n "*)
        echo "$n refused $name" >> {calls}
        echo {message} >&2
        exit 1 ;;
esac
echo "$n submitted $name" >> {calls}
exec {real} "$@"
"""


def sbatch_wrapper(directory: Path) -> Path:
    """A directory with an ``sbatch`` that refuses ``REFUSED_CALLS``; its calls in ``calls``."""
    real = shutil.which("sbatch")
    assert real, "no sbatch on PATH"
    bindir = directory / "bin"
    bindir.mkdir()
    wrapper = bindir / "sbatch"
    quote = "'{}'".format
    wrapper.write_text(
        SBATCH_WRAPPER.format(
            lock=quote(directory / "sbatch.lock"),
            counter=quote(directory / "sbatch.count"),
            calls=quote(directory / "sbatch.calls"),
            refused=" ".join(map(str, REFUSED_CALLS)),
            message="'" + LIMIT_MESSAGE.replace("'", "'\\''") + "'",
            real=quote(real),
        )
    )
    wrapper.chmod(0o755)
    return bindir


@pytest.mark.slurm
@pytest.mark.timeout(600)
def test_slurm_submit_limit_jobs_wait_and_are_retried_never_dropped(tmp_path):
    env = cluster.require_slurm()
    bindir = sbatch_wrapper(tmp_path)
    live = LiveServer(
        tmp_path / "server",
        config("slurm"),
        env={**env, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"},
    )
    live.config_file.write_text(  # LiveServer's own [server] section, with maxprocesses
        f"[server]\nworkdir = {live.workdir}\nmaxprocesses = {LIMITED_JOBS}\n" + config("slurm"),
        encoding="utf-8",
    )
    live.start()
    calls_file = tmp_path / "sbatch.calls"
    try:
        began = time.monotonic()
        names = [f"limited-{i:02d}" for i in range(LIMITED_JOBS)]
        jobs, _ = submit_all(live, names)
        assert len(set(jobs.values())) == LIMITED_JOBS
        by_name = {f"wps-{j[:8]}": j for j in jobs.values()}

        # the first job handed to sbatch is refused: it waits, accepted, with the reason
        deadline = time.monotonic() + 30
        while not calls_file.exists():
            assert time.monotonic() < deadline, "sbatch was never called"
            time.sleep(0.1)
        number, outcome, name = calls_file.read_text().split("\n")[0].split()
        assert (number, outcome) == ("1", "refused") and name in by_name
        first = by_name[name]
        while "job submit limit" not in records_of(live, [first])[first].get("deferred", ""):
            assert time.monotonic() < deadline, f"not deferred: {records_of(live, [first])}"
            time.sleep(0.1)
        assert job_states(live)[first] == "accepted"
        assert records_of(live, [first])[first].get("native_id") is None

        # all of them are queued or running: one more is answered ServerBusy, not dropped
        reply = requests.get(
            live.wps_url, params=execute_params("one-too-many"), headers=live.headers, timeout=60
        )
        assert reply.status_code == 503, reply.text
        assert_valid(reply.content)
        assert b'exceptionCode="ServerBusy"' in reply.content, reply.text
        assert set(records_of(live)) == set(jobs.values()), "a refused Execute left a job behind"

        wait_all_final(live, set(jobs.values()), 240)
        took = time.monotonic() - began
        found = greetings(live, list(jobs.values()))
        for name, job_id in jobs.items():
            assert found[job_id] == ("ProcessSucceeded", f"Hello {name}"), (name, found[job_id])

        calls = calls_file.read_text().split("\n")
        calls = [line.split() for line in calls if line]
        refused = [name for _, outcome, name in calls if outcome == "refused"]
        accepted = [name for _, outcome, name in calls if outcome == "submitted"]
        names_of_jobs = set(by_name)
        assert len(refused) == len(REFUSED_CALLS), calls
        assert set(refused) <= names_of_jobs
        assert sorted(accepted) == sorted(names_of_jobs), "a job submitted twice, or never"
        # the deferred job went back to the head of the queue: submitted by the next call
        for number, outcome, name in calls:
            if outcome == "refused" and int(number) + 1 not in REFUSED_CALLS:
                assert calls[int(number)][1:] == ["submitted", name], calls

        records = records_of(live)
        natives = {r["native_id"] for r in records.values()}
        assert len(natives) == LIMITED_JOBS and all(n and n.isdigit() for n in natives)
        deferred_jobs = [j for j, r in records.items() if "deferred" in r]
        assert len(deferred_jobs) == 2, deferred_jobs  # the first job, and one in the middle
        assert all("job submit limit" in records[j]["deferred"] for j in deferred_jobs)
        counted = scheduler_counts("slurm", env, live, natives, names_of_jobs)
        assert "the scheduler deferred job" in (live.root / "server.log").read_text()
        retries = len(REFUSED_CALLS) * SUBMIT_RETRY
        print(
            f"\nslurm, submit limit: {LIMITED_JOBS} jobs, {len(REFUSED_CALLS)} sbatch calls "
            f"refused ({retries:.0f} s of retry pauses), all succeeded {took:.1f} s after the "
            f"first Execute; {counted}"
        )
    finally:
        live.stop()
        cancel_leftovers("slurm", env, live)
