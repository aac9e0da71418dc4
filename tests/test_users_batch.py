"""Batch jobs run as their users: two non-root users' Jupyter servers on a real scheduler.

``wpsalice`` and ``wpsbob`` (``tests/users.py``) each run a real ``jupyter server``
with the WPS in ``mode = scheduler`` (Grid Engine through DRMAA, or Slurm), as
themselves: their uid, gid and groups, a clean environment, the interpreter
:func:`users.user_python` gives. Tests run as root prove nothing about permissions,
so root here only sets up directories, reads files and asks the scheduler.

* Each user's async executes become batch jobs that run as that user: the process
  says so (``whoami``), the scheduler says so (``qstat``/``qacct`` owner, Slurm's
  ``UserId`` in ``scontrol`` and the jobcomp file), and the job directories are
  the user's, 0700.
* wpsbob cannot reach wpsalice's workdir (0700): not list it, not read or write a
  job file, not plant a directory; his own server pointed at it cannot start.
* wpsbob prepares the workdir wpsalice's server is configured with, in a sticky
  world-writable directory, before it exists, with a job directory of his whose
  ``job.dill`` would run code when unpickled, a job directory that is a symlink to
  one of his, and later swaps a job of hers for a symlink to his while it waits (at a
  gate in its prologue). Her launchers refuse every one, before unpickling, and say why.
* That her server runs at all on a workdir bob prepared is a bug of its own (his
  capability secret, his job records and status documents become hers to serve):
  :func:`test_a_workdir_another_user_prepared_is_refused`.

Every planted ``job.dill`` creates a marker file when unpickled (a control shows
that it does when alice loads it herself), so "refused" also means "not unpickled".
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import cluster
import pytest
import requests
import users
from live import free_port, submit, wait_until
from lxml import etree
from schema import assert_valid

TESTS = Path(__file__).resolve().parent
NS = {"wps": "http://www.opengis.net/wps/1.0.0", "ows": "http://www.opengis.net/ows/1.1"}
FINAL = ("successful", "failed", "dismissed")

SCHEDULERS = [
    pytest.param("sge", marks=pytest.mark.sge, id="sge"),
    pytest.param("slurm", marks=pytest.mark.slurm, id="slurm"),
]

#: Builds a job directory as the server does, run as its owner (the attacker). argv[1]: JSON.
#: Its job.dill creates the marker file when unpickled. Everything is left readable and
#: writable by others, so that the victim's launcher has every chance to use it.
PLANT_JOB = r"""
import json, os, sys
from pathlib import Path

import dill

from jupyter_wps.jobs import BASE_URL_PLACEHOLDER, JobDir, atomic_write, now, runtime_versions
from jupyter_wps.processes import say_hello
from jupyter_wps.wps.response import Status, execute_response


class Plant:
    def __reduce__(self):
        return (os.open, (options["marker"], os.O_WRONLY | os.O_CREAT, 0o644))


options = json.loads(sys.argv[1])
jobdir = JobDir.create(Path(options["workdir"]), options["job_id"])
atomic_write(jobdir.job_file, dill.dumps(Plant()), 0o644)
record = {
    "id": jobdir.job_id,
    "process": say_hello.identifier,
    "process_title": say_hello.title,
    "owner": options["owner"],
    "backend": options["backend"],
    "native_id": None,
    "created": now().isoformat(),
    "store": True,
    "status": True,
    "raw": False,
    "sync": False,
    "language": "en-US",
    "outputs_dir": str(jobdir.outputs_dir),
    "runtime": runtime_versions(),
    "resources": {},
}
atomic_write(jobdir.record_file, json.dumps(record).encode(), 0o666)
document = execute_response(
    say_hello,
    Status("accepted", now(), "Process accepted"),
    service_instance=f"{BASE_URL_PLACEHOLDER}?service=WPS&request=GetCapabilities",
    status_location=f"{BASE_URL_PLACEHOLDER}/status/{jobdir.job_id}.xml",
)
atomic_write(jobdir.status_file, document, 0o666)
for path in (jobdir.path, jobdir.outputs_dir):
    os.chmod(path, 0o777)
print(jobdir.path)
"""

#: What wpsbob tries on wpsalice's workdir and one of her job directories: errno names.
PROBE = r"""
import errno, json, os, sys

workdir, job_id, new_id = sys.argv[1:4]
jobdir = os.path.join(workdir, job_id)
results = {}


def attempt(name, action):
    try:
        action()
        results[name] = "ok"
    except OSError as exc:
        results[name] = errno.errorcode.get(exc.errno, str(exc.errno))


attempt("list the workdir", lambda: os.listdir(workdir))
attempt("list the job directory", lambda: os.listdir(jobdir))
attempt("read job.dill", lambda: open(os.path.join(jobdir, "job.dill"), "rb").read())
attempt("read job.json", lambda: open(os.path.join(jobdir, "job.json"), "rb").read())
attempt("rewrite job.dill", lambda: os.open(os.path.join(jobdir, "job.dill"), os.O_WRONLY))
attempt(
    "plant a file in the job directory",
    lambda: os.open(os.path.join(jobdir, "planted"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644),
)
attempt("plant a job directory", lambda: os.mkdir(os.path.join(workdir, new_id), 0o777))
attempt("plant a symlink", lambda: os.symlink("/tmp", os.path.join(workdir, new_id)))
attempt("move the workdir away", lambda: os.rename(workdir, workdir + ".moved"))
print(json.dumps(results))
"""

#: Control: alice unpickling bob's job.dill herself runs his code (creates the marker).
LOAD = "import dill, sys; dill.load(open(sys.argv[1], 'rb'))"

#: wpsbob swaps a job directory (in a workdir he controls) for a symlink to his own.
SWAP = r"""
import os, sys

workdir, job_id, target = sys.argv[1:4]
os.rename(os.path.join(workdir, job_id), os.path.join(workdir, job_id + ".moved"))
os.symlink(target, os.path.join(workdir, job_id))
"""

MAKE_OPEN_DIR = "import os, sys; os.mkdir(sys.argv[1]); os.chmod(sys.argv[1], 0o777)"
SYMLINK = "import os, sys; os.symlink(sys.argv[1], sys.argv[2])"
PLANT_SECRET = "import sys; open(sys.argv[1], 'wb').write(b'bob-knows-this')"

#: wpsbob writes into one of wpsalice's job directories (0700): errno name, or "ok".
WRITE_INTO = r"""
import errno, os, sys

try:
    os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    print("ok")
except OSError as exc:
    print(errno.errorcode.get(exc.errno, exc.errno))
"""


# --------------------------------------------------------------------------- helpers


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def owner_of(path: Path) -> int:
    return os.lstat(path).st_uid


def chown_tree(path: Path, user: users.User) -> None:
    for item in [path, *path.rglob("*")]:
        os.lchown(item, user.uid, user.gid)


class Scheduler:
    """The scheduler's own view of jobs, asked as root (who may see and cancel all)."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.env = env
        self._jobcomp: str | None = None

    @property
    def backend(self) -> str:
        return "drmaa" if self.name == "sge" else "slurm"

    def command(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv),
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd="/",
        )

    def owner(self, native: str) -> str | None:
        """The job's owner while the scheduler lists it (Slurm: also a while after it ended)."""
        if self.name == "sge":
            result = self.command("qstat", "-j", native)
            found = re.search(r"^owner:\s*(\S+)", result.stdout, re.M)
        else:
            result = self.command("scontrol", "show", "job", native)
            found = re.search(r"\bUserId=([^(\s]+)\(", result.stdout)
        return found.group(1) if result.returncode == 0 and found else None

    def accounted_owners(self, native: str) -> set[str]:
        """The owners in the scheduler's accounting of an ended job (qacct, jobcomp file)."""
        if self.name == "sge":
            result = self.command("qacct", "-j", native)
            return set(re.findall(r"^owner\s+(\S+)", result.stdout, re.M))
        if self._jobcomp is None:
            config = self.command("scontrol", "show", "config").stdout
            found = re.search(r"^JobCompLoc\s*=\s*(\S+)", config, re.M)
            assert found, "Slurm has no JobCompLoc"
            self._jobcomp = found.group(1)
        text = Path(self._jobcomp).read_text(errors="replace")
        return set(re.findall(rf"^JobId={native} UserId=([^(\s]+)\(", text, re.M))

    def cancel(self, native: str) -> None:
        self.command("qdel" if self.name == "sge" else "scancel", native)


class UserServer:
    """``jupyter server`` with the WPS in scheduler mode, run as a test user.

    Its root (config, log, Jupyter's runtime and data directories) is the user's, 0700;
    its environment is a login-like one (:func:`users.clean_env`) plus the scheduler's
    variables (DRMAA reads them when its library loads: they must be there at start).
    """

    def __init__(
        self,
        user: users.User,
        python: users.UserPython,
        root: Path,
        workdir: Path,
        sched: Scheduler | None,
        extra: str = "",
    ) -> None:
        """``sched`` None: the local backend (the default mode)."""
        self.user = user
        self.python = python
        self.root = root
        self.workdir = workdir
        self.sched = sched
        self.token = secrets.token_hex(16)
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log_file = root / "server.log"
        for directory in (root, root / "runtime", root / "data", root / "config"):
            directory.mkdir(mode=0o700)
        (root / "config" / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_wps": True}}})
        )
        self.config_file = root / "pywps.cfg"
        config = f"[server]\nworkdir = {workdir}\n\n[processing]\n"
        if sched is not None:
            config += (
                f"mode = scheduler\nbackend = {sched.backend}\npoll_interval = 2\n"
                # the users' interpreter may be a relocated copy: its libpython is found
                # through LD_LIBRARY_PATH, which the job must get too
                "export_environment = PATH LANG LC_ALL TZ PYTHONPATH LD_LIBRARY_PATH\n"
            )
        self.config_file.write_text(config + "processes = users_batch_processes:whoami\n" + extra)
        self.log_file.touch()
        chown_tree(root, user)

    @property
    def wps_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/wps"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def environment(self) -> dict[str, str]:
        pythonpath = [self.python.env.get("PYTHONPATH", ""), str(TESTS)]
        return users.clean_env(
            self.user,
            self.python,
            **(self.sched.env if self.sched else {}),
            PYTHONPATH=os.pathsep.join(p for p in pythonpath if p),
            JUPYTER_PLATFORM_DIRS="1",
            JUPYTER_CONFIG_DIR=str(self.root / "config"),
            JUPYTER_DATA_DIR=str(self.root / "data"),
            JUPYTER_RUNTIME_DIR=str(self.root / "runtime"),
        )

    def spawn(self) -> UserServer:
        self.port = free_port()
        with open(self.log_file, "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [
                    self.python.executable,
                    "-m",
                    "jupyter_server",
                    "--no-browser",  # and no --allow-root: it is not root
                    f"--port={self.port}",
                    "--ip=127.0.0.1",
                    f"--IdentityProvider.token={self.token}",
                    f"--ServerApp.root_dir={self.root}",
                    f"--WPSExtensionApp.config_file={self.config_file}",
                ],
                user=self.user.uid,
                group=self.user.gid,
                extra_groups=list(self.user.groups),
                env=self.environment(),
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_started(self, timeout: float = 120) -> UserServer:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.user.name}'s jupyter server exited: {self.log()}")
            try:
                reply = requests.get(
                    self.wps_url,
                    params={"service": "WPS", "request": "GetCapabilities"},
                    headers=self.headers,
                    timeout=5,
                )
                if reply.status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{self.user.name}'s jupyter server did not answer: {self.log()}")

    def wait_exit(self, timeout: float = 120) -> int | None:
        """The exit status of a server expected to stop by itself (None: it kept running)."""
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")[-5000:]

    # ----------------------------------------------------------------- the WPS over HTTP

    def execute(self, identifier: str, inputs: str = "") -> str:
        """An async Execute (ProcessAccepted, valid); the job id."""
        return submit(self, identifier, inputs)  # type: ignore[arg-type] - wps_url, headers

    def job(self, job_id: str) -> dict:
        reply = requests.get(f"{self.wps_url}/api/jobs/{job_id}", headers=self.headers, timeout=30)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def job_ids(self) -> set[str]:
        reply = requests.get(f"{self.wps_url}/api/jobs", headers=self.headers, timeout=30)
        assert reply.status_code == 200, reply.text
        return {job["jobID"] for job in reply.json()["jobs"]}

    def final_job(self, job_id: str, timeout: float = 120) -> dict:
        return wait_until(
            lambda: (found := self.job(job_id))["status"] in FINAL and found,
            timeout,
            interval=0.5,
            what=f"{self.user.name}'s job {job_id} to end ({self.log()})",
        )

    def outputs(self, job_id: str) -> dict[str, str]:
        """The literal outputs in the job's status document."""
        reply = requests.get(
            f"{self.wps_url}/status/{job_id}.xml", headers=self.headers, timeout=30
        )
        assert reply.status_code == 200, reply.text
        assert_valid(reply.content)
        document = etree.fromstring(reply.content)
        return {
            out.findtext("ows:Identifier", namespaces=NS): out.findtext(
                ".//wps:LiteralData", namespaces=NS
            )
            for out in document.iterfind("wps:ProcessOutputs/wps:Output", NS)
        }

    def native_id(self, job_id: str, jobdir: Path | None = None, timeout: float = 60) -> str:
        """The scheduler's id of the job, as the server recorded it in job.json."""

        def read() -> str | None:
            try:
                record = json.loads(((jobdir or self.workdir / job_id) / "job.json").read_text())
            except (OSError, ValueError):
                return None
            return record.get("native_id")

        found = wait_until(read, timeout, what=f"the native id of {job_id} ({self.log()})")
        assert found.isdigit(), found
        return found


class Scratch:
    """A fresh directory tree both users reach, the servers and the jobs of one test.

    ``base`` (root's, 0755) holds ``shared`` (1777, like /tmp or a cluster's scratch) and
    whatever the test puts there; at the end the servers stop, every batch job recorded
    under ``base`` is cancelled, and ``base`` is removed.
    """

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="jupyter-wps-users-batch-"))
        self.base.chmod(0o755)
        self.shared = self.base / "shared"
        self.shared.mkdir()
        self.shared.chmod(0o1777)
        self.servers: list[UserServer] = []
        self.sched: Scheduler | None = None

    def server(
        self,
        user: users.User,
        python: users.UserPython,
        name: str,
        workdir: Path,
        sched: Scheduler | None,
        extra: str = "",
    ) -> UserServer:
        if sched is not None:
            self.sched = sched
        made = UserServer(user, python, self.base / name, workdir, sched, extra)
        self.servers.append(made)
        return made

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        if self.sched is not None:
            for record in self.base.rglob("job.json"):
                try:
                    native = json.loads(record.read_text()).get("native_id")
                except (OSError, ValueError):
                    continue
                if native:
                    self.sched.cancel(native)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def scratch():
    made = Scratch()
    yield made
    made.close()


def bring_up(scheduler: str) -> tuple[Scheduler, users.User, users.User, users.UserPython]:
    """The scheduler and the users, in the test's body: without them the test skips, and
    under CI=true it fails (never an error or a silent skip)."""
    env = cluster.require_sge() if scheduler == "sge" else cluster.require_slurm()
    alice, bob = users.users()
    return Scheduler(scheduler, env), alice, bob, users.user_python()


def as_user(user: users.User, python: users.UserPython, code: str, *args: str) -> str:
    result = users.python_as(user, python, code, *args)
    assert result.returncode == 0, f"as {user.name}: {result.stderr}{result.stdout}"
    return result.stdout


# --------------------------------------------------------------------------- each user's jobs


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_each_users_jobs_run_as_that_user(scheduler, scratch):
    sched, alice, bob, python = bring_up(scheduler)
    servers = {
        user.name: scratch.server(
            user, python, user.name, scratch.shared / f"{user.name}-work", sched
        )
        for user in (alice, bob)
    }
    for server in servers.values():
        server.spawn()
    for server in servers.values():
        server.wait_started()
    for user in (alice, bob):
        server = servers[user.name]
        assert owner_of(Path(f"/proc/{server.process.pid}")) == user.uid
        # the server made its workdir, in the sticky shared directory: its user's, 0700
        assert owner_of(server.workdir) == user.uid and mode_of(server.workdir) == 0o700

    jobs: dict[str, dict[str, str]] = {}
    for user in (alice, bob):
        server = servers[user.name]
        jobs[user.name] = {
            "whoami": server.execute("whoami", "seconds=5"),
            "say_hello": server.execute("say_hello", f"name={user.name}"),
        }

    # the scheduler's view, while whoami runs (Grid Engine forgets a job once it ended)
    natives: dict[tuple[str, str], str] = {}
    for user in (alice, bob):
        server = servers[user.name]
        for process, job_id in jobs[user.name].items():
            natives[user.name, process] = server.native_id(job_id)
        native = natives[user.name, "whoami"]
        seen = wait_until(
            functools.partial(sched.owner, native), 60, what=f"{scheduler} to list {native}"
        )
        assert seen == user.name, f"{scheduler} says job {native} of {user.name} is {seen}'s"

    for user in (alice, bob):
        server = servers[user.name]
        for process, job_id in jobs[user.name].items():
            final = server.final_job(job_id)
            assert final["status"] == "successful", (user.name, process, final)
        assert server.outputs(jobs[user.name]["say_hello"]) == {"output": f"Hello {user.name}"}
        who = json.loads(server.outputs(jobs[user.name]["whoami"])["output"])
        jobdir = server.workdir / jobs[user.name]["whoami"]
        assert who == {
            "uid": user.uid,
            "euid": user.uid,
            "gid": user.gid,
            "user": user.name,
            "cwd": str(jobdir),
            "cwd_uid": user.uid,
            "cwd_mode": 0o700,
            "scheduler_job_id": natives[user.name, "whoami"],
        }
        for job_id in jobs[user.name].values():
            jobdir = server.workdir / job_id
            assert (owner_of(jobdir), mode_of(jobdir)) == (user.uid, 0o700), jobdir
            assert os.lstat(jobdir).st_gid == user.gid, jobdir
            assert (owner_of(jobdir / "outputs"), mode_of(jobdir / "outputs")) == (user.uid, 0o700)
            for name in ("job.dill", "job.json", "status.xml"):
                path = jobdir / name
                assert (owner_of(path), mode_of(path)) == (user.uid, 0o600), path
            # written on the node: the scheduler opened it, the launcher wrote the status
            assert owner_of(jobdir / "launcher.log") == user.uid

    # wpsbob and wpsalice's workdir: nothing to see, nothing to plant
    alice_server, bob_server = servers[alice.name], servers[bob.name]
    probe = as_user(
        bob,
        python,
        PROBE,
        str(alice_server.workdir),
        jobs[alice.name]["say_hello"],
        str(uuid.uuid4()),
    )
    assert json.loads(probe) == {
        "list the workdir": "EACCES",
        "list the job directory": "EACCES",
        "read job.dill": "EACCES",
        "read job.json": "EACCES",
        "rewrite job.dill": "EACCES",
        "plant a file in the job directory": "EACCES",
        "plant a job directory": "EACCES",
        "plant a symlink": "EACCES",
        "move the workdir away": "EPERM",  # the shared directory is sticky
    }
    # nor through alice's server with his own token
    reply = requests.get(
        f"{alice_server.wps_url}/api/jobs/{jobs[alice.name]['say_hello']}",
        headers=bob_server.headers,
        timeout=30,
    )
    assert reply.status_code in (401, 403), reply.text
    # nor with his own server on her workdir: it cannot even start
    intruder = scratch.server(bob, python, "bob-on-alice", alice_server.workdir, sched).spawn()
    code = intruder.wait_exit()
    assert code not in (None, 0), f"bob's server runs on alice's workdir: {intruder.log()}"
    assert "jupyter-wps cannot start" in intruder.log(), intruder.log()
    assert f"the workdir {alice_server.workdir} is not a directory of this user" in (
        intruder.log()
    ), intruder.log()

    # the scheduler's accounting (Grid Engine flushes it every 15 s)
    for (name, process), native in natives.items():
        owners = wait_until(
            functools.partial(sched.accounted_owners, native),
            90,
            interval=2,
            what=f"{scheduler}'s accounting of job {native} ({process} of {name})",
        )
        assert owners == {name}, (process, native, owners)


# --------------------------------------------------------------------------- bob's plants


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_bob_cannot_make_alices_launcher_load_his_file(scheduler, scratch):
    """wpsbob prepares the workdir that wpsalice's server is configured with.

    Before her server first starts, bob makes ``shared/alice-work`` (0777, his), with a
    job directory of his (``job.dill`` runs code when unpickled) and a job directory that
    is a symlink to one of his. Her jobs wait at a gate in the prologue; meanwhile bob
    swaps one of hers for a symlink to a job directory of his.
    """
    sched, alice, bob, python = bring_up(scheduler)
    workdir = scratch.shared / "alice-work"
    bob_area = scratch.base / "bob-area"
    bob_area.mkdir()
    os.chown(bob_area, bob.uid, bob.gid)
    gate = scratch.base / "gate"
    markers = {
        name: scratch.shared / f"marker-{name}-{secrets.token_hex(4)}"
        for name in ("control", "planted", "symlinked", "swapped")
    }

    def plant(where: Path, job_id: str, marker: str) -> Path:
        options = {
            "workdir": str(where),
            "job_id": job_id,
            "marker": str(markers[marker]),
            "owner": alice.name,
            "backend": sched.backend,
        }
        return Path(as_user(bob, python, PLANT_JOB, json.dumps(options)).strip().splitlines()[-1])

    as_user(bob, python, MAKE_OPEN_DIR, str(workdir))
    planted = plant(workdir, str(uuid.uuid4()), "planted")
    symlinked_id = str(uuid.uuid4())
    plant(bob_area, symlinked_id, "symlinked")
    as_user(bob, python, SYMLINK, str(bob_area / symlinked_id), str(workdir / symlinked_id))
    assert owner_of(workdir) == bob.uid and owner_of(planted) == bob.uid

    # control: unpickled by alice, a job.dill like bob's runs his code as alice
    control = plant(bob_area, str(uuid.uuid4()), "control")
    as_user(alice, python, LOAD, str(control / "job.dill"))
    assert owner_of(markers["control"]) == alice.uid, "the planted payload does not work"

    server = scratch.server(
        alice,
        python,
        "alice",
        workdir,
        sched,
        # the job says it started (its log is open, its cwd set), then waits at the gate
        f"prologue = touch {scratch.shared}/started-${{JOB_ID:-$SLURM_JOB_ID}}\n"
        f"    while [ ! -e {gate} ]; do sleep 0.5; done\n",
    ).spawn()
    try:
        server.wait_started()
    except AssertionError:
        # refusing a workdir that another user owns is right too: then nothing ran
        assert server.wait_exit(1) not in (None, 0), server.log()
        assert "jupyter-wps cannot start" in server.log(), server.log()
        assert not any(markers[name].exists() for name in ("planted", "symlinked"))
        return

    # her server picked up bob's job directory (it is not hers: a finding of its own, see
    # test_a_workdir_another_user_prepared_is_refused), and submitted it, as her
    planted_native = server.native_id(planted.name)

    # one of her own jobs, in the workdir bob controls: hers, 0700, and bob cannot write
    # into it; but he can rename it (the directory is his) and put a symlink in its place
    swapped_id = server.execute("say_hello", "name=Alice")
    swapped_native = server.native_id(swapped_id)
    started = scratch.shared / f"started-{swapped_native}"
    wait_until(started.exists, 120, what=f"{scheduler} to start job {swapped_native}")
    original = workdir / swapped_id
    assert (owner_of(original), mode_of(original)) == (alice.uid, 0o700)
    wrote = as_user(bob, python, WRITE_INTO, str(original / "job.dill.new")).strip()
    assert wrote == "EACCES"
    plant(bob_area, swapped_id, "swapped")
    as_user(bob, python, SWAP, str(workdir), swapped_id, str(bob_area / swapped_id))
    assert (workdir / swapped_id).is_symlink()

    for native in (planted_native, swapped_native):  # her jobs, at the gate
        owner = wait_until(functools.partial(sched.owner, native), 60, what=f"job {native}")
        assert owner == alice.name, f"{scheduler} job {native} is {owner}'s"
    gate.touch()

    final = server.final_job(planted.name)
    assert final["status"] == "failed", final
    assert f"job directory {planted} belongs to uid {bob.uid}" in final["message"], final
    final = server.final_job(swapped_id)
    assert final["status"] == "failed", final
    assert f"cannot open job directory {workdir / swapped_id}" in final["message"], final
    # what her launcher said went to the launcher.log of her real job directory
    log = (workdir / f"{swapped_id}.moved" / "launcher.log").read_text(errors="replace")
    assert "the job cannot be loaded: cannot open job directory" in log, log
    assert owner_of(workdir / f"{swapped_id}.moved" / "launcher.log") == alice.uid
    assert "the job cannot be loaded" in (planted / "launcher.log").read_text(errors="replace")
    assert owner_of(planted / "status.xml") == alice.uid  # her launcher wrote why it refused

    assert symlinked_id not in server.job_ids()  # a symlinked job directory is never a job
    unpickled = [name for name in ("planted", "symlinked", "swapped") if markers[name].exists()]
    assert not unpickled, f"alice's launcher unpickled bob's job.dill: {unpickled}"


# --------------------------------------------------------------------------- the workdir


class WorkdirAccepted(AssertionError):
    """A server ran on a workdir that another user prepared."""


def test_a_workdir_another_user_prepared_is_refused(scratch):
    """wpsbob makes the workdir alice's server is configured with, before it exists.

    Her server should refuse it (not hers, writable by others) and say why. No scheduler
    is needed: the server checks its workdir whatever the backend.
    """
    alice, bob = users.users()
    python = users.user_python()
    workdir = scratch.shared / "alice-work"
    as_user(bob, python, MAKE_OPEN_DIR, str(workdir))
    as_user(bob, python, PLANT_SECRET, str(workdir / ".jupyter-wps-secret"))
    server = scratch.server(alice, python, "alice", workdir, None).spawn()
    try:
        server.wait_started(90)
    except AssertionError:
        pass  # it stopped: as it should
    else:
        raise WorkdirAccepted(f"alice's server runs on bob's workdir: {server.log()}")
    assert server.wait_exit(10) not in (None, 0), server.log()
    assert "jupyter-wps cannot start" in server.log(), server.log()
    assert str(workdir) in server.log(), server.log()
