"""The rate budget of each Attio workspace: core's (`crm_push.http.budget_for`), shared by every
process pushing to the workspace when a Session configured a state database."""

from __future__ import annotations

from crm_push.errors import ConfigurationError
from crm_push.http import Budget, RateLimits, budget_for, reset_budgets
from crm_push.models import Connection

from .errors import SettingError

#: Attio's limits: 25 writes and 100 reads a second per workspace ("across the whole API").
WRITES_PER_SECOND = 25.0
READS_PER_SECOND = 100.0
#: GET /v2/notes has a budget of its own: 10 a second.
NOTES_PER_SECOND = 10.0


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


def workspace_limits(connection: Connection) -> Budget:
    """The one rate budget of a connection's workspace (ATTIO_*_PER_SECOND override)."""
    rates = from_env()
    return budget_for(
        connection,
        writes_per_second=rates.writes_per_second,
        reads_per_second=rates.reads_per_second,
        extra={"notes": NOTES_PER_SECOND},
    )


def reset_limits() -> None:
    """Forget every workspace's budget: the next client reads ATTIO_*_PER_SECOND again."""
    reset_budgets()


class NotesListLimits:
    """Listing notes: Attio's own limit of GET /v2/notes ("temporarily rate limited to 10
    requests per second") on top of the workspace's read budget. A Budget like any other, so
    the shared, database-backed one stands behind it; a 429 holds the notes budget only."""

    def __init__(self, workspace: Budget) -> None:
        self.workspace = workspace

    def acquire(self, kind: str) -> float:
        return self.workspace.acquire("notes") + self.workspace.acquire(kind)

    def pause(self, kind: str, seconds: float) -> None:
        self.workspace.pause("notes", seconds)


def notes_list_limits(connection: Connection) -> Budget:
    """The notes-listing budget of a connection's workspace, on top of its read budget."""
    return NotesListLimits(workspace_limits(connection))
