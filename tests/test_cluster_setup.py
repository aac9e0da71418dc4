"""The real single-node schedulers of the test suite come up and run jobs.

SGE through the ``drmaa`` Python package (as the DRMAA backend uses it), Slurm
through its commands. Markers: ``sge``, ``slurm``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cluster
import pytest
import users


@pytest.fixture(scope="module")
def sge_env() -> dict[str, str]:
    return cluster.require_sge()


@pytest.fixture(scope="module")
def slurm_env() -> dict[str, str]:
    return cluster.require_slurm()


def run(argv: list[str], env: dict[str, str], timeout: float = 60) -> str:
    result = subprocess.run(
        argv,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd="/tmp",
    )
    assert result.returncode == 0, f"{argv}: exit {result.returncode}\n{result.stderr}"
    return result.stdout


def wait_until(check, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def shared_dir():
    """A directory under /tmp that the jobs of a non-root user can write."""
    path = Path(tempfile.mkdtemp(prefix="jupyter-wps-cluster-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- SGE

# Runs in a fresh process: DRMAA needs its variables in the environment at start.
DRMAA_JOB = r"""
import json, subprocess, sys, time
import drmaa

mode = sys.argv[1]
with drmaa.Session() as session:
    jt = session.createJobTemplate()
    jt.remoteCommand = "/bin/sleep"
    jt.args = ["1" if mode == "sleep" else "120"]
    jt.outputPath = ":/dev/null"
    jt.joinFiles = True
    job = session.runJob(jt)
    session.deleteJobTemplate(jt)
    started = time.monotonic()
    if mode == "qdel":
        deadline = time.monotonic() + 60
        while session.jobStatus(job) != drmaa.JobState.RUNNING:
            assert time.monotonic() < deadline, "the job never ran"
            time.sleep(0.1)
        # a qdel in the first second of a job reaches it only ~10 s later (SGE
        # resends the signal); a second later it takes effect at once
        time.sleep(2)
        started = time.monotonic()
        subprocess.run(["qdel", job], check=True, capture_output=True)
    info = session.wait(job, 60)
    print(json.dumps({
        "job": job,
        "seconds": time.monotonic() - started,
        "hasExited": info.hasExited,
        "exitStatus": info.exitStatus,
        "wasAborted": info.wasAborted,
        "hasSignal": info.hasSignal,
    }))
"""


def drmaa_job(env: dict[str, str], mode: str) -> dict:
    return json.loads(run([sys.executable, "-c", DRMAA_JOB, mode], env, timeout=120))


@pytest.mark.sge
def test_sge_env(sge_env):
    assert sge_env["SGE_ROOT"] and Path(sge_env["SGE_ROOT"], sge_env["SGE_CELL"]).is_dir()
    assert Path(sge_env["DRMAA_LIBRARY_PATH"]).is_file()
    assert "glibc.rtld.optional_static_tls=" in sge_env["GLIBC_TUNABLES"]


@pytest.mark.sge
def test_sge_drmaa_job_exits_0(sge_env):
    result = drmaa_job(sge_env, "sleep")
    assert result["hasExited"] and result["exitStatus"] == 0, result
    assert not result["wasAborted"], result
    assert result["seconds"] < 30, result


@pytest.mark.sge
def test_sge_qdel_of_running_job_is_aborted(sge_env):
    result = drmaa_job(sge_env, "qdel")
    assert result["wasAborted"], result
    assert result["seconds"] < 15, result  # from the qdel


@pytest.mark.sge
def test_sge_job_runs_as_submitting_user(sge_env, shared_dir):
    alice, _ = users.users()
    out = shared_dir / "whoami.out"
    env = users.clean_env(alice, **sge_env)
    argv = ["qsub", "-b", "y", "-sync", "y", "-j", "y", "-o", str(out), "/usr/bin/id", "-un"]
    result = users.run_as(alice, argv, env=env, cwd=shared_dir, timeout=60)
    assert result.returncode == 0, result.stderr
    assert out.read_text().strip() == alice.name


# --------------------------------------------------------------------------- Slurm


def slurm_job(env: dict[str, str], job: str) -> dict[str, str]:
    """``scontrol show job`` as a dict (finished jobs stay there for MinJobAge)."""
    line = run(["scontrol", "-o", "show", "job", job], env).strip()
    return dict(word.split("=", 1) for word in line.split() if "=" in word)


def sbatch(env: dict[str, str], command: str) -> str:
    out = run(
        ["sbatch", "--parsable", "-o", "/dev/null", "-e", "/dev/null", "--wrap", command], env
    )
    return out.strip().split(";")[0]


@pytest.mark.slurm
def test_slurm_env(slurm_env):
    assert Path(slurm_env["SLURM_CONF"]).is_file()


@pytest.mark.slurm
def test_slurm_job_completes(slurm_env):
    started = time.monotonic()
    job = sbatch(slurm_env, "sleep 1")
    wait_until(
        lambda: not run(["squeue", "-h", "-j", job, "-o", "%T"], slurm_env).strip(),
        30,
        f"job {job} to leave the queue",
    )
    info = slurm_job(slurm_env, job)
    assert info["JobState"] == "COMPLETED", info
    assert info["ExitCode"] == "0:0", info
    assert time.monotonic() - started < 30


@pytest.mark.slurm
def test_slurm_scancel_of_running_job(slurm_env):
    job = sbatch(slurm_env, "sleep 120")
    try:
        wait_until(lambda: slurm_job(slurm_env, job)["JobState"] == "RUNNING", 30, "RUNNING")
        run(["scancel", job], slurm_env)
        wait_until(
            lambda: slurm_job(slurm_env, job)["JobState"] == "CANCELLED", 15, f"{job} CANCELLED"
        )
    finally:
        subprocess.run(["scancel", job], env={**os.environ, **slurm_env}, capture_output=True)


@pytest.mark.slurm
def test_slurm_job_runs_as_submitting_user(slurm_env, shared_dir):
    alice, _ = users.users()
    out = shared_dir / "whoami.out"
    env = users.clean_env(alice, **slurm_env)
    argv = ["sbatch", "--parsable", "-o", str(out), "--wrap", "id -un"]
    result = users.run_as(alice, argv, env=env, cwd=shared_dir, timeout=60)
    assert result.returncode == 0, result.stderr
    job = result.stdout.strip().split(";")[0]
    wait_until(lambda: slurm_job(slurm_env, job)["JobState"] == "COMPLETED", 30, f"{job} COMPLETED")
    assert out.read_text().strip() == alice.name
