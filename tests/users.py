"""Two non-root test users, and running commands as them.

The project rule: permissions are tested as two non-root users, never as root
alone (root passes every permission check, so a test run as root proves
nothing about them). :func:`users` makes ``wpsalice`` and ``wpsbob``
(``useradd --create-home``, only when running as root, idempotent), both in
the group ``wpsteam`` so that group-writable files can be tested too.
:func:`run_as` runs a command as one of them, with a clean environment.

The users must be able to run this Python and import ``jupyter_wps``. When the
interpreter lives where they cannot reach it (pyenv under a ``0700`` ``/root``),
:func:`user_python` makes a hard-linked copy of the interpreter's prefix in a
fresh ``/tmp`` directory (``cp -al``: seconds, no extra space; a plain copy if
hard links are impossible) and runs that. Nothing on the machine is made more
accessible: ``/root`` keeps its mode, and the copy is removed by :func:`cleanup`.

Under ``CI=true`` a test that needs the users fails when they cannot be had
(not root, ``useradd`` missing, the interpreter unusable); elsewhere it skips.
"""

from __future__ import annotations

import atexit
import functools
import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

import jupyter_wps

ALICE = "wpsalice"
BOB = "wpsbob"
GROUP = "wpsteam"
#: What a user's Python must import for the tests to make sense.
IMPORT_CHECK = "import dill, lxml, jupyter_wps.launcher, jupyter_wps.processes"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it under CI (where the users must be available)."""
    if in_ci():
        pytest.fail(f"CI=true: the non-root test users are required: {reason}", pytrace=False)
    pytest.skip(f"non-root test users unavailable: {reason}")


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: Path
    groups: tuple[int, ...]

    @property
    def team_gid(self) -> int:
        return grp.getgrnam(GROUP).gr_gid


@dataclass
class UserPython:
    """An interpreter the test users can run, and what its environment needs."""

    executable: str
    env: dict[str, str] = field(default_factory=dict)
    #: the private copy made for the users, removed by cleanup()
    copy_root: Path | None = None


# --------------------------------------------------------------------------- users


def _run_admin(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """useradd/groupadd/usermod, retried while another process holds /etc/passwd's lock."""
    for attempt in range(20):
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode == 0 or "lock" not in result.stderr.lower():
            return result
        time.sleep(0.1 * (attempt + 1))
    return result


def _ensure_group(name: str) -> None:
    try:
        grp.getgrnam(name)
        return
    except KeyError:
        pass
    result = _run_admin(["groupadd", name])
    try:
        grp.getgrnam(name)  # made here, or by a concurrent test run
    except KeyError:
        unavailable(f"groupadd {name} failed: {result.stderr.strip()}")


def _ensure_user(name: str) -> User:
    try:
        pwd.getpwnam(name)
    except KeyError:
        result = _run_admin(["useradd", "--create-home", "--user-group", "--groups", GROUP, name])
        try:
            pwd.getpwnam(name)
        except KeyError:
            unavailable(f"useradd {name} failed: {result.stderr.strip()}")
    entry = pwd.getpwnam(name)
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        unavailable(f"user {name} exists with uid/gid 0: not a non-root test user")
    if name not in grp.getgrnam(GROUP).gr_mem:
        result = _run_admin(["usermod", "--append", "--groups", GROUP, name])
        if name not in grp.getgrnam(GROUP).gr_mem:
            unavailable(f"usermod -aG {GROUP} {name} failed: {result.stderr.strip()}")
    home = Path(entry.pw_dir)
    if not home.is_dir():
        home.mkdir(mode=0o700)
        os.chown(home, entry.pw_uid, entry.pw_gid)
    return User(
        name=name,
        uid=entry.pw_uid,
        gid=entry.pw_gid,
        home=home,
        groups=tuple(os.getgrouplist(name, entry.pw_gid)),
    )


@functools.cache
def _make_users() -> tuple[User, User]:
    if os.geteuid() != 0:
        unavailable("creating them needs root (these tests run as root in CI)")
    for tool in ("useradd", "groupadd", "usermod"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed")
    _ensure_group(GROUP)
    return _ensure_user(ALICE), _ensure_user(BOB)


def users() -> tuple[User, User]:
    """``(wpsalice, wpsbob)``, created if missing; skips (fails under CI) when impossible."""
    return _make_users()  # a skip or failure is not cached: the next test tries again


# --------------------------------------------------------------------------- running


def clean_env(user: User, python: UserPython | None = None, **extra: str) -> dict[str, str]:
    """A login-like environment: nothing of root's (no PYTHONPATH, no HOME=/root)."""
    env = {
        "HOME": str(user.home),
        "USER": user.name,
        "LOGNAME": user.name,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if python is not None:
        env["PATH"] = f"{Path(python.executable).parent}:{env['PATH']}"
        env.update(python.env)
    env.update(extra)
    return env


def run_as(
    user: User,
    argv: Sequence[str],
    *,
    python: UserPython | None = None,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    **kwargs: object,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as ``user`` (its uid, gid and groups only; a clean environment)."""
    return subprocess.run(
        list(argv),
        user=user.uid,
        group=user.gid,
        extra_groups=list(user.groups),
        env=dict(env) if env is not None else clean_env(user, python),
        cwd=cwd if cwd is not None else user.home,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,  # type: ignore[arg-type]
    )


def python_as(
    user: User, python: UserPython, code: str, *args: str, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """``python -c code args...`` as ``user``."""
    return run_as(user, [python.executable, "-c", code, *args], python=python, **kwargs)


# --------------------------------------------------------------------------- the interpreter


def blocked_directories(path: str | os.PathLike[str]) -> list[str]:
    """The ancestors of ``path`` that others cannot traverse (for messages)."""
    blocked = []
    for parent in reversed(Path(path).absolute().parents):
        try:
            mode = parent.stat().st_mode
        except OSError:
            continue
        if not mode & stat.S_IXOTH:
            blocked.append(f"{parent} ({stat.filemode(mode)})")
    return blocked


def _check(user: User, python: UserPython) -> str | None:
    """Why ``user`` cannot use ``python`` for the tests, or None."""
    try:
        result = python_as(user, python, IMPORT_CHECK, timeout=60)
    except OSError as exc:
        return str(exc)
    if result.returncode:
        return (result.stderr or result.stdout).strip()[-1500:]
    return None


def _link_tree(source: Path, target: Path) -> None:
    """A copy of ``source`` whose files are hard links (a real copy if links are impossible)."""
    result = subprocess.run(["cp", "-al", str(source), str(target)], capture_output=True, text=True)
    if result.returncode:
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(["cp", "-a", str(source), str(target)], check=True)


def _own_file(path: Path, text: str) -> None:
    """Replace a (possibly hard-linked) file by a new one: never write through the link."""
    path.unlink()
    path.write_text(text)
    path.chmod(0o644)


def _relocated_python() -> UserPython:
    """A copy of this interpreter's prefix (and its venv's) under a fresh /tmp directory."""
    root = Path(tempfile.mkdtemp(prefix="jupyter-wps-test-python-"))
    root.chmod(0o755)
    base = Path(sys.base_prefix).resolve()
    prefix = Path(sys.prefix).resolve()
    executable = Path(sys.executable).absolute()
    try:
        _link_tree(base, root / "base")
        # the source tree may be out of reach too (a checkout under a 0700 directory)
        (root / "src").mkdir()
        _link_tree(Path(jupyter_wps.__file__).parent, root / "src" / "jupyter_wps")
        env = {
            "LD_LIBRARY_PATH": str(root / "base" / "lib"),  # libpython's RUNPATH is absolute
            "PYTHONPATH": str(root / "src"),
        }
        if prefix == base:
            relative = Path(os.path.realpath(executable)).relative_to(base)
            return UserPython(str(root / "base" / relative), env, root)
        # a virtualenv: copy it too and point its pyvenv.cfg and symlinks at the copied base
        _link_tree(prefix, root / "venv")
        cfg = root / "venv" / "pyvenv.cfg"
        _own_file(cfg, cfg.read_text().replace(str(base), str(root / "base")))
        for entry in (root / "venv" / "bin").iterdir():
            if entry.is_symlink():
                target = os.readlink(entry)
                if target.startswith(str(base)):
                    entry.unlink()
                    entry.symlink_to(str(root / "base") + target[len(str(base)) :])
        relative = executable.relative_to(Path(sys.prefix).absolute())
        return UserPython(str(root / "venv" / relative), env, root)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


@functools.cache
def _make_user_python() -> UserPython:
    alice, _ = users()
    here = UserPython(sys.executable)
    problem = _check(alice, here)
    if problem is None:
        return here
    blocked = blocked_directories(sys.executable)
    try:
        copy = _relocated_python()
    except (OSError, ValueError, subprocess.CalledProcessError) as exc:
        unavailable(
            f"{sys.executable} is out of the users' reach ({blocked}); copying it failed: {exc}"
        )
    problem = _check(alice, copy)
    if problem is not None:
        shutil.rmtree(copy.copy_root or "", ignore_errors=True)
        unavailable(
            f"{ALICE} cannot import jupyter_wps with {sys.executable} (blocked: {blocked}) "
            f"nor with a copy of its prefix: {problem}. Is the source tree readable by others? "
            f"Blocked above it: {blocked_directories(Path(__file__).parent.parent)}"
        )
    atexit.register(shutil.rmtree, copy.copy_root, True)
    return copy


def user_python() -> UserPython:
    """An interpreter both test users can run, with jupyter_wps importable."""
    return _make_user_python()


def cleanup() -> None:
    """Remove the interpreter copy, if one was made (the users stay, for the next run)."""
    if _make_user_python.cache_info().currsize:
        copy = _make_user_python()
        if copy.copy_root is not None:
            shutil.rmtree(copy.copy_root, ignore_errors=True)
        _make_user_python.cache_clear()
