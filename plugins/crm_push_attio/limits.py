"""The rate budget of each Attio workspace in this process (until core shares one)."""

from __future__ import annotations

import threading

from crm_push.errors import ConfigurationError
from crm_push.http import RateLimits

from .errors import SettingError

#: Attio's limits: 25 writes and 100 reads a second per workspace.
WRITES_PER_SECOND = 25.0
READS_PER_SECOND = 100.0
# Attio's limits (25 writes/s, 100 reads/s) are "across the whole API"; budget them per
# workspace, shared by every client of this process that writes to that workspace.
_LIMITS: dict[str, RateLimits] = {}
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
