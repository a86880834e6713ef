"""The rate budget of each HubSpot portal: core's (`crm_push.http.budget_for`), shared by every
process pushing to the portal when a Session configured a state database.

HubSpot counts every request of an app in one rolling 10 s window (100 on Free/Starter, 190 on
Professional/Enterprise) and CRM searches separately, 5 a second per account. So the budget has
two kinds of its own, ``ten_secondly`` (every request, reads and writes alike) and ``search``
(searches, which also draw on the window: whether they are exempt is unverified). The window's
size starts at the smallest tier and follows ``X-HubSpot-RateLimit-Max`` /
``-Interval-Milliseconds`` once HubSpot has said them; a 429 says which limit it hit in its body
(``policyName``) and holds that kind for every process.

``HUBSPOT_REQUESTS_PER_TEN_SECONDS`` and ``HUBSPOT_SEARCHES_PER_SECOND`` override the defaults
(``0`` or ``unlimited``: no client-side limit); a set value is not changed by the headers.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Mapping

import httpx
from crm_push.errors import ConfigurationError
from crm_push.http import Budget, budget_for, rate_from_env, reset_budgets
from crm_push.models import Connection

from .errors import SettingError

TEN_SECONDLY = "ten_secondly"
SEARCH = "search"

#: Free/Starter's window, until HubSpot's headers say the portal has more.
REQUESTS_PER_TEN_SECONDS = 100.0
SEARCHES_PER_SECOND = 5.0
WINDOW_ENV = "HUBSPOT_REQUESTS_PER_TEN_SECONDS"
SEARCH_ENV = "HUBSPOT_SEARCHES_PER_SECOND"

#: How long a 429 holds its budget when it carries no Retry-After, by its policyName.
#: [unverified] whether CRM 429s send Retry-After; the waits are those of HubSpot's Node SDK
#: (RetryDecorator: the ten-second window clears within 10 s, the secondly one within 1 s).
POLICY_WAITS = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0}
#: The daily limit resets at midnight in the portal's time zone: no retry helps today. A wait
#: above HttpClient's max_retry_wait ends the request with RetryLater at once.
DAILY_WAIT = 3600.0
#: A hold longer than this is not put on the shared budget: every process learns it from its
#: own 429 instead of sleeping for an hour inside acquire().
LONGEST_HOLD = 60.0


WINDOW_UNIT = "requests per ten seconds"
SEARCH_UNIT = "searches per second"


def _rate(name: str, default: float, unit: str) -> tuple[float | None, bool]:
    """(rate, whether the environment set it) from ``name``; a bad value is a SettingError."""
    try:
        rate = rate_from_env(name, default, unit=unit)
    except ConfigurationError as exc:
        raise SettingError(exc.message, next_step=exc.next_step) from None
    return rate, bool(os.environ.get(name, "").strip())


def check_settings() -> None:
    """Read HUBSPOT_REQUESTS_PER_TEN_SECONDS / HUBSPOT_SEARCHES_PER_SECOND now, so a bad value
    is one error at connect, not one per visitor."""
    _rate(WINDOW_ENV, REQUESTS_PER_TEN_SECONDS, WINDOW_UNIT)
    _rate(SEARCH_ENV, SEARCHES_PER_SECOND, SEARCH_UNIT)


def _body(response: httpx.Response) -> Mapping[str, object]:
    try:
        data = json.loads(response.content or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def throttle_wait(response: httpx.Response) -> float:
    """Seconds to wait after a 429 without Retry-After, by what its body says it hit."""
    body = _body(response)
    policy = str(body.get("policyName") or "").upper()
    if policy == "DAILY":
        return DAILY_WAIT
    if policy in POLICY_WAITS:
        return POLICY_WAITS[policy]
    # The search 429's policyName is unverified; its message is "…your secondly limit."
    if "secondly limit" in str(body.get("message") or "").lower():
        return POLICY_WAITS["SECONDLY"]
    return POLICY_WAITS["TEN_SECONDLY_ROLLING"]


class PortalBudget:
    """A portal's two HubSpot limits on core's budget: the ten-second window (learnt from the
    headers unless the environment fixed it) and the search one."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        window, self.window_fixed = _rate(WINDOW_ENV, REQUESTS_PER_TEN_SECONDS, WINDOW_UNIT)
        self.per_second: float | None = None if window is None else window / 10.0
        self.searches, _ = _rate(SEARCH_ENV, SEARCHES_PER_SECOND, SEARCH_UNIT)

    @property
    def budget(self) -> Budget:
        """Core's budget for the portal at the current rates, asked each time: it is the state
        database's when a Session registered one (and stays so only while it does)."""
        # Reads and writes are HubSpot's one window: core's own kinds stay unlimited.
        return budget_for(
            self.connection,
            writes_per_second=None,
            reads_per_second=None,
            extra={TEN_SECONDLY: self.per_second, SEARCH: self.searches},
        )

    def observe(self, response: httpx.Response) -> None:
        """Follow the window HubSpot says the portal has (X-HubSpot-RateLimit-Max per
        -Interval-Milliseconds; [unverified] beyond the local server's use of them)."""
        if self.window_fixed:
            return
        try:
            most = float(response.headers["X-HubSpot-RateLimit-Max"])
            interval = float(response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"])
        except (KeyError, ValueError):
            return
        if not (math.isfinite(most) and math.isfinite(interval)) or most <= 0 or interval <= 0:
            return
        # The shared budget's row is per kind, not per rate: every process keeps drawing on
        # the same window, at the new pace.
        self.per_second = most / (interval / 1000.0)
        if response.headers.get("X-HubSpot-RateLimit-Remaining", "").strip() == "0":
            # The window is full (another client of the token, say): hold every process for a
            # tenth of it rather than meet a 429 [the length is a guess: HubSpot does not say
            # when the oldest request leaves the window].
            self.budget.pause(TEN_SECONDLY, interval / 1000.0 / 10)


#: A slot a thread took ahead of its next request (`KindBudget.prepay`).
_prepaid = threading.local()


def forget_prepaid() -> None:
    """Drop a slot taken ahead that no request used."""
    _prepaid.slot = False


class KindBudget:
    """What one HttpClient draws on: every request takes a slot of the ten-second window; a
    search client's also takes a search slot. A 429 holds the kind it hit."""

    def __init__(self, portal: PortalBudget, *, search: bool = False) -> None:
        self.portal = portal
        self.search = search

    def prepay(self) -> float:
        """Wait for this client's next slot now, and let the next request of this thread use
        it: batches.py waits before it gathers a request, so callers arriving meanwhile join
        it instead of waiting for their own."""
        waited = self.acquire("write")
        _prepaid.slot = True
        return waited

    def acquire(self, kind: str) -> float:
        if getattr(_prepaid, "slot", False):
            _prepaid.slot = False
            return 0.0
        budget = self.portal.budget
        waited = budget.acquire(SEARCH) if self.search else 0.0
        return waited + budget.acquire(TEN_SECONDLY)

    def pause(self, kind: str, seconds: float) -> None:
        if seconds > LONGEST_HOLD:
            return
        budget = self.portal.budget
        if self.search:
            budget.pause(SEARCH, seconds)
        if not self.search or seconds >= POLICY_WAITS["TEN_SECONDLY_ROLLING"]:
            budget.pause(TEN_SECONDLY, seconds)  # the window's own 429 (a search's too)


_portals: dict[tuple[str, str], PortalBudget] = {}
_portals_lock = threading.Lock()


def portal_budget(connection: Connection) -> PortalBudget:
    """The one budget of a connection's portal in this process (core shares it further)."""
    key = (connection.destination, connection.workspace_id)
    with _portals_lock:
        portal = _portals.get(key)
        if portal is None:
            portal = _portals[key] = PortalBudget(connection)
        return portal


def reset_limits() -> None:
    """Forget every portal's budget: the next client reads HUBSPOT_* again (tests)."""
    with _portals_lock:
        _portals.clear()
    reset_budgets()
