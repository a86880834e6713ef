"""Client-side rate limits: a pausable sliding window per budget (reads, writes)."""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Literal

from crm_push.errors import ConfigurationError

Kind = Literal["read", "write"]

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
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.writes_per_second = self._checked("writes_per_second", writes_per_second)
        self.reads_per_second = self._checked("reads_per_second", reads_per_second)
        self._buckets: dict[str, _SlidingWindow | None] = {
            "write": None
            if self.writes_per_second is None
            else _SlidingWindow(self.writes_per_second, clock, sleep),
            "read": None
            if self.reads_per_second is None
            else _SlidingWindow(self.reads_per_second, clock, sleep),
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
        env = os.environ if environ is None else environ
        stem = prefix.strip().rstrip("_").upper()

        def read(suffix: str, default: float | None) -> float | None:
            name = f"{stem}_{suffix}"
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
                    next_step=f"set {name} to a positive number of requests per second, "
                    "0 or 'unlimited'",
                )
            return value

        return cls(
            writes_per_second=read("WRITES_PER_SECOND", default_writes),
            reads_per_second=read("READS_PER_SECOND", default_reads),
        )

    def acquire(self, kind: Kind) -> float:
        """Block until the ``kind`` budget has a free slot; return the seconds waited."""
        bucket = self._buckets[kind]
        return 0.0 if bucket is None else bucket.acquire()

    def pause(self, kind: Kind, seconds: float) -> None:
        """Hold every thread's ``kind`` requests for ``seconds`` (after a 429)."""
        bucket = self._buckets[kind]
        if bucket is not None and seconds > 0:
            bucket.pause(seconds)

    def __repr__(self) -> str:
        return (
            f"RateLimits(writes_per_second={self.writes_per_second!r}, "
            f"reads_per_second={self.reads_per_second!r})"
        )
