"""Per-workspace rate limits (sliding one-second windows) and injected failures for tests."""

from __future__ import annotations

import collections
import math
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate

from .errors import ApiError


def http_date(epoch: float) -> str:
    """RFC 7231 IMF-fixdate, the form of Attio's Retry-After."""
    return formatdate(epoch, usegmt=True)


class SlidingWindow:
    """At most `rate` accepted requests in any one-second window; None = unlimited."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._stamps: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def acquire(self, now: float | None = None) -> float | None:
        """Take a slot and return None, or return when a slot frees (rejected, not counted)."""
        if self.rate is None:
            return None
        now = time.time() if now is None else now
        with self._lock:
            while self._stamps and self._stamps[0] <= now - 1.0:
                self._stamps.popleft()
            if len(self._stamps) < self.rate:
                self._stamps.append(now)
                return None
            return self._stamps[0] + 1.0


def rate_limited(frees_at: float) -> ApiError:
    # Attio sends an HTTP date, usually the next second; here the first whole second at
    # which the window has room again, so a client honouring it is let through.
    retry = http_date(math.ceil(frees_at))
    return ApiError(
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
        "Rate limit exceeded, please try again later.",
        headers={"Retry-After": retry},
    )


@dataclass
class _Rule:
    remaining: int
    status: int
    path_prefix: str | None
    method: str | None
    retry_after_seconds: float | None


_FAILURES = {
    # A user-level token whose member lacks permission: every scope granted, still 403.
    403: (
        "auth_error",
        "unauthorized",
        "You do not have permission to perform this action.",
    ),
    409: (
        "invalid_request_error",
        "concurrent_write_conflict",
        "The record was modified by another request while this write was being validated. "
        "Please try again.",
    ),
    429: (
        "rate_limit_error",
        "rate_limit_exceeded",
        "Rate limit exceeded, please try again later.",
    ),
    500: ("internal_server_error", "internal_server_error", "An unexpected error occurred."),
    502: ("internal_server_error", "bad_gateway", "Bad gateway."),
    503: ("internal_server_error", "service_unavailable", "Service temporarily unavailable."),
}


class FailureInjector:
    """Makes the next n matching requests fail before they are processed."""

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()

    def add(
        self,
        n: int,
        status: int,
        path_prefix: str | None,
        method: str | None,
        retry_after_seconds: float | None,
    ) -> None:
        with self._lock:
            self._rules.append(
                _Rule(
                    n, status, path_prefix, method.upper() if method else None, retry_after_seconds
                )
            )

    def take(self, method: str, path: str) -> ApiError | None:
        with self._lock:
            for rule in self._rules:
                if rule.remaining <= 0:
                    continue
                if rule.path_prefix is not None and not path.startswith(rule.path_prefix):
                    continue
                if rule.method is not None and rule.method != method:
                    continue
                rule.remaining -= 1
                self._rules = [r for r in self._rules if r.remaining > 0]
                return _failure(rule)
        return None


def _failure(rule: _Rule) -> ApiError:
    type_, code, message = _FAILURES.get(
        rule.status, ("invalid_request_error", "injected_failure", "Injected failure.")
    )
    headers: dict[str, str] = {}
    if rule.status == 429:
        if rule.retry_after_seconds is not None:
            headers["Retry-After"] = str(math.ceil(rule.retry_after_seconds))
        else:
            headers["Retry-After"] = http_date(math.floor(time.time()) + 1)
    return ApiError(rule.status, type_, code, message, headers=headers)
