"""Real single-node batch schedulers for the tests: Son of Grid Engine and Slurm.

:func:`ensure_sge` and :func:`ensure_slurm` bring one up through
``scripts/cluster/sge.sh`` / ``scripts/cluster/slurm.sh`` (``install``: the
Debian packages and a one-node configuration, only where missing; ``start``:
the daemons, only where not running) and return the environment variables a
backend, and any process that talks to the scheduler, needs::

    ensure_sge()   -> {"SGE_ROOT": "/var/lib/gridengine", "SGE_CELL": "default",
                       "DRMAA_LIBRARY_PATH": "/usr/lib/gridengine-drmaa/lib/libdrmaa.so.1.0",
                       "GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=16384"}
    ensure_slurm() -> {"SLURM_CONF": "/etc/slurm/slurm.conf"}

DRMAA reads its variables when the library loads: put them into the
environment of a *new* process (a subprocess, a spawner's environment);
setting ``os.environ`` in a process that already runs is too late for it.

The rule from the issue: tests touch only a scheduler that their own setup
started, or one that an environment variable names explicitly. The scripts
refuse to configure a scheduler that they did not configure themselves (a
marker file tells), and ``stop`` stops only the daemons that they started.
``JUPYTER_WPS_TEST_SGE`` / ``JUPYTER_WPS_TEST_SLURM``:

* unset or empty: set up and start the scheduler here when needed (root only);
* ``existing``: use the installed, running scheduler as it is: no install, no
  configuration, no start, no stop;
* ``off``: do not use it (the tests that need it skip; under CI they fail).

A scheduler that this process started is stopped when the process exits
(:func:`stop_started`, which a conftest may also call at session end), unless
``JUPYTER_WPS_TEST_KEEP_CLUSTERS=1`` keeps it running for the next run.

:func:`require` turns a failure into a skip, or under ``CI=true`` into a
test failure: CI must never skip a scheduler test silently.
"""

from __future__ import annotations

import atexit
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts" / "cluster"
SGE_SCRIPT = SCRIPTS / "sge.sh"
SLURM_SCRIPT = SCRIPTS / "slurm.sh"

#: seconds for each script step (install may run apt-get update and pip)
TIMEOUTS = {"install": 900, "start": 300, "stop": 180, "status": 60, "env": 30}

T = TypeVar("T")


class ClusterUnavailable(RuntimeError):
    """The scheduler cannot be had (not installed and not installable, not root, off...)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@dataclass
class _Scheduler:
    name: str
    script: Path
    variable: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    env: dict[str, str] | None = None
    error: ClusterUnavailable | None = None
    started_here: bool = False
    #: what the scripts said (with their timings), for messages and reports
    log: list[str] = field(default_factory=list)

    @property
    def mode(self) -> str:
        return os.environ.get(self.variable, "").strip().lower()


SGE = _Scheduler("SGE", SGE_SCRIPT, "JUPYTER_WPS_TEST_SGE")
SLURM = _Scheduler("Slurm", SLURM_SCRIPT, "JUPYTER_WPS_TEST_SLURM")


def _run(sched: _Scheduler, command: str) -> subprocess.CompletedProcess[str]:
    """``bash <script> <command>``, output captured (the scripts' daemons inherit none of it)."""
    started = time.monotonic()
    try:
        result = subprocess.run(
            ["bash", str(sched.script), command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUTS[command],
            env={**os.environ, "PYTHON": sys.executable},
        )
    except subprocess.TimeoutExpired as exc:
        raise ClusterUnavailable(
            f"{sched.script.name} {command} took over {TIMEOUTS[command]} s: {_tail(exc.stderr)}"
        ) from exc
    sched.log.append(
        f"$ {sched.script.name} {command}  [{time.monotonic() - started:.1f} s, "
        f"exit {result.returncode}]\n{result.stderr}{result.stdout}"
    )
    return result


def _tail(text: str | bytes | None, lines: int = 15) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").strip().splitlines()[-lines:])


def _check(sched: _Scheduler, command: str) -> subprocess.CompletedProcess[str]:
    result = _run(sched, command)
    if result.returncode:
        raise ClusterUnavailable(
            f"{sched.script.name} {command} failed (exit {result.returncode}):\n"
            f"{_tail(result.stderr or result.stdout)}"
        )
    return result


def _status(sched: _Scheduler) -> dict[str, str]:
    result = _run(sched, "status")
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def parse_env(text: str) -> dict[str, str]:
    """The variables of ``export NAME=VALUE`` lines."""
    env = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            env[name] = value
    return env


def _bring_up(sched: _Scheduler) -> dict[str, str]:
    mode = sched.mode
    if mode in ("off", "no", "0", "false", "skip"):
        raise ClusterUnavailable(f"{sched.variable}={mode}: not using {sched.name}")
    if mode not in ("", "existing"):
        raise ClusterUnavailable(f"{sched.variable}={mode!r}: expected empty, 'existing' or 'off'")
    if mode != "existing" and os.geteuid() != 0:
        raise ClusterUnavailable(
            f"setting up {sched.name} needs root; set {sched.variable}=existing to use a "
            "running one as it is"
        )
    before = _status(sched) if mode != "existing" else {}
    if before.get("running") == "yes" and before.get("configured") == "ours":
        pass  # up and ours (started by an earlier run that kept it): use it
    else:
        # in `existing` mode the scripts only check (packages, the python drmaa
        # package, that the scheduler answers) and change nothing of the scheduler
        _check(sched, "install")
        _check(sched, "start")
        if mode != "existing" and before.get("running") != "yes":
            sched.started_here = True
    env = parse_env(_check(sched, "env").stdout)
    if not env:
        raise ClusterUnavailable(f"{sched.script.name} env printed no variables")
    return env


def _ensure(sched: _Scheduler) -> dict[str, str]:
    with sched.lock:
        if sched.error is not None:  # do not retry a failed (and maybe minutes long) setup
            raise sched.error
        if sched.env is None:
            try:
                sched.env = _bring_up(sched)
            except ClusterUnavailable as exc:
                sched.error = exc
                raise
            if sched.started_here and os.environ.get("JUPYTER_WPS_TEST_KEEP_CLUSTERS") != "1":
                atexit.register(stop_started)
        return dict(sched.env)


def ensure_sge() -> dict[str, str]:
    """A running single-node SGE; the variables a DRMAA process needs (see the module doc)."""
    return _ensure(SGE)


def ensure_slurm() -> dict[str, str]:
    """A running single-node Slurm; the variables its commands need (see the module doc)."""
    return _ensure(SLURM)


def _stop(sched: _Scheduler) -> None:
    with sched.lock:
        if sched.mode == "existing":
            return  # never stop a scheduler we were told to use as it is
        if os.geteuid() != 0:
            return
        _check(sched, "stop")  # the script stops only the daemons the scripts started
        sched.env = None
        sched.started_here = False


def stop_sge() -> None:
    """Stop the SGE daemons that the scripts started (those only)."""
    _stop(SGE)


def stop_slurm() -> None:
    """Stop the Slurm daemons that the scripts started (those only)."""
    _stop(SLURM)


def stop_started() -> None:
    """Stop the schedulers that this process started (at exit, or at a session's end)."""
    for sched in (SGE, SLURM):
        if sched.started_here:
            try:
                _stop(sched)
            except ClusterUnavailable as exc:
                print(f"stopping {sched.name}: {exc}", file=sys.stderr)


def setup_log(name: str) -> str:
    """What the scripts printed for ``SGE`` or ``Slurm`` in this process (timings included)."""
    sched = {"sge": SGE, "slurm": SLURM}[name.lower()]
    return "\n".join(sched.log)


def require(name: str, bring_up: Callable[[], T]) -> T:
    """``bring_up()``; when it fails: under ``CI=true`` the test fails, elsewhere it skips."""
    try:
        return bring_up()
    except Exception as exc:
        reason = f"{name} is unavailable: {exc}"
        if in_ci():
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)


def require_sge() -> dict[str, str]:
    return require("SGE", ensure_sge)


def require_slurm() -> dict[str, str]:
    return require("Slurm", ensure_slurm)
