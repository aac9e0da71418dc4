"""Who can make a launcher load a job file: tested as two non-root users, never as root alone.

``job.dill`` is code: the launcher unpickles it as the job's owner. ``wpsalice``
runs launchers; ``wpsbob`` tries to make them load a file he planted. Every
planted payload would create a marker file when unpickled (the control test
shows it does), so "refused" also means "not unpickled". The job directories
are built the way the server builds them (``JobDir.create``, ``dump_payload``,
the record of ``JobManager.submit``), by a script run as their owner, and run
the way the local backend runs them (``launcher.log`` opened ``O_NOFOLLOW``,
``python -m jupyter_wps.launcher JOBDIR``).
"""

from __future__ import annotations

import functools
import json
import os
import platform
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import dill
import pytest
import users
from lxml import etree
from schema import assert_valid

from jupyter_wps.jobs import JobDir, JobPayload, JobRecord, dump_payload, now

NS = {"wps": "http://www.opengis.net/wps/1.0.0", "ows": "http://www.opengis.net/ows/1.1"}

#: Builds a job directory as the server does; run as the job's owner. argv[1]: JSON options.
BUILD = r"""
import json, os, sys
from pathlib import Path

import dill

from jupyter_wps.jobs import (
    BASE_URL_PLACEHOLDER, JobDir, JobPayload, JobRecord, atomic_write, dump_payload, now,
    runtime_versions,
)
from jupyter_wps.processes import say_hello
from jupyter_wps.wps.request import ResponseForm
from jupyter_wps.wps.response import Status, execute_response


class Plant:
    # what an attacker puts in job.dill: unpickling it runs code (here: creates a marker)
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.open, (self.marker, os.O_WRONLY | os.O_CREAT, 0o644))


options = json.loads(sys.argv[1])
jobdir = JobDir.create(Path(options["workdir"]), options.get("job_id"))
form = ResponseForm(store=True, status=True)
record = JobRecord(
    id=jobdir.job_id,
    process=say_hello.identifier,
    process_title=say_hello.title,
    owner=os.environ.get("USER", ""),
    created=now(),
    store=form.store,
    status=form.status,
    outputs_dir=str(jobdir.outputs_dir),
    runtime={**runtime_versions(), **options.get("runtime", {})},
)
dump_payload(
    jobdir,
    JobPayload(
        process_ref="jupyter_wps.processes:say_hello",
        process=None,
        inputs={"name": [options.get("name", "Alice")]},
        response=form,
    ),
)
if options.get("marker"):
    atomic_write(jobdir.job_file, dill.dumps(Plant(options["marker"])))
jobdir.write_record(record)
jobdir.write_status(
    execute_response(
        say_hello,
        Status("accepted", now(), "Process accepted"),
        service_instance=f"{BASE_URL_PLACEHOLDER}?service=WPS&request=GetCapabilities",
        status_location=f"{BASE_URL_PLACEHOLDER}/status/{jobdir.job_id}.xml",
    )
)
print(jobdir.path)
"""

#: Runs a launcher as the local backend does. argv[1]: the job directory.
LAUNCH = r"""
import os, subprocess, sys

jobdir = sys.argv[1]
try:
    log = os.open(
        os.path.join(jobdir, "launcher.log"),
        os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW,
        0o600,
    )
except OSError as exc:
    print(f"(no launcher.log: {exc}; the launcher's output follows)", file=sys.stderr, flush=True)
    log = None
code = subprocess.call(
    [sys.executable, "-m", "jupyter_wps.launcher", jobdir],
    stdin=subprocess.DEVNULL,
    stdout=log,
    stderr=subprocess.STDOUT if log is not None else None,
)
sys.exit(code)
"""

#: A payload that creates a marker file when unpickled (the attacker's job.dill).
PLANT = r"""
import os, sys

import dill


class Plant:
    def __reduce__(self):
        return (os.open, (sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644))


data = dill.dumps(Plant())
with open(sys.argv[2], "wb") as stream:  # truncates: the owner of an existing file stays
    stream.write(data)
"""

SYMLINK = "import os, sys; os.symlink(sys.argv[1], sys.argv[2])"


# --------------------------------------------------------------------------- who runs what


@dataclass
class Runner:
    """Runs Python as a test user, or (user None) as whoever runs the tests."""

    user: users.User | None
    python: users.UserPython | None

    @property
    def name(self) -> str:
        return self.user.name if self.user else "the test runner"

    def run(self, code: str, *args: str, umask: int = -1) -> subprocess.CompletedProcess[str]:
        if self.user is None:
            return subprocess.run(
                [sys.executable, "-c", code, *args],
                capture_output=True,
                text=True,
                timeout=120,
                umask=umask,
            )
        assert self.python is not None
        return users.python_as(self.user, self.python, code, *args, umask=umask)

    def ok(self, code: str, *args: str, umask: int = -1) -> str:
        result = self.run(code, *args, umask=umask)
        assert result.returncode == 0, f"as {self.name}: {result.stderr}{result.stdout}"
        return result.stdout

    def build_job(self, workdir: Path, umask: int = -1, **options: object) -> JobDir:
        out = self.ok(BUILD, json.dumps({"workdir": str(workdir), **options}), umask=umask)
        return JobDir(out.strip().splitlines()[-1])

    def launch(self, path: Path) -> Launch:
        result = self.run(LAUNCH, str(path))
        # read as the user would, through whatever links the path has
        log = (path / "launcher.log").read_text() if (path / "launcher.log").exists() else ""
        return Launch(result.returncode, log, result.stdout + result.stderr)

    def plant(self, marker: Path, target: Path) -> None:
        self.ok(PLANT, str(marker), str(target))


@dataclass
class Launch:
    code: int
    #: launcher.log (empty when the launcher could not create it)
    log: str
    #: what the launcher said where launcher.log could not be created
    output: str

    @property
    def said(self) -> str:
        return self.log + self.output


class Team:
    """wpsalice and wpsbob, made when a test first asks for them.

    They are made in the test's body, not in a fixture, so that without them
    the test is skipped, or under CI=true FAILS (a fixture would make it an error).
    """

    @functools.cached_property
    def _runners(self) -> tuple[Runner, Runner]:
        alice, bob = users.users()
        python = users.user_python()
        return Runner(alice, python), Runner(bob, python)

    @property
    def alice(self) -> Runner:
        return self._runners[0]

    @property
    def bob(self) -> Runner:
        return self._runners[1]


@pytest.fixture(scope="session")
def team():
    yield Team()
    users.cleanup()


class Area:
    """Directories on a filesystem both users see, like a cluster's scratch (made on first use).

    ``alice``: alice's workdir, hers, 0700 (as the server makes it); ``bob``: bob's own
    directory, readable by others; ``shared``: world-writable and sticky (/tmp, /scratch).
    """

    def __init__(self, team: Team) -> None:
        self.team = team
        self.base: Path | None = None

    @functools.cached_property
    def _paths(self) -> dict[str, Path]:
        owners = {"alice": self.team.alice.user, "bob": self.team.bob.user, "shared": None}
        self.base = Path(tempfile.mkdtemp(prefix="jupyter-wps-security-"))
        self.base.chmod(0o755)
        made = {}
        for name, mode in (("alice", 0o700), ("bob", 0o755), ("shared", 0o1777)):
            path = self.base / name
            path.mkdir()
            owner = owners[name]
            if owner is not None:
                os.chown(path, owner.uid, owner.gid)
            path.chmod(mode)
            made[name] = path
        return made

    alice = property(lambda self: self._paths["alice"])
    bob = property(lambda self: self._paths["bob"])
    shared = property(lambda self: self._paths["shared"])


@pytest.fixture
def area(team):
    made = Area(team)
    yield made
    if made.base is not None:
        shutil.rmtree(made.base, ignore_errors=True)


@pytest.fixture
def marker():
    """/tmp/<marker>: created only if a planted job.dill is unpickled."""
    path = Path(tempfile.gettempdir()) / f"jupyter-wps-marker-{secrets.token_hex(8)}"
    yield path
    path.unlink(missing_ok=True)


def status_of(jobdir: JobDir) -> tuple[str, str]:
    """The state element's name and the status's message (ExceptionText when failed)."""
    document = jobdir.read_status()
    assert document is not None, f"no status.xml in {jobdir.path}"
    assert_valid(document)
    root = etree.fromstring(document)
    state = root.find("wps:Status", NS)[0]
    text = root.findtext(".//ows:ExceptionText", namespaces=NS) or state.text or ""
    return etree.QName(state).localname, text


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def assert_refused(launch: Launch, marker: Path, *reasons: str) -> None:
    """The launcher refused before unpickling, and said why."""
    assert not marker.exists(), f"the planted job.dill was unpickled: {launch.said}"
    assert launch.code != 0, launch.said
    assert "the job cannot be loaded" in launch.said, launch.said
    for reason in reasons:
        assert reason in launch.said, launch.said


# --------------------------------------------------------------------------- modes


@pytest.mark.parametrize(
    "umask", [0o000, 0o002, 0o022, 0o027, 0o077, 0o277], ids=lambda u: f"umask{u:03o}"
)
def test_job_directory_modes_whatever_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        jobdir = JobDir.create(tmp_path)
        dump_payload(jobdir, JobPayload("jupyter_wps.processes:say_hello", None, {}, None))
        jobdir.write_record(JobRecord(jobdir.job_id, "say_hello", "alice", now()))
        jobdir.write_status(b"<status/>")
        jobdir.write_status(b"<status again/>")  # a replaced file keeps the mode
    finally:
        os.umask(old)
    assert mode_of(jobdir.path) == 0o700
    assert mode_of(jobdir.outputs_dir) == 0o700
    for path in (jobdir.job_file, jobdir.record_file, jobdir.status_file):
        assert mode_of(path) == 0o600, f"{path.name}: {mode_of(path):o} under umask {umask:o}"
    assert sorted(p.name for p in jobdir.path.iterdir()) == sorted(
        ["job.dill", "job.json", "status.xml", "outputs"]
    )


# --------------------------------------------------------------------------- alice's own jobs


def test_alice_runs_her_own_job(team, area):
    jobdir = team.alice.build_job(area.alice, umask=0, name="Alice")  # even under umask 0
    alice = team.alice.user
    for path in (jobdir.path, jobdir.outputs_dir, jobdir.job_file, jobdir.record_file):
        info = os.lstat(path)
        assert (info.st_uid, info.st_gid) == (alice.uid, alice.gid), path
    assert mode_of(jobdir.path) == 0o700
    assert mode_of(jobdir.outputs_dir) == 0o700
    for path in (jobdir.job_file, jobdir.record_file, jobdir.status_file):
        assert mode_of(path) == 0o600, path

    launch = team.alice.launch(jobdir.path)

    assert launch.code == 0, launch.said
    assert status_of(jobdir)[0] == "ProcessSucceeded"
    document = etree.fromstring(jobdir.read_status())
    assert document.findtext(".//wps:LiteralData", namespaces=NS) == "Hello Alice"
    assert os.lstat(jobdir.status_file).st_uid == alice.uid
    assert mode_of(jobdir.status_file) == 0o600
    assert mode_of(jobdir.log_file) == 0o600


def test_the_marker_payload_works(team, area, marker):
    """Control: alice's own, safe job.dill holding the payload is unpickled and makes the marker.

    So the tests below, where the marker is absent, show that nothing was unpickled.
    """
    jobdir = team.alice.build_job(area.alice, marker=str(marker))
    launch = team.alice.launch(jobdir.path)
    assert marker.exists(), launch.said
    assert os.lstat(marker).st_uid == team.alice.user.uid  # alice's launcher ran bob's code
    assert launch.code != 0  # what it unpickled is no job
    assert status_of(jobdir)[0] == "ProcessFailed"


# --------------------------------------------------------------------------- bob's plants


@pytest.mark.parametrize("bob_mode", [0o755, 0o777], ids=["bob-0755", "bob-0777"])
def test_bob_owned_job_in_bob_directory(team, area, marker, bob_mode):
    """(a) A job directory and job.dill of bob's, given to alice's launcher: refused.

    With 0755 alice's launcher cannot even write the status (non-zero exit, its
    message on stderr); with 0777 it writes ProcessFailed and launcher.log.
    """
    jobdir = team.bob.build_job(area.shared, name="Bob", marker=str(marker))
    jobdir.path.chmod(bob_mode)  # as root: bob could do this himself
    for path in (jobdir.record_file, jobdir.status_file, jobdir.job_file):
        path.chmod(0o644)  # bob lets alice read his job
    bob = team.bob.user

    launch = team.alice.launch(jobdir.path)

    assert_refused(launch, marker, f"belongs to uid {bob.uid}, not to this user")
    if bob_mode & stat.S_IWOTH:
        assert "the job cannot be loaded" in launch.log
        state, message = status_of(jobdir)
        assert state == "ProcessFailed"
        assert f"belongs to uid {bob.uid}" in message
    else:
        assert status_of(jobdir)[0] == "ProcessAccepted"  # alice could not write it


@pytest.mark.parametrize(
    "case",
    ["job.dill o+w", "job.dill g+w", "job dir o+w", "job dir g+w"],
)
def test_alice_job_writable_by_others(team, area, marker, case):
    """(b) alice's job, but group- or world-writable: bob writes his payload; refused."""
    alice, bob = team.alice.user, team.bob.user
    jobdir = team.alice.build_job(area.alice)
    area.alice.chmod(0o711)  # bob may traverse alice's workdir (not list or write it)
    team_gid = alice.team_gid
    where, _, bits = case.partition(" ")
    if where == "job.dill":
        if bits == "g+w":
            os.chown(jobdir.path, -1, team_gid)
            os.chown(jobdir.job_file, -1, team_gid)
            jobdir.path.chmod(0o710)
            jobdir.job_file.chmod(0o660)
        else:
            jobdir.path.chmod(0o711)
            jobdir.job_file.chmod(0o666)
        team.bob.plant(marker, jobdir.job_file)  # rewrites alice's file: it stays hers
        assert os.lstat(jobdir.job_file).st_uid == alice.uid
        reason = f"{jobdir.job_file} is writable by group or others"
    else:
        if bits == "g+w":
            os.chown(jobdir.path, -1, team_gid)
            jobdir.path.chmod(0o770)
        else:
            jobdir.path.chmod(0o777)
        team.bob.run(f"import os; os.unlink({str(jobdir.job_file)!r})")
        team.bob.plant(marker, jobdir.job_file)  # bob's own job.dill, in alice's directory
        assert os.lstat(jobdir.job_file).st_uid == bob.uid
        reason = f"job directory {jobdir.path} is writable by group or others"

    launch = team.alice.launch(jobdir.path)

    assert_refused(launch, marker, reason)
    state, message = status_of(jobdir)
    assert state == "ProcessFailed"
    assert reason in message
    assert "the job cannot be loaded" in launch.log


@pytest.mark.parametrize("target_owner", ["bob", "alice"])
def test_job_file_is_a_symlink(team, area, marker, target_owner):
    """(c) job.dill a symlink, to a bob-owned file (or even one of alice's): refused."""
    jobdir = team.alice.build_job(area.alice)
    if target_owner == "bob":
        target = area.bob / "payload.dill"
        team.bob.plant(marker, target)
    else:
        target = area.alice / "payload.dill"
        team.alice.plant(marker, target)
    planted = target.read_bytes()
    team.alice.ok(
        "import os, sys; os.unlink(sys.argv[2]); os.symlink(sys.argv[1], sys.argv[2])",
        str(target),
        str(jobdir.job_file),
    )

    launch = team.alice.launch(jobdir.path)

    assert_refused(launch, marker, f"cannot open {jobdir.job_file} without following links")
    assert status_of(jobdir)[0] == "ProcessFailed"
    assert target.read_bytes() == planted


@pytest.mark.parametrize("target_owner", ["bob", "alice"])
def test_job_directory_is_a_symlink(team, area, marker, target_owner):
    """(d) the job directory a symlink (to bob's job, or to alice's own): refused."""
    if target_owner == "bob":
        real = team.bob.build_job(area.bob, marker=str(marker))
        real.path.chmod(0o755)  # as root: bob lets alice read his job (he could himself)
        for path in (real.record_file, real.status_file, real.job_file):
            path.chmod(0o644)
        link = area.shared / real.job_id  # bob's link, where alice's jobs could be
        team.bob.ok(SYMLINK, str(real.path), str(link))
    else:
        real = team.alice.build_job(area.alice, marker=str(marker))
        link = area.alice / str(uuid.uuid4())  # another job id, leading to this job
        team.alice.ok(SYMLINK, str(real.path), str(link))

    launch = team.alice.launch(link)

    # nothing is read or written through the link
    assert_refused(launch, marker, "job.json is damaged: a symlink on its path (not followed)")
    if target_owner == "alice":
        assert status_of(real)[0] == "ProcessAccepted"


# --------------------------------------------------------------------------- runtime


@pytest.mark.parametrize(("key", "version"), [("python", "2.7.18"), ("dill", "0.2.9")])
def test_job_of_another_runtime_is_refused(tmp_path, marker, key, version):
    """A job written by another Python or dill: refused, before unpickling, naming both."""
    runner = Runner(None, None)  # the check is not about permissions: whoever runs the tests
    jobdir = runner.build_job(tmp_path, marker=str(marker), runtime={key: version})
    here = platform.python_version() if key == "python" else dill.__version__

    launch = runner.launch(jobdir.path)

    assert_refused(launch, marker, f"{key} {version}", f"{key} {here}")
    state, message = status_of(jobdir)
    assert state == "ProcessFailed"
    assert f"the job was written by {key} {version} but the launcher runs {key} {here}" in message
