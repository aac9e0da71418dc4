"""One vocabulary of job states, and each state's name in every dialect we speak.

The server, the launcher, the JSON API and the client use :class:`JobState`;
WPS 1.0.0 status elements, WPS 2.0 ``wps:Status`` values and OGC API - Processes
status codes are its translations, defined here and nowhere else. Dismissal is a
state, not a message: WPS 1.0.0, which has no word for it, says ProcessFailed.
"""

from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    """A job's state (its value is the name the job directory's files use)."""

    ACCEPTED = "accepted"
    STARTED = "started"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DISMISSED = "dismissed"

    def __str__(self) -> str:  # in messages, the name the files use
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def final(self) -> bool:
        return self in _FINAL

    @property
    def wps1(self) -> str:
        """The WPS 1.0.0 ``wps:Status`` element that says it."""
        return _WPS1[self]

    @property
    def wps2(self) -> str:
        """The WPS 2.0 ``wps:Status`` value."""
        return _WPS2[self]

    @property
    def api(self) -> str:
        """The OGC API - Processes ``status`` code (statusInfo)."""
        return _API[self]

    @classmethod
    def from_wps1(cls, element: str) -> JobState:
        """The state a WPS 1.0.0 status element says; KeyError for another element."""
        return _BY_WPS1[element]


_FINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.DISMISSED})
_WPS1 = {
    JobState.ACCEPTED: "ProcessAccepted",
    JobState.STARTED: "ProcessStarted",
    JobState.PAUSED: "ProcessPaused",
    JobState.SUCCEEDED: "ProcessSucceeded",
    JobState.FAILED: "ProcessFailed",
    JobState.DISMISSED: "ProcessFailed",
}
_BY_WPS1 = {tag: state for state, tag in reversed(_WPS1.items())}
_WPS2 = {
    JobState.ACCEPTED: "Accepted",
    JobState.STARTED: "Running",
    JobState.PAUSED: "Running",
    JobState.SUCCEEDED: "Succeeded",
    JobState.FAILED: "Failed",
    JobState.DISMISSED: "Dismissed",
}
_API = {
    JobState.ACCEPTED: "accepted",
    JobState.STARTED: "running",
    JobState.PAUSED: "running",
    JobState.SUCCEEDED: "successful",
    JobState.FAILED: "failed",
    JobState.DISMISSED: "dismissed",
}

#: the states that never change again
FINAL_STATES = _FINAL
#: the same, as OGC API - Processes status codes (what the JSON API and the client say)
FINAL_API_STATES = frozenset(state.api for state in _FINAL)
