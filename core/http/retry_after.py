"""Retry-After in both RFC 9110 forms (delta-seconds and HTTP-date), against the server's clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

_DELTA_SECONDS = re.compile(r"^\d+(?:\.\d+)?$")


def _parse_http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # asctime-style dates carry no zone; RFC 9110 says HTTP dates are always GMT.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value, or None when absent or unreadable.

    Both RFC 9110 forms: delta-seconds (``"120"``; a decimal like ``"1.5"`` is tolerated) and an
    HTTP-date (``"Wed, 21 Oct 2026 07:28:00 GMT"``, also the obsolete RFC 850 and asctime forms).
    A date in the past gives 0. ``now`` (default: the current UTC time) is the reference for
    dates; a naive ``now`` is taken as UTC.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if _DELTA_SECONDS.match(value):
        return float(value)
    when = _parse_http_date(value)
    if when is None:
        return None
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def response_retry_after(response: httpx.Response) -> float | None:
    """Retry-After of a response; an HTTP date is measured against the response's own ``Date``.

    Using the server's clock for both ends cancels any skew between its clock and ours.
    """
    server_now = _parse_http_date(response.headers.get("Date", ""))
    return retry_after_seconds(response.headers.get("Retry-After"), now=server_now)
