"""HTTP counters of one client: requests, reads, writes, retries, 429s, waits."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields


@dataclass
class HttpStats:
    """Counters for one client; safe to update from many threads.

    ``requests`` counts attempts sent (retries included), split into ``reads``/``writes``.
    ``throttled`` = 429 answers, ``server_errors`` = 5xx answers, ``timeouts`` = httpx timeouts,
    ``transport_errors`` = other connection failures, ``retries`` = attempts repeated,
    ``limiter_wait_seconds`` = time spent waiting for the client-side rate limiter.
    """

    requests: int = 0
    reads: int = 0
    writes: int = 0
    retries: int = 0
    throttled: int = 0
    server_errors: int = 0
    timeouts: int = 0
    transport_errors: int = 0
    limiter_wait_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: float) -> None:
        """Add to several counters at once, atomically."""
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def as_dict(self) -> dict[str, int | float]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_lock"}
