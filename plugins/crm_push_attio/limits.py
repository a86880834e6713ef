"""The rate budget of each Attio workspace in this process (until core shares one)."""

from __future__ import annotations

import threading

from crm_push.http import RateLimits

# Attio's limits (25 writes/s, 100 reads/s) are "across the whole API"; budget them per
# workspace, shared by every client of this process that writes to that workspace.
_LIMITS: dict[str, RateLimits] = {}
_LIMITS_LOCK = threading.Lock()


def workspace_limits(workspace_id: str) -> RateLimits:
    """The one rate budget of a workspace in this process (ATTIO_*_PER_SECOND override)."""
    with _LIMITS_LOCK:
        limits = _LIMITS.get(workspace_id)
        if limits is None:
            limits = _LIMITS[workspace_id] = RateLimits.from_env("ATTIO", 25, 100)
        return limits


def reset_limits() -> None:
    """Forget every workspace's budget: the next client reads ATTIO_*_PER_SECOND again."""
    with _LIMITS_LOCK:
        _LIMITS.clear()
