"""Client-side rate limits: the `Budget` protocol HttpClient draws on, `RateLimits` (a pausable
sliding window per kind in this process) and `budget_for` (a workspace's budget: shared through
the state database when a Session configured one, else this process's `RateLimits`)."""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from crm_push.errors import ConfigurationError

if TYPE_CHECKING:
    from crm_push.models.crm import Connection

Kind = Literal["read", "write"]

#: Which budget a process draws on: "shared" (default: the state database's, when a Session
#: configured one) or "process" (each process its own, as before; for comparisons).
BUDGET_ENV = "CRM_PUSH_BUDGET"


@runtime_checkable
class Budget(Protocol):
    """What HttpClient calls on a rate budget. ``kind`` is "read", "write" or an extra kind the
    destination declared."""

    def acquire(self, kind: str) -> float:
        """Block until a request of ``kind`` may be sent; return the seconds waited."""
        ...

    def pause(self, kind: str, seconds: float) -> None:
        """Hold every ``kind`` request for ``seconds`` (a 429's Retry-After)."""
        ...


# Why a small hand-written limiter rather than pyrate-limiter 4.x (installed, and read for this):
# * Its limits are integers per integer-millisecond interval; ours come as floats per second.
# * A 429 must pause the whole budget until Retry-After for every thread. pyrate has no "closed
#   until T" state, only counting, so it would need a second mechanism next to it anyway.
# * Its sync in-memory limiter starts a background "leaker" thread per bucket that lives until
#   close(); a RateLimits shared by several clients has no natural owner to close it.
# * Its blocking path sleeps with time.sleep (not injectable) and, after sleeping, records the
#   planned wake-up time rather than the clock reading, so an oversleep can record a start
#   earlier than it really was, and the next window can then admit one too many.
# The sliding-window log below is ~40 lines, records the clock at admission under a lock, and so
# guarantees at most N admissions in ANY window of one second - no burst above N.


# A request admitted here reaches the server a moment later, and thread scheduling spreads
# arrivals unevenly; a window slightly longer than the server's second keeps arrivals under its
# limit instead of bouncing off it with 429s (measured: see docs/performance.md).
WINDOW_MARGIN = 0.05


class _SlidingWindow:
    """At most ``limit`` admissions in any half-open span of ``window`` seconds; pausable."""

    def __init__(
        self, per_second: float, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        if per_second >= 1:
            # Round down: 2.5/s admits 2 per second and stays under the server's limit.
            self.limit, self.window = int(per_second), 1.0 + WINDOW_MARGIN
        else:
            self.limit, self.window = 1, 1.0 / per_second + WINDOW_MARGIN
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # The last `limit` admission times, oldest first.
        self._starts: deque[float] = deque(maxlen=self.limit)
        self._paused_until = -math.inf

    def acquire(self) -> float:
        """Block until a slot is free and take it. Returns the seconds spent waiting."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._paused_until - now
                if wait <= 0:
                    if len(self._starts) < self.limit:
                        wait = 0.0
                    else:
                        # The oldest of the last N must leave the window before one more fits.
                        wait = self._starts[0] + self.window - now
                    if wait <= 0:
                        self._starts.append(now)
                        return waited
            # Sleep without the lock so other threads can check (and the pause can be extended).
            self._sleep(wait)
            waited += wait

    def pause(self, seconds: float) -> None:
        """Admit nothing for ``seconds`` from now (never shortens an existing pause)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


_UNLIMITED_WORDS = frozenset({"0", "unlimited", "none", "off", "no"})


def rate_from_env(
    name: str,
    default: float | None,
    environ: Mapping[str, str] | None = None,
    *,
    unit: str = "requests per second",
) -> float | None:
    """A request rate from the environment variable `name`: unset or empty -> `default`;
    ``0`` or ``unlimited`` -> None (no limit); anything else a positive number, or
    ConfigurationError names the variable to fix."""
    env = os.environ if environ is None else environ
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() in _UNLIMITED_WORDS:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ConfigurationError(
            f"{name}={raw!r} is not a request rate",
            next_step=f"set {name} to a positive number of {unit}, 0 or 'unlimited'",
        )
    return value


class RateLimits:
    """Request budgets for one server-side quota (e.g. one Attio workspace), shared by threads.

    ``writes_per_second`` / ``reads_per_second``: None or 0 means unlimited. Fractional rates
    below 1 are honoured (0.5 = one request every 2 s); above 1 they round down, so the client
    stays under the server's limit. ``clock`` and ``sleep`` exist for tests and must agree
    with each other (``clock`` is monotonic seconds).
    """

    def __init__(
        self,
        writes_per_second: float | None = None,
        reads_per_second: float | None = None,
        *,
        extra: Mapping[str, float | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.writes_per_second = self._checked("writes_per_second", writes_per_second)
        self.reads_per_second = self._checked("reads_per_second", reads_per_second)
        #: Every kind's rate (None: unlimited), extra kinds included.
        self.rates: dict[str, float | None] = {
            "write": self.writes_per_second,
            "read": self.reads_per_second,
        }
        for name, rate in (extra or {}).items():
            self.rates[name] = self._checked(name, rate)
        self._buckets: dict[str, _SlidingWindow | None] = {
            name: None if rate is None else _SlidingWindow(rate, clock, sleep)
            for name, rate in self.rates.items()
        }

    @staticmethod
    def _checked(name: str, value: float | None) -> float | None:
        if value is None or value == 0:
            return None
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a positive number, 0 or None (unlimited)")
        return value

    @classmethod
    def from_env(
        cls,
        prefix: str,
        default_writes: float | None,
        default_reads: float | None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> RateLimits:
        """Read ``{PREFIX}_WRITES_PER_SECOND`` and ``{PREFIX}_READS_PER_SECOND``.

        Unset or empty -> the default. ``0`` or ``unlimited`` -> no limit. Anything else must
        be a positive number, or :class:`~crm_push.errors.ConfigurationError` names the
        variable to fix.
        """
        stem = prefix.strip().rstrip("_").upper()

        def read(suffix: str, default: float | None) -> float | None:
            return rate_from_env(f"{stem}_{suffix}", default, environ)

        return cls(
            writes_per_second=read("WRITES_PER_SECOND", default_writes),
            reads_per_second=read("READS_PER_SECOND", default_reads),
        )

    def _bucket(self, kind: str) -> _SlidingWindow | None:
        try:
            return self._buckets[kind]
        except KeyError:
            raise ValueError(f"no {kind!r} budget (declared: {sorted(self._buckets)})") from None

    def acquire(self, kind: str) -> float:
        """Block until the ``kind`` budget has a free slot; return the seconds waited."""
        bucket = self._bucket(kind)
        return 0.0 if bucket is None else bucket.acquire()

    def pause(self, kind: str, seconds: float) -> None:
        """Hold every thread's ``kind`` requests for ``seconds`` (after a 429)."""
        bucket = self._bucket(kind)
        if bucket is not None and seconds > 0:
            bucket.pause(seconds)

    def __repr__(self) -> str:
        return (
            f"RateLimits(writes_per_second={self.writes_per_second!r}, "
            f"reads_per_second={self.reads_per_second!r})"
        )


_budgets: dict[tuple[object, ...], Budget] = {}
_budgets_lock = threading.Lock()


def budget_for(
    connection: Connection,
    *,
    writes_per_second: float | None,
    reads_per_second: float | None,
    extra: Mapping[str, float | None] | None = None,
) -> Budget:
    """The rate budget of ``connection``'s destination and workspace, for its HttpClients.

    When a `Session` configured a state database for that workspace (any `crm-push` command,
    or a host app's Session), the budget lives in that database and every process and machine
    pushing to the workspace shares it (PostgreSQL: any number of machines; a SQLite file: the
    processes of one machine); a 429's Retry-After then holds it for all of them. Otherwise
    (a plugin used without a Session, a state database in memory or read-only, or
    ``CRM_PUSH_BUDGET=process``) it is one `RateLimits` of this process. The same arguments
    return the same object. Rates: requests per second, None or 0 unlimited; ``extra`` names
    further kinds (e.g. ``{"notes": 10}``) that ``acquire(kind)`` accepts besides "read" and
    "write".
    """
    from crm_push.state import budget as shared
    from crm_push.state import database

    url = shared.registered_url(connection.destination, connection.workspace_id)
    mode = os.environ.get(BUDGET_ENV, "").strip().lower() or "shared"
    if mode not in ("shared", "process"):
        raise ConfigurationError(
            f"{BUDGET_ENV}={mode!r} is not a budget mode",
            next_step=f"set {BUDGET_ENV} to 'shared' (the default) or 'process'",
        )
    if url is not None and (
        mode == "process" or database.is_in_memory(url) or database.is_read_only(url)
    ):
        url = None
    rates = tuple(sorted((extra or {}).items()))
    key = (
        connection.destination,
        connection.workspace_id,
        url,
        writes_per_second,
        reads_per_second,
        rates,
    )
    with _budgets_lock:
        budget = _budgets.get(key)
        if budget is None:
            if url is None:
                budget = RateLimits(writes_per_second, reads_per_second, extra=extra)
            else:
                budget = shared.SharedBudget(
                    connection.destination,
                    connection.workspace_id,
                    url,
                    writes_per_second=writes_per_second,
                    reads_per_second=reads_per_second,
                    extra=extra,
                )
            _budgets[key] = budget
        return budget


def reset_budgets() -> None:
    """Forget this process's budgets: the next `budget_for` makes new ones (tests)."""
    with _budgets_lock:
        _budgets.clear()
