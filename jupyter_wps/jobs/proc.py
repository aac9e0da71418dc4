"""Processes of this machine, told apart by pid *and* start time (pids are recycled)."""

from __future__ import annotations


def process_start_time(pid: int, finished_too: bool = False) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot), or None if it is gone.

    A zombie (finished, not yet reaped) counts as gone unless ``finished_too``: its
    parent, which reaps it, may still want to know when it started.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            stat = stream.read()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after its end
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] == b"Z" and not finished_too:
        return None
    return fields[19].decode()


def is_alive(native_id: str) -> bool:
    """Whether ``<pid>:<start time>`` names a process that is still running."""
    pid, _, start = native_id.partition(":")
    return pid.isdigit() and process_start_time(int(pid)) == start
