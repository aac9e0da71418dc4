"""The Slurm backend against a real single-node Slurm (``tests/cluster.py``).

Live servers run ``[processing] mode = scheduler, backend = slurm``: every async
execute is an ``sbatch`` job whose launcher writes the status documents. The node has
2 cores and ``OverSubscribe=FORCE:4`` (8 one-core jobs at once; more pend).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import cluster
import pytest
import requests
from live import (
    NS,
    LiveServer,
    execute,
    final_status,
    job,
    record,
    submit,
    wait_until,
)
from lxml import etree
from schema import assert_valid

from jupyter_wps.backends import (
    FINISHED,
    QUEUED,
    RUNNING,
    UNKNOWN,
    SubmitLater,
    default_resources,
)
from jupyter_wps.backends.slurm import (
    JobCompIndex,
    SlurmBackend,
    SlurmCommandError,
    finished_reason,
)
from jupyter_wps.config import load_config

TESTS = Path(__file__).resolve().parent
SCHEDULER = "[processing]\nmode = scheduler\nbackend = slurm\npoll_interval = 0.5\n"

slurm = pytest.mark.slurm


# ---------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def slurm_env() -> dict[str, str]:
    return cluster.require_slurm()


def slurm_command(slurm_env: dict[str, str], *argv: str, check: bool = True) -> str:
    result = subprocess.run(
        argv,
        env={**os.environ, **slurm_env},
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        cwd="/",
    )
    assert not check or result.returncode == 0, f"{argv}: {result.stderr}"
    return result.stdout


def squeue_ids(slurm_env: dict[str, str]) -> dict[str, str]:
    """Our pending and running Slurm jobs: id -> state."""
    out = slurm_command(slurm_env, "squeue", "-h", f"-u{os.getuid()}", "-o", "%i|%T")
    return dict(line.split("|", 1) for line in out.split())


def native_id(server: LiveServer, job_id: str) -> str:
    return wait_until(lambda: record(server, job_id).get("native_id"), 30, what="a native id")


def dismiss_wps(server: LiveServer, job_id: str) -> None:
    reply = requests.get(
        server.wps_url,
        headers=server.headers,
        timeout=30,
        params={"service": "WPS", "version": "2.0.0", "request": "Dismiss", "jobId": job_id},
    )
    assert reply.status_code == 200, reply.text
    assert_valid(reply.content)


def delete(server: LiveServer, job_id: str) -> None:
    reply = requests.delete(
        f"{server.wps_url}/api/jobs/{job_id}", headers=server.headers, timeout=30
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "dismissed"


def make_server(root: Path, slurm_env: dict[str, str], extra: str = "", **env: str) -> LiveServer:
    return LiveServer(root, SCHEDULER + extra, env={**slurm_env, **env})


@pytest.fixture(scope="module")
def server(slurm_env, tmp_path_factory):
    """A server whose own environment holds a hub token (that no job may see)."""
    live = make_server(
        tmp_path_factory.mktemp("slurm-server"),
        slurm_env,
        "processes = failing_processes:PROCESSES\nwalltime = 00:30:00\n"
        "allowed_overrides = walltime memory\n",
        JUPYTERHUB_API_TOKEN="secret-hub-token",
    )
    yield live.start()
    live.stop()
    # leave no job of ours behind on the shared node
    for native in (
        record(live, j.name).get("native_id") for j in live.workdir.iterdir() if j.is_dir()
    ):
        if native:
            slurm_command(slurm_env, "scancel", native, check=False)


# ---------------------------------------------------------------------- (a) the demo processes


DEMO = {
    "say_hello": ("name=Slurm", {"output": "Hello Slurm"}, False),
    "sleep": ("seconds=3", {"output": "Slept for 3.0 seconds"}, True),
    "echo": ("literal=through sbatch", {"literal": "through sbatch"}, False),
    "ultimate_question": ("", {"output": "42"}, True),
}


@slurm
def test_demo_processes_run_as_slurm_jobs(server, slurm_env):
    started = time.monotonic()
    jobs = {name: submit(server, name, inputs) for name, (inputs, _, _) in DEMO.items()}
    seen: dict[str, list[tuple[str, int | None]]] = {name: [] for name in jobs}
    done: dict[str, float] = {}
    while len(done) < len(jobs):
        assert time.monotonic() - started < 60, f"not all done: {seen}"
        for name, job_id in jobs.items():
            if name in done:
                continue
            reply = requests.get(
                f"{server.wps_url}/status/{job_id}.xml", headers=server.headers, timeout=10
            )
            assert reply.status_code == 200, reply.text
            assert_valid(reply.content)
            status = etree.fromstring(reply.content).find("wps:Status", NS)[0]
            state = etree.QName(status).localname
            percent = status.get("percentCompleted")
            if not seen[name] or seen[name][-1] != (state, percent):
                seen[name].append((state, percent))
            if state in ("ProcessSucceeded", "ProcessFailed"):
                done[name] = time.monotonic() - started
                doc = etree.fromstring(reply.content)
                assert state == "ProcessSucceeded", reply.text
                outputs = {
                    o.findtext("ows:Identifier", namespaces=NS): o.findtext(
                        ".//wps:LiteralData", namespaces=NS
                    )
                    for o in doc.iterfind("wps:ProcessOutputs/wps:Output", NS)
                }
                for key, value in DEMO[name][1].items():
                    assert outputs.get(key) == value, outputs
        time.sleep(0.05)

    for name, job_id in jobs.items():
        states = [state for state, _ in seen[name]]
        assert states[0] in ("ProcessAccepted", "ProcessStarted"), seen[name]
        assert states[-1] == "ProcessSucceeded"
        assert states == sorted(
            states, key=["ProcessAccepted", "ProcessStarted", "ProcessSucceeded"].index
        )
        if DEMO[name][2]:  # progress reported while running
            percents = [int(p) for state, p in seen[name] if state == "ProcessStarted" and p]
            assert len(percents) >= 2 and percents == sorted(percents), seen[name]
        native = record(server, job_id)["native_id"]
        assert native.isdigit()
        shown = slurm_command(slurm_env, "scontrol", "-o", "show", "job", native)
        assert f"JobId={native} " in shown and f"JobName=wps-{job_id[:8]}" in shown
        assert "JobState=COMPLETED" in shown or "JobState=COMPLETING" in shown, shown
        assert f"WorkDir={server.workdir / job_id}" in shown
        assert job(server, job_id)["status"] == "successful"
    print(f"\nsubmit -> ProcessSucceeded through Slurm: {done}")

    # a synchronous execute runs through Slurm as well
    began = time.monotonic()
    doc = execute(server, "say_hello", "name=sync", sync=True)
    assert doc.find("wps:Status/wps:ProcessSucceeded", NS) is not None
    assert doc.findtext(".//wps:LiteralData", namespaces=NS) == "Hello sync"
    print(f"sync say_hello through Slurm: {time.monotonic() - began:.2f} s")


# ---------------------------------------------------------------------- (b) dismiss


@slurm
def test_dismiss_running_and_pending_jobs(slurm_env, tmp_path):
    # jobs of all the node's cores: OverSubscribe=FORCE:4 runs 4 of them at once, others pend
    cpus = int(slurm_command(slurm_env, "sinfo", "-h", "-p", "debug", "-o", "%c").split()[0])
    live = make_server(tmp_path, slurm_env, f"cores = {cpus}\n").start()
    jobs = [submit(live, "sleep", "seconds=60") for _ in range(6)]
    try:
        natives = {job_id: native_id(live, job_id) for job_id in jobs}

        def split():
            listed = squeue_ids(slurm_env)
            pending = [j for j in jobs if listed.get(natives[j]) == "PENDING"]
            running = [j for j in jobs if job(live, j)["status"] == "running"]
            return (pending, running) if pending and len(running) >= 2 else None

        pending, running = wait_until(split, 30, 0.2, "running and pending jobs")
        dismissed = {"pending (WPS Dismiss)": pending[0]}
        dismiss_wps(live, pending[0])
        dismissed["running (WPS Dismiss)"] = running[0]
        dismiss_wps(live, running[0])
        dismissed["running (DELETE)"] = running[1]
        delete(live, running[1])
        began = time.monotonic()
        for how, job_id in dismissed.items():
            assert final_status(live, job_id, 10)["status"] == "dismissed", how
            wait_until(
                lambda j=job_id: natives[j] not in squeue_ids(slurm_env),
                10,
                what=f"squeue to drop the {how} job",
            )
        print(f"\ndismissed jobs gone from squeue within {time.monotonic() - began:.2f} s")
        doc = requests.get(
            f"{live.wps_url}/status/{running[0]}.xml", headers=live.headers, timeout=10
        )
        assert_valid(doc.content)
        assert etree.fromstring(doc.content).find("wps:Status/wps:ProcessFailed", NS) is not None
        assert record(live, pending[0]).get("started") is None
        others = [j for j in jobs if j not in dismissed.values()]
        assert all(job(live, j)["status"] in ("accepted", "running") for j in others)
        for job_id in others:
            delete(live, job_id)
        wait_until(lambda: not set(natives.values()) & set(squeue_ids(slurm_env)), 15)
    finally:
        live.stop()
        for job_id in jobs:
            native = record(live, job_id).get("native_id")
            if native:
                slurm_command(slurm_env, "scancel", native, check=False)


# ---------------------------------------------------------------------- (c) reconciliation


@slurm
def test_scancel_from_a_shell_fails_the_job(server, slurm_env):
    job_id = submit(server, "sleep", "seconds=60")
    wait_until(lambda: job(server, job_id)["status"] == "running", 30, what="the job to run")
    native = record(server, job_id)["native_id"]
    began = time.monotonic()
    slurm_command(slurm_env, "scancel", native)
    final = final_status(server, job_id, 10)
    print(f"\nscancel -> ProcessFailed: {time.monotonic() - began:.2f} s")
    assert final["status"] == "failed", final
    message = final["message"]
    assert f"Slurm job {native} was cancelled" in message, message
    assert "launcher.log:" in message and "CANCELLED" in message, message  # slurmstepd's line
    doc = requests.get(f"{server.wps_url}/status/{job_id}.xml", headers=server.headers, timeout=10)
    assert_valid(doc.content)
    failed = etree.fromstring(doc.content).find("wps:Status/wps:ProcessFailed", NS)
    assert failed is not None
    assert "cancelled" in etree.tostring(failed, encoding="unicode")


@slurm
def test_a_missing_python_fails_the_job(slurm_env, tmp_path):
    live = make_server(tmp_path, slurm_env, "python = /nonexistent/python3\n").start()
    try:
        began = time.monotonic()
        job_id = submit(live, "say_hello", "name=nobody")
        final = final_status(live, job_id, 20)
        print(f"\nmissing python -> ProcessFailed: {time.monotonic() - began:.2f} s")
        assert final["status"] == "failed", final
        assert "exit code 127" in final["message"], final["message"]
        assert "/nonexistent/python3" in final["message"], final["message"]  # the shell said so
        doc = requests.get(f"{live.wps_url}/status/{job_id}.xml", headers=live.headers, timeout=10)
        assert_valid(doc.content)
    finally:
        live.stop()


# ---------------------------------------------------------------------- (d) restart


@slurm
def test_server_killed_and_restarted_with_jobs_on_slurm(slurm_env, tmp_path):
    live = make_server(tmp_path, slurm_env).start()
    try:
        jobs = [submit(live, "sleep", "seconds=5") for _ in range(10)]
        natives = {job_id: native_id(live, job_id) for job_id in jobs}
        wait_until(
            lambda: any(job(live, j)["status"] == "running" for j in jobs), 30, what="a job to run"
        )
        live.stop(kill=True)  # as if the server's allocation ended
        states = squeue_ids(slurm_env)
        assert any(states.get(n) in ("PENDING", "RUNNING") for n in natives.values()), states
        live.start()
        began = time.monotonic()
        for job_id in jobs:
            assert final_status(live, job_id, 60)["status"] == "successful", job(live, job_id)
        print(f"\nafter the restart all 10 done in {time.monotonic() - began:.2f} s")
        for job_id in jobs:  # adopted, not submitted again
            assert record(live, job_id)["native_id"] == natives[job_id]
            assert (live.workdir / job_id / "job.sh").stat().st_mode & 0o777 == 0o700

        other = submit(live, "sleep", "seconds=60")
        wait_until(lambda: job(live, other)["status"] == "running", 30, what="the job to run")
        delete(live, other)
        assert final_status(live, other, 10)["status"] == "dismissed"
        native = record(live, other)["native_id"]
        wait_until(lambda: native not in squeue_ids(slurm_env), 10, what="scancel")
    finally:
        live.stop()


# ---------------------------------------------------------------------- (e) environment


@slurm
def test_jobs_never_see_the_servers_credentials(server, slurm_env):
    assert server.process is not None
    server_env = Path(f"/proc/{server.process.pid}/environ").read_bytes()
    assert b"JUPYTERHUB_API_TOKEN=secret-hub-token" in server_env  # the test means something

    # resources: the operator's walltime, the request's memory (allowed per request)
    job_id = submit(server, "env_dump", memory="1.5G")
    assert final_status(server, job_id, 30)["status"] == "successful"
    shown = slurm_command(
        slurm_env, "scontrol", "-o", "show", "job", record(server, job_id)["native_id"]
    )
    assert "TimeLimit=00:30:00" in shown and "MinMemoryNode=1.50G" in shown, shown
    assert "--mem=1536M" in (server.workdir / job_id / "job.sh").read_text()
    reply = requests.get(
        f"{server.wps_url}/api/jobs/{job_id}/results", headers=server.headers, timeout=10
    )
    environ = json.loads(reply.json()["output"])
    assert "JUPYTERHUB_API_TOKEN" not in environ
    assert "secret-hub-token" not in json.dumps(environ)
    assert environ["SLURM_JOB_ID"] == record(server, job_id)["native_id"]
    assert str(TESTS) in environ["PYTHONPATH"].split(os.pathsep)  # export_environment
    assert environ["PWD"] == str(server.workdir / job_id)  # the job ran in its directory

    script = server.workdir / job_id / "job.sh"
    assert script.stat().st_mode & 0o777 == 0o700
    text = script.read_text()
    assert "#SBATCH --export=NONE" in text and "secret-hub-token" not in text
    assert "#SBATCH --no-requeue" in text  # accepted by sbatch: the job ran


@slurm
def test_a_failing_process_reports_its_error(server, slurm_env):
    job_id = submit(server, "fail")
    final = final_status(server, job_id, 60)
    assert final["status"] == "failed" and "boom" in final["message"], final
    assert record(server, job_id)["native_id"]  # it ran as a Slurm job


# ---------------------------------------------------------------------- (f) no usable Slurm


@slurm
def test_server_refuses_to_start_without_usable_slurm(slurm_env, tmp_path):
    no_commands = make_server(tmp_path / "path", slurm_env, PATH=os.path.dirname(sys.executable))
    code, text = no_commands.run_until_exit(60)
    assert code != 0 and "the command sbatch is not on the server's PATH" in text, text

    bad_partition = make_server(tmp_path / "partition", slurm_env, "queue = nosuchpartition\n")
    code, text = bad_partition.run_until_exit(60)
    assert code != 0 and "partition 'nosuchpartition'" in text and "not found" in text, text


# ---------------------------------------------------------------------- the backend directly


@slurm
async def test_states_asks_the_completion_log_for_forgotten_jobs(slurm_env, tmp_path, monkeypatch):
    for key, value in slurm_env.items():
        monkeypatch.setenv(key, value)
    backend = SlurmBackend(load_config(None), lambda *args: None)
    assert backend.jobcomp is not None  # JobCompType=jobcomp/filetxt here
    uid = os.getuid()
    log = tmp_path / "jobcomp.log"
    line = (
        "JobId={id} UserId=me({uid}) GroupId=me(0) Name=wps-x JobState={state} Partition=debug "
        "WorkDir=/a b DerivedExitCode=0:0 ExitCode={code}\n"
    )
    log.write_text(line.format(id=999001, uid=uid, state="TIMEOUT", code="0:15"))
    backend.jobcomp = JobCompIndex(str(log), uid)
    states = await backend.states(["999001", "999002"])
    assert states["999001"].state == FINISHED
    assert "walltime exceeded" in states["999001"].reason
    assert states["999002"].state == UNKNOWN
    with log.open("a") as stream:  # appended later: read from where the last read stopped
        stream.write(line.format(id=999002, uid=uid, state="OUT_OF_MEMORY", code="0:9"))
        stream.write(line.format(id=999003, uid=uid + 1, state="COMPLETED", code="0:0"))
        stream.write("JobId=999004 UserId=me(")  # being written
    states = await backend.states(["999002", "999003", "999004"])
    assert states["999002"].state == FINISHED and "out of memory" in states["999002"].reason
    assert states["999003"].state == UNKNOWN  # another user's job
    assert states["999004"].state == UNKNOWN
    assert backend.jobcomp.offset == log.stat().st_size - len("JobId=999004 UserId=me(")

    # a job squeue lists, by its state
    sleeper = slurm_command(
        slurm_env, "sbatch", "--parsable", "-o", "/dev/null", "--wrap", "sleep 30"
    ).strip()
    try:
        states = await backend.states([sleeper])
        assert states[sleeper].state in (QUEUED, RUNNING)
        await backend.cancel(sleeper)
        await backend.cancel(sleeper)  # already gone: no error

        def cancelled():
            return slurm_command(slurm_env, "squeue", "-h", "-t", "all", "-j", sleeper, "-o", "%T")

        wait_until(lambda: cancelled().strip() == "CANCELLED", 10, what="CANCELLED")
        states = await backend.states([sleeper])
        assert states[sleeper].state == FINISHED
        assert (
            states[sleeper].reason
            == f"Slurm job {sleeper} was cancelled by the scheduler (scancel)"
        )
    finally:
        slurm_command(slurm_env, "scancel", sleeper, check=False)


def fake_command(path: Path, script: str) -> str:
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return str(path)


@slurm
async def test_submit_defers_on_limits_and_never_submits_twice(slurm_env, tmp_path, monkeypatch):
    for key, value in slurm_env.items():
        monkeypatch.setenv(key, value)
    workdir = tmp_path / "work"
    workdir.mkdir(mode=0o700)
    backend = SlurmBackend(load_config(None).replace(workdir=str(workdir)), lambda *args: None)
    job_id = str(uuid.uuid4())
    jobdir = workdir / job_id
    jobdir.mkdir(mode=0o700)
    sbatch = backend.commands["sbatch"]
    backend.commands["sbatch"] = fake_command(
        tmp_path / "sbatch-limit",
        "echo 'sbatch: error: Batch job submission failed: Job violates accounting/QOS policy "
        "(job submit limit, user'\\''s size and/or time limits)' >&2; exit 1\n",
    )
    with pytest.raises(SubmitLater, match="job submit limit"):
        await backend.submit(job_id, jobdir, None, {})
    assert (jobdir / "job.sh").exists()
    assert await backend.find(job_id) is None  # not on Slurm

    backend.commands["sbatch"] = sbatch  # job.sh exists: looked up, not found, submitted
    native = await backend.submit(job_id, jobdir, None, {})
    try:
        assert native.isdigit()
        assert await backend.find(job_id) == native
        backend.commands["sbatch"] = "/bin/false"  # a second submission would fail
        assert await backend.submit(job_id, jobdir, None, {}) == native

        backend.commands["sbatch"] = fake_command(
            tmp_path / "sbatch-refuses",
            "echo 'sbatch: error: invalid partition specified: nope' >&2; exit 1\n",
        )
        other = workdir / str(uuid.uuid4())
        other.mkdir(mode=0o700)
        with pytest.raises(SlurmCommandError, match="invalid partition specified"):
            await backend.submit(other.name, other, None, {})

        # a failed or slow query raises (the manager then changes nothing)
        backend.commands["squeue"] = "/bin/false"
        with pytest.raises(SlurmCommandError, match="squeue failed"):
            await backend.states([native])
        assert await backend.find(job_id) is None  # cannot tell: submit() looks again
        with pytest.raises(SubmitLater):  # and never submits while it cannot tell
            await backend.submit(job_id, jobdir, None, {})
        backend.commands["squeue"] = fake_command(tmp_path / "squeue-slow", "sleep 10\n")
        backend.command_timeout = 0.5
        began = time.monotonic()
        with pytest.raises(SlurmCommandError, match="did not answer in 0.5 s"):
            await backend.states([native])
        assert time.monotonic() - began < 3
    finally:
        slurm_command(slurm_env, "scancel", native, check=False)


def test_job_script_quotes_everything(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "secret")
    monkeypatch.setenv("ODD", "it's $HOME `x`")
    config = load_config(None).replace(
        export_environment=("ODD", "JUPYTERHUB_API_TOKEN"),
        environment=(("GREETING", "a b;c"),),
        queue="debug",
        walltime="00:10:00",
        memory="1G",
        cores=2,
        prologue="echo prologue",
    )
    backend = SlurmBackend.__new__(SlurmBackend)  # no Slurm needed to write a script
    backend.config = config
    jobdir = tmp_path / "with space %j"
    script = backend.job_script("0123456789abcdef", jobdir, None, default_resources(config))
    assert "JUPYTERHUB_API_TOKEN" not in script and "secret" not in script
    assert f'#SBATCH --output="{str(jobdir).replace("%", "%%")}/launcher.log"' in script
    for option in ("--partition=debug", "--time=00:10:00", "--mem=1G", "--cpus-per-task=2"):
        assert f"#SBATCH {option}" in script
    out = subprocess.run(
        ["sh", "-c", script.replace("exec ", "echo ") + "env"],
        capture_output=True,
        text=True,
        env={},
        check=True,
    ).stdout
    assert "ODD=it's $HOME `x`" in out and "GREETING=a b;c" in out
    assert out.splitlines()[0] == "prologue"
    assert f"-m jupyter_wps.launcher {jobdir}" in out

    # the job's own resources (resolved into its job.json by the server) are what counts
    options = backend.sbatch_options(
        "0123456789abcdef", jobdir, {"queue": "long", "memory": "1.5G", "cores": 4}
    )
    assert {"--partition=long", "--mem=1536M", "--cpus-per-task=4"} <= set(options)
    assert not any(o.startswith("--time") for o in options)


def test_finished_reasons():
    assert finished_reason("7", "FAILED", 2, None) == "Slurm job 7 ended (FAILED) with exit code 2"
    assert "signal 9" in finished_reason("7", "FAILED", None, 9)
    assert "NODE_FAIL" in finished_reason("7", "NODE_FAIL", None, None)
