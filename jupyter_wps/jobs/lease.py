"""One server at a time manages a workdir: a lease file, created exclusively and kept fresh.

Not an fcntl lock (shared filesystems break them) and no trust in mtimes: the
lease says who holds it and when it was last renewed. A lease not renewed for
its time to live may be taken over; a takeover is confirmed by reading the
file back after a pause, so of two servers racing for it exactly one wins.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
import time
from pathlib import Path
from typing import Any

from .jobdir import atomic_write, read_file

#: seconds a takeover waits before reading the lease back to see who won
CONFIRM_DELAY = 0.5


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lease:
    """The lease on a workdir, as seen from one server."""

    def __init__(self, path: Path, ttl: float = 30.0) -> None:
        self.path = Path(path)
        self.ttl = ttl
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.held = False

    def _content(self) -> bytes:
        return json.dumps(
            {"holder": self.holder, "renewed": _now().isoformat(), "ttl": self.ttl}
        ).encode()

    def current(self) -> dict[str, Any] | None:
        """The lease as written (holder, renewed, ttl); None if absent or unreadable."""
        try:
            data = read_file(self.path)
            return None if data is None else json.loads(data)
        except (OSError, ValueError):
            return None

    def _expired(self, lease: dict[str, Any] | None) -> bool:
        """Not renewed within its time to live, or its holder was a process of this host
        that is gone (a restarted server need not wait for the lease to run out)."""
        if lease is None:
            return True
        host, _, rest = str(lease.get("holder", "")).partition(":")
        pid = rest.partition(":")[0]
        if host == socket.gethostname() and pid.isdigit() and not _running(int(pid)):
            return True
        try:
            renewed = dt.datetime.fromisoformat(lease["renewed"])
            ttl = float(lease.get("ttl", self.ttl))
        except (KeyError, TypeError, ValueError):
            return True
        return (_now() - renewed).total_seconds() > ttl

    def acquire(self) -> bool:
        """Take the lease if it is free or expired; True if this server holds it now."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            lease = self.current()
            if lease is not None and lease.get("holder") == self.holder:
                self.held = True
                return self.renew()
            if not self._expired(lease):
                self.held = False
                return False
            atomic_write(self.path, self._content())
            time.sleep(CONFIRM_DELAY)
        else:
            with os.fdopen(fd, "wb") as stream:
                stream.write(self._content())
        lease = self.current()
        self.held = lease is not None and lease.get("holder") == self.holder
        return self.held

    def renew(self) -> bool:
        """Keep the lease fresh; False (and not held) if another server has taken it."""
        lease = self.current()
        if lease is None or lease.get("holder") != self.holder:
            self.held = False
            return False
        atomic_write(self.path, self._content())
        self.held = True
        return True

    def release(self) -> None:
        if self.held and (self.current() or {}).get("holder") == self.holder:
            self.path.unlink(missing_ok=True)
        self.held = False
