"""HubSpot's limits: a rolling ten-second window per portal, a secondly one for search."""

from __future__ import annotations

import collections
import threading
import time


class RollingWindow:
    """At most `limit` requests in any `seconds`-long window; `limit` None: no limit."""

    def __init__(self, limit: int | None, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, int]:
        """(allowed, remaining after this request)."""
        if self.limit is None:
            return True, 0
        now = time.monotonic()
        with self._lock:
            while self._times and self._times[0] <= now - self.seconds:
                self._times.popleft()
            if len(self._times) >= self.limit:
                return False, 0
            self._times.append(now)
            return True, self.limit - len(self._times)

    def retry_after(self) -> float:
        with self._lock:
            if not self._times:
                return 0.0
            return max(0.0, self._times[0] + self.seconds - time.monotonic())
