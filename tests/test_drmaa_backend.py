"""The DRMAA backend against a real Son of Grid Engine, through a live Jupyter server.

The SGE tests (marker ``sge``) start ``jupyter server`` processes with
``[processing] mode = scheduler, backend = drmaa`` and the DRMAA variables in
their environment (DRMAA reads them when its library loads), submit WPS jobs
and watch them through the status documents, the JSON API and Grid Engine's own
commands (``qstat``, ``qdel``, ``qacct``). The other tests check the pure parts
(resources in the DRM's words, accounting records) and the start-up error.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import cluster
import live
import pytest
import requests
from live import NS, LiveServer, job_id_of, state_of, wait_until
from lxml import etree
from schema import assert_valid

from jupyter_wps.backends import FINISHED, default_resources
from jupyter_wps.backends.drmaa import (
    GRID_ENGINE,
    PBS,
    SLURM,
    DRMAABackend,
    accounting_state,
    drm_family,
    memory_bytes,
    memory_units,
    native_specification,
    parse_qacct,
    walltime_seconds,
    with_prologue,
)
from jupyter_wps.config import Config, ConfigError

FINAL = ("ProcessSucceeded", "ProcessFailed")
ORDER = {"ProcessAccepted": 0, "ProcessStarted": 1, "ProcessPaused": 1, **dict.fromkeys(FINAL, 2)}

SCHEDULER = """[processing]
mode = scheduler
backend = drmaa
poll_interval = 0.5
processes = failing_processes:PROCESSES
"""
#: the prologue writes to launcher.log and exports a variable the launcher must see
PROLOGUE = """prologue = echo "prologue: Grid Engine job $JOB_ID"
    export WPS_PROLOGUE=ran
"""

#: native ids of jobs that ran, checked against Grid Engine's accounting at the end
ACCOUNTED: list[str] = []
#: measured latencies, printed at the end (pytest -s shows them)
TIMINGS: dict[str, float] = {}


# --------------------------------------------------------------------------- helpers


def sge(argv: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def in_qstat(native_id: str, env: dict[str, str]) -> bool:
    """Whether Grid Engine lists the job as queued or running."""
    return sge(["qstat", "-j", native_id], env).returncode == 0


def execute(server: LiveServer, identifier: str, inputs: str = "") -> tuple[str, str]:
    """An async Execute, accepted: (job id, statusLocation)."""
    doc = live.execute(server, identifier, inputs)
    assert state_of(doc) == "ProcessAccepted"
    return job_id_of(doc), doc.get("statusLocation")


def status(location: str) -> etree._Element:
    """The status document at its statusLocation (the capability in it suffices), valid."""
    reply = requests.get(location, timeout=10)
    assert reply.status_code == 200, reply.text
    assert_valid(reply.content)
    return etree.fromstring(reply.content)


def final_status(location: str, timeout: float = 60) -> etree._Element:
    """The status document once it is final."""
    found: list[etree._Element] = []

    def final() -> bool:
        found[:] = [status(location)]
        return state_of(found[0]) in FINAL

    wait_until(final, timeout, interval=0.05, what=f"a final status at {location}")
    return found[0]


def percent_of(doc: etree._Element) -> int | None:
    started = doc.find("wps:Status/wps:ProcessStarted", NS)
    value = started.get("percentCompleted") if started is not None else None
    return int(value) if value is not None else None


def message_of(doc: etree._Element) -> str:
    failed = doc.find("wps:Status/wps:ProcessFailed", NS)
    return " ".join(failed.itertext()) if failed is not None else ""


def literal_outputs(doc: etree._Element) -> dict[str, str]:
    return {
        out.findtext("ows:Identifier", namespaces=NS): out.findtext(
            ".//wps:LiteralData", namespaces=NS
        )
        for out in doc.iterfind("wps:ProcessOutputs/wps:Output", NS)
        if out.find(".//wps:LiteralData", NS) is not None
    }


def job(server: LiveServer, job_id: str) -> dict:
    reply = requests.get(f"{server.wps_url}/api/jobs/{job_id}", headers=server.headers, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


def final_job(server: LiveServer, job_id: str, timeout: float = 60) -> dict:
    return wait_until(
        lambda: (j := job(server, job_id))["status"] in ("successful", "failed", "dismissed") and j,
        timeout,
        interval=0.2,
        what=f"job {job_id} to end",
    )


def native_id(server: LiveServer, job_id: str, timeout: float = 30) -> str:
    def read() -> str | None:
        try:
            record = json.loads((server.workdir / job_id / "job.json").read_text())
        except (OSError, ValueError):
            return None
        return record.get("native_id")

    found = wait_until(read, timeout, what=f"the native id of {job_id}")
    assert found.isdigit(), f"{found!r} is not a Grid Engine job id"
    return found


def dismiss(server: LiveServer, job_id: str) -> None:
    reply = requests.get(
        server.wps_url,
        headers=server.headers,
        timeout=30,
        params={"service": "WPS", "version": "2.0.0", "request": "Dismiss", "jobId": job_id},
    )
    assert reply.status_code == 200, reply.text
    assert_valid(reply.content)


def launcher_log(server: LiveServer, job_id: str) -> str:
    try:
        return (server.workdir / job_id / "launcher.log").read_text(errors="replace")
    except OSError:
        return ""


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sge_env() -> dict[str, str]:
    return cluster.require_sge()


def scheduler_server(root: Path, sge_env: dict[str, str], extra: str = "", **env: str):
    return LiveServer(root, SCHEDULER + extra, env={**sge_env, **env})


@pytest.fixture(scope="module")
def server(sge_env, tmp_path_factory):
    """A server whose jobs run through Grid Engine, behind a prologue; it holds a hub token."""
    live = scheduler_server(
        tmp_path_factory.mktemp("drmaa"), sge_env, PROLOGUE, JUPYTERHUB_API_TOKEN="secret"
    )
    yield live.start()
    live.stop()


# --------------------------------------------------------------------------- Grid Engine


@pytest.mark.sge
def test_demo_processes_run_through_grid_engine(server, sge_env):
    demo = {
        "say_hello": ("name=Grid Engine", {"output": "Hello Grid Engine"}),
        "sleep": ("seconds=3", {"output": "Slept for 3.0 seconds"}),
        "echo": ("literal=hello", {"literal": "hello"}),
        "ultimate_question": ("", {"output": "42"}),
    }
    started = time.monotonic()
    jobs = {name: execute(server, name, inputs) for name, (inputs, _) in demo.items()}
    seen: dict[str, list[tuple[str, int | None]]] = {name: [] for name in jobs}
    finals: dict[str, etree._Element] = {}
    ids: dict[str, str] = {}
    listed: set[str] = set()  # jobs qstat listed while they ran
    deadline = time.monotonic() + 90
    while len(finals) < len(jobs):
        assert time.monotonic() < deadline, f"not all jobs ended: {seen}"
        for name, (job_id, location) in jobs.items():
            if name in finals:
                continue
            doc = status(location)
            seen[name].append((state_of(doc), percent_of(doc)))
            if state_of(doc) in FINAL:
                finals[name] = doc
                TIMINGS[f"{name}: submit -> {state_of(doc)} (s)"] = time.monotonic() - started
                continue
            if name not in ids:
                with_id = json.loads((server.workdir / job_id / "job.json").read_text())
                if with_id.get("native_id"):
                    ids[name] = with_id["native_id"]
            if (
                state_of(doc) == "ProcessStarted"
                and name in ids
                and name not in listed
                and in_qstat(ids[name], sge_env)
            ):
                listed.add(name)
        time.sleep(0.1)

    for name, (_, expected) in demo.items():
        states = [state for state, _ in seen[name]]
        assert states[-1] == "ProcessSucceeded", (name, message_of(finals[name]), seen[name])
        assert [ORDER[s] for s in states] == sorted(ORDER[s] for s in states), (name, states)
        assert literal_outputs(finals[name]) == expected, name
        ids.setdefault(name, native_id(server, jobs[name][0]))
        assert ids[name].isdigit(), ids[name]
        ACCOUNTED.append(ids[name])
    for name in ("sleep", "ultimate_question"):  # long enough to be seen running
        percents = [p for state, p in seen[name] if state == "ProcessStarted" and p is not None]
        assert len(set(percents)) >= 2, (name, seen[name])
        assert percents == sorted(percents), (name, percents)
        assert name in listed, f"qstat -j {ids[name]} did not list {name} while it ran"
    assert len(set(ids.values())) == len(ids)


@pytest.mark.sge
def test_say_hello_latency(server):
    """Submit -> ProcessSucceeded through Grid Engine, one job on an idle queue."""
    latencies = []
    for _ in range(3):
        started = time.monotonic()
        job_id, location = execute(server, "say_hello", "name=again")
        doc = final_status(location, 30)
        latencies.append(time.monotonic() - started)
        assert state_of(doc) == "ProcessSucceeded", message_of(doc)
        ACCOUNTED.append(native_id(server, job_id))
    TIMINGS["say_hello: submit -> ProcessSucceeded, idle queue (s), min"] = min(latencies)
    TIMINGS["say_hello: submit -> ProcessSucceeded, idle queue (s), max"] = max(latencies)


@pytest.mark.sge
def test_failing_process(server):
    job_id, location = execute(server, "fail")
    doc = final_status(location)
    assert state_of(doc) == "ProcessFailed"
    assert "boom" in message_of(doc)
    assert final_job(server, job_id)["status"] == "failed"
    assert "ValueError: boom" in launcher_log(server, job_id)  # the traceback
    ACCOUNTED.append(native_id(server, job_id))


@pytest.mark.sge
def test_dismiss_queued_and_running_jobs(server, sge_env):
    running_id, running_location = execute(server, "chatty_sleep", "seconds=60")
    running_native = native_id(server, running_id)
    wait_until(lambda: job(server, running_id)["status"] == "running", 30, what="running")
    # dismissed once Grid Engine has it: queued there, or just started
    early_id, _ = execute(server, "chatty_sleep", "seconds=60")
    early_native = native_id(server, early_id)
    dismiss(server, early_id)
    started = time.monotonic()
    dismiss(server, running_id)
    for job_id in (early_id, running_id):
        assert final_job(server, job_id, 15)["status"] == "dismissed"
    assert state_of(status(running_location)) == "ProcessFailed"
    wait_until(lambda: not in_qstat(running_native, sge_env), 10, what="qstat to forget it")
    TIMINGS["Dismiss of a running job -> gone from qstat (s)"] = time.monotonic() - started
    wait_until(lambda: not in_qstat(early_native, sge_env), 10, what="qstat to forget it")


@pytest.mark.sge
def test_qdel_of_a_running_job_is_reported(server, sge_env):
    job_id, location = execute(server, "chatty_sleep", "seconds=60")
    native = native_id(server, job_id)
    wait_until(lambda: "going to sleep" in launcher_log(server, job_id), 30, what="the job")
    started = time.monotonic()
    result = sge(["qdel", native], sge_env)
    assert result.returncode == 0, result.stderr
    final = final_job(server, job_id, 15)
    TIMINGS["qdel of a running job -> reported failed (s)"] = time.monotonic() - started
    assert final["status"] == "failed"
    message = final["message"]
    assert "scheduler" in message and "qdel" in message, message
    assert "launcher.log" in message and "going to sleep" in message, message
    assert f"prologue: Grid Engine job {native}" in message, message  # the prologue ran
    doc = status(location)
    assert state_of(doc) == "ProcessFailed" and "qdel" in message_of(doc)


@pytest.mark.sge
@pytest.mark.parametrize("prologue", ["", "prologue = echo preparing\n"])
def test_a_wrong_python_fails_the_job(sge_env, tmp_path, prologue):
    live = scheduler_server(tmp_path, sge_env, f"python = /nonexistent/python3\n{prologue}")
    live.start()
    try:
        job_id, location = execute(live, "say_hello", "name=nobody")
        final = final_job(live, job_id, 30)  # never stuck accepted
        assert final["status"] == "failed", final
        message = final["message"]
        assert "/nonexistent/python3" in message, message
        if prologue:  # the shell of the prologue says it, in launcher.log
            assert "exited with code 127" in message and "preparing" in message, message
        else:  # Grid Engine cannot start the job at all
            assert "scheduler" in message and "before it ran" in message, message
        assert state_of(status(location)) == "ProcessFailed"
    finally:
        live.stop()


@pytest.mark.sge
def test_jobs_survive_a_server_restart(sge_env, tmp_path):
    live = scheduler_server(tmp_path, sge_env).start()
    try:
        doomed, _ = execute(live, "chatty_sleep", "seconds=60")
        jobs = [execute(live, "sleep", "seconds=5")[0] for _ in range(10)]
        natives = {job_id: native_id(live, job_id) for job_id in [*jobs, doomed]}
        wait_until(lambda: "going to sleep" in launcher_log(live, doomed), 30, what="chatty_sleep")
        live.stop(kill=True)  # as if its allocation ended: the batch jobs carry on
        assert sum(in_qstat(natives[j], sge_env) for j in jobs) >= 6  # queued or running
        # a job deleted while no server watches: the next one reports it
        assert sge(["qdel", natives[doomed]], sge_env).returncode == 0
        live.start()
        for job_id in jobs:
            final = final_job(live, job_id, 90)
            assert final["status"] == "successful", final
        for job_id, native in natives.items():  # adopted, never submitted again
            record = json.loads((live.workdir / job_id / "job.json").read_text())
            assert record["native_id"] == native
        lost = final_job(live, doomed, 30)
        assert lost["status"] == "failed", lost
        assert f"Grid Engine job {natives[doomed]}" in lost["message"], lost
        assert "going to sleep" in lost["message"], lost  # the tail of launcher.log
        ACCOUNTED.extend(natives[j] for j in jobs)
        # the restarted server's own session cancels a new job
        new_id, _ = execute(live, "sleep", "seconds=60")
        new_native = native_id(live, new_id)
        wait_until(lambda: job(live, new_id)["status"] == "running", 30, what="running")
        dismiss(live, new_id)
        assert final_job(live, new_id, 15)["status"] == "dismissed"
        wait_until(lambda: not in_qstat(new_native, sge_env), 10, what="qstat to forget it")
    finally:
        live.stop()


@pytest.mark.sge
def test_find_a_job_whose_submission_was_cut_short(sge_env, tmp_path):
    """After a crash between submitting and recording, the job is found by name and cwd."""
    job_id = "0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"
    jobdir = tmp_path / job_id
    jobdir.mkdir()
    submitted = sge(
        ["qsub", "-terse", "-b", "y", "-N", f"wps-{job_id[:8]}", "-wd", str(jobdir)]
        + ["-o", "/dev/null", "-j", "y", "/bin/sleep", "30"],
        sge_env,
    )
    assert submitted.returncode == 0, submitted.stderr
    native = submitted.stdout.strip()
    try:
        backend = DRMAABackend.__new__(DRMAABackend)  # find() asks qstat, not DRMAA
        backend.family = GRID_ENGINE
        with mock.patch.dict(os.environ, sge_env):
            assert asyncio.run(backend.find(job_id)) == native
            other = job_id.replace("4978", "4979")  # same name, another directory
            assert asyncio.run(backend.find(other)) is None
    finally:
        sge(["qdel", native], sge_env)


@pytest.mark.sge
def test_job_environment_is_explicit(server, sge_env):
    pid = server.process.pid
    server_env = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{pid}/environ").read_text(errors="replace").split("\0")
        if "=" in item
    )
    assert server_env.get("JUPYTERHUB_API_TOKEN") == "secret"
    job_id, location = execute(server, "env_dump")
    doc = final_status(location)
    assert state_of(doc) == "ProcessSucceeded", message_of(doc)
    env = json.loads(literal_outputs(doc)["output"])
    assert "JUPYTERHUB_API_TOKEN" not in env
    assert not [value for value in env.values() if value == "secret"]
    assert env.get("WPS_PROLOGUE") == "ran", "the prologue's environment reaches the launcher"
    assert env.get("JOB_ID") == native_id(server, job_id), "it ran as a Grid Engine job"
    assert env.get("PYTHONPATH") == server_env.get("PYTHONPATH")  # export_environment
    assert "DRMAA_LIBRARY_PATH" not in env  # not exported unless configured
    ACCOUNTED.append(native_id(server, job_id))


#: Two backends in one process (as pytest-jupyter or a hub make them): one session
SHARED_SESSION = r"""
import asyncio, sys, tempfile, threading
from pathlib import Path
from jupyter_wps.backends import FINISHED, drmaa as module
from jupyter_wps.config import Config

async def main():
    config = Config(mode="scheduler", backend="drmaa")
    a = module.DRMAABackend(config, lambda *args: None)
    b = module.DRMAABackend(config, lambda *args: None)
    assert a._session is b._session and module._shared.users == 2
    jobdir = Path(tempfile.mkdtemp())  # no job in it: the launcher exits with code 2
    native = await a.submit("0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b", jobdir, None, {})
    await a.close()  # b still uses the session: it sees the job a submitted, and reaps it
    assert module._shared is b._session and module._shared.users == 1
    for _ in range(1200):  # two minutes: the queue may be busy
        # no answer yet for a job whose accounting lookup is still under way
        state = (await b.states([native])).get(native)
        if state is not None and state.state == FINISHED:
            break
        await asyncio.sleep(0.1)
    assert state is not None and state.state == FINISHED and state.exit_code == 2, state
    assert "no job record" in (jobdir / "launcher.log").read_text()
    threads = [t for t in threading.enumerate() if t.name.startswith("drmaa")]
    assert len(threads) == 1, threads
    await b.close()
    assert module._shared is None
    c = module.DRMAABackend(config, lambda *args: None)  # a new session after the last exit
    await c.close()
    print("ok", native, state.reason)

asyncio.run(main())
"""


@pytest.mark.sge
def test_one_session_per_process(sge_env):
    result = sge([sys.executable, "-c", SHARED_SESSION], sge_env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok "), result.stdout
    ACCOUNTED.append(result.stdout.split()[1])


@pytest.mark.sge
def test_grid_engine_accounting_knows_the_jobs(sge_env):
    """Every job id the server recorded is a job Grid Engine ran (qacct: flushed late)."""
    assert ACCOUNTED, "run with the other tests of this module"
    missing = set(ACCOUNTED)

    def check() -> bool:
        for native in sorted(missing):
            if sge(["qacct", "-j", native], sge_env).returncode == 0:
                missing.discard(native)
        return not missing

    wait_until(check, 40, interval=2, what=f"qacct to know {sorted(missing)}")
    print("\nDRMAA backend timings:")
    for name, seconds in TIMINGS.items():
        print(f"  {name}: {seconds:.2f}")


# --------------------------------------------------------------------------- without SGE


def test_no_drmaa_library_stops_the_server_with_a_clear_message(tmp_path):
    live = LiveServer(
        tmp_path,
        SCHEDULER,
        env={"DRMAA_LIBRARY_PATH": "/nonexistent/libdrmaa.so", "SGE_ROOT": "/nonexistent"},
    )
    code, log = live.run_until_exit(60)
    assert code != 0
    assert "jupyter-wps cannot start" in log, log[-3000:]
    if importlib.util.find_spec("drmaa") is None:
        assert "pip install" in log, log[-3000:]
    else:
        assert "DRMAA_LIBRARY_PATH=/nonexistent/libdrmaa.so" in log, log[-3000:]
        assert "SGE_ROOT" in log, log[-3000:]


def config(**values) -> Config:
    return Config(mode="scheduler", backend="drmaa", source="pywps.cfg", **values)


def test_drm_family():
    assert drm_family("SGE 8.1.9", "SGE 8.1.9") == GRID_ENGINE
    assert drm_family("UGE 8.6.4", "UGE 8.6.4") == GRID_ENGINE
    assert drm_family("OGS/GE 2011.11p1", "") == GRID_ENGINE
    assert drm_family("Torque 6.1.2", "PBS DRMAA v. 1.0.19") == PBS
    assert drm_family("PBS Professional 19", "") == PBS
    assert drm_family("SLURM 22.05", "PSNC DRMAA for Slurm 1.1.4") == SLURM
    assert drm_family("IBM Spectrum LSF 10.1", "FedStage DRMAA for LSF") is None


def spec(settings: Config, family: str | None) -> str:
    """The native specification of a job with the operator's resources."""
    return native_specification(settings, family, default_resources(settings))


def test_native_specification_per_drm():
    resources = config(queue="short", account="proj1", walltime="1-02:30:00", memory="8GB", cores=4)
    assert spec(resources, GRID_ENGINE) == (
        "-q short -P proj1 -l h_rt=26:30:00 -l h_vmem=2G -pe smp 4"
    )
    assert spec(resources, PBS) == (
        "-q short -A proj1 -l walltime=26:30:00 -l mem=8gb -l nodes=1:ppn=4"
    )
    assert spec(resources.replace(qos="debug"), SLURM) == (
        "--partition=short --account=proj1 --qos=debug --time=1-02:30:00 --mem=8G --cpus-per-task=4"
    )
    # the operator's own specification comes last (it wins), and alone without resources
    assert spec(config(drmaa_native_specification="-l gpu=1"), None) == "-l gpu=1"
    assert (
        spec(config(walltime="90", drmaa_native_specification="-R y"), GRID_ENGINE)
        == "-l h_rt=1:30:00 -R y"
    )
    with pytest.raises(ConfigError, match="qos"):
        spec(config(qos="high"), GRID_ENGINE)
    with pytest.raises(ConfigError, match="drmaa_native_specification"):
        spec(config(queue="short"), None)
    with pytest.raises(ConfigError, match="memory"):
        spec(config(memory="lots"), GRID_ENGINE)


def test_sizes_and_times():
    assert walltime_seconds("90") == 5400
    assert walltime_seconds("00:00:30") == 30
    assert walltime_seconds("2-00:00:00") == 172800
    assert memory_bytes("1.5g") == 1536 * 1024**2
    assert memory_units(memory_bytes("1.5G")) == (1536, "M")
    assert memory_units(memory_bytes("4 GiB")) == (4, "G")
    assert memory_units(1000) == (1, "K")


#: a prologue with what shells and Grid Engine make hard: lines, quotes, backslashes, %
TRICKY_PROLOGUE = r"""# set up
if true; then
  export A='x y'  # a comment
fi
B="it's $(echo nested) \\ 100% \n"
export B
echo prologue ran
"""


def test_prologue_wraps_the_command():
    command = ["/usr/bin/python3", "-m", "jupyter_wps.launcher", "/w/job dir"]
    assert with_prologue(command, "  ") == command
    wrapped = with_prologue(command, TRICKY_PROLOGUE)
    assert wrapped[:2] == ["/bin/sh", "-c"] and wrapped[3:] == command
    assert not any("\n" in arg for arg in wrapped), "Grid Engine cuts arguments at newlines"
    probe = ["/bin/sh", "-c", 'printf "%s|%s|%s|%s" "$A" "$B" "$0" "$1"', "zero", "one two"]
    result = subprocess.run(with_prologue(probe, TRICKY_PROLOGUE), capture_output=True, text=True)
    direct = subprocess.run(
        ["/bin/sh", "-c", TRICKY_PROLOGUE + 'printf "%s|%s|%s|%s" "$A" "$B" zero "one two"'],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == direct.stdout
    assert result.stdout.startswith("prologue ran\nx y|it's nested ")


QACCT_KILLED = """==============================================================
qname        all.q
jobnumber    16
start_time   Wed Nov 25 00:40:21 2026
failed       100 : assumedly after job
exit_status  137                  (Killed)
"""
QACCT_NEVER_RAN = """==============================================================
jobnumber    17
start_time   -/-
failed       27  : searching requested shell
exit_status  0
"""
QACCT_OK = """==============================================================
jobnumber    20
failed       0
exit_status  3
"""


def test_accounting_records():
    killed = accounting_state("16", parse_qacct(QACCT_KILLED))
    assert killed.state == FINISHED and killed.exit_code == 137
    assert "qdel" in killed.reason and "SIGKILL" in killed.reason
    never = accounting_state("17", parse_qacct(QACCT_NEVER_RAN))
    assert "searching requested shell" in never.reason and "never started" in never.reason
    ended = accounting_state("20", parse_qacct(QACCT_OK))
    assert ended.exit_code == 3 and "exit status 3" in ended.reason
