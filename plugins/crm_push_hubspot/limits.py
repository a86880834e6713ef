"""The rate budget of each HubSpot portal in this process (until core shares one).

HubSpot allows 100 requests per rolling 10 s per private app on Free/Starter (190 on
Professional/Enterprise) and 5 searches a second per account. The budget here stays under the
smallest: 5 writes + 4 reads a second (searches are reads). HUBSPOT_WRITES_PER_SECOND and
HUBSPOT_READS_PER_SECOND override it.
"""

from __future__ import annotations

import threading

from crm_push.errors import ConfigurationError
from crm_push.http import RateLimits

from .errors import SettingError

WRITES_PER_SECOND = 5.0
READS_PER_SECOND = 4.0
_LIMITS: dict[str, RateLimits] = {}
_LOCK = threading.Lock()


def from_env() -> RateLimits:
    try:
        return RateLimits.from_env("HUBSPOT", WRITES_PER_SECOND, READS_PER_SECOND)
    except ConfigurationError as exc:
        raise SettingError(exc.message, next_step=exc.next_step) from None


def portal_limits(portal_id: str) -> RateLimits:
    """The one budget of a portal in this process."""
    with _LOCK:
        limits = _LIMITS.get(portal_id)
        if limits is None:
            limits = _LIMITS[portal_id] = from_env()
        return limits


def reset_limits() -> None:
    with _LOCK:
        _LIMITS.clear()
