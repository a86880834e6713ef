"""The rate budget of each Attio workspace in this process (until core shares one)."""

from __future__ import annotations

import threading

from crm_push.errors import ConfigurationError
from crm_push.http import Kind, RateLimits

from .errors import SettingError

#: Attio's own limit of GET /v2/notes ("temporarily rate limited to 10 requests per second").
NOTES_LIST_PER_SECOND = 10.0
#: Attio's limits: 25 writes and 100 reads a second per workspace.
WRITES_PER_SECOND = 25.0
READS_PER_SECOND = 100.0
# Attio's limits (25 writes/s, 100 reads/s) are "across the whole API"; budget them per
# workspace, shared by every client of this process that writes to that workspace.
_LIMITS: dict[str, RateLimits] = {}
_NOTES_LIMITS: dict[str, RateLimits] = {}
_LIMITS_LOCK = threading.Lock()


def from_env() -> RateLimits:
    """Attio's budget with the ATTIO_WRITES_PER_SECOND / ATTIO_READS_PER_SECOND overrides; a
    bad value is a SettingError naming the variable and the fix."""
    try:
        return RateLimits.from_env("ATTIO", WRITES_PER_SECOND, READS_PER_SECOND)
    except ConfigurationError as exc:
        raise SettingError(exc.message, next_step=exc.next_step) from None


def check_settings() -> None:
    """Read ATTIO_*_PER_SECOND now, so a bad value is one error at connect, before any visitor
    (not a failure of each visitor, nor silence when nothing is written)."""
    from_env()


def workspace_limits(workspace_id: str) -> RateLimits:
    """The one rate budget of a workspace in this process (ATTIO_*_PER_SECOND override)."""
    with _LIMITS_LOCK:
        limits = _LIMITS.get(workspace_id)
        if limits is None:
            limits = _LIMITS[workspace_id] = from_env()
        return limits


def reset_limits() -> None:
    """Forget every workspace's budget: the next client reads ATTIO_*_PER_SECOND again."""
    with _LIMITS_LOCK:
        _LIMITS.clear()
        _NOTES_LIMITS.clear()


class NotesListLimits(RateLimits):
    """Listing notes: Attio's 10/s limit of GET /v2/notes, and the workspace's read budget
    too. Same interface (`acquire(kind)`, `pause(kind, seconds)`), so it stands behind any
    `RateLimits`, a shared database-backed one included. A 429 pauses the notes budget only."""

    def __init__(self, workspace: RateLimits, per_second: float = NOTES_LIST_PER_SECOND) -> None:
        super().__init__(reads_per_second=per_second)
        self.workspace = workspace

    def acquire(self, kind: Kind) -> float:
        return super().acquire("read") + self.workspace.acquire(kind)

    def pause(self, kind: Kind, seconds: float) -> None:
        super().pause("read", seconds)


def notes_list_limits(workspace_id: str) -> RateLimits:
    """The notes-listing budget of a workspace in this process, on top of its read budget."""
    workspace = workspace_limits(workspace_id)
    with _LIMITS_LOCK:
        limits = _NOTES_LIMITS.get(workspace_id)
        if limits is None:
            limits = _NOTES_LIMITS[workspace_id] = NotesListLimits(workspace)
        return limits
