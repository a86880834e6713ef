"""The one shared way plugins talk HTTP: limits, retries, typed errors, no leaked secrets.

    limits = RateLimits(writes_per_second=25.0, reads_per_second=100.0)
    with HttpClient("https://api.attio.com", headers={"Authorization": "Bearer …"},
                    limits=limits) as client:
        data = client.json("GET", "/v2/self")

* Client-side rate limiting per :class:`RateLimits` instance (share one instance between clients
  that draw on the same server budget), separately for reads and writes.
* Retries: 429 waits ``Retry-After`` (seconds or HTTP date; 1 s when absent) and pauses that
  budget for every thread; 5xx, timeouts and connection failures back off exponentially with
  jitter. Other 4xx are never retried. When retries run out: :class:`~crm_push.errors.RetryLater`.
* Non-2xx answers become typed errors (see :meth:`HttpClient.request`).
* Headers are never logged, and header secrets are scrubbed from every message we build.
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib import metadata
from types import TracebackType
from typing import Any, Literal, Self

import httpx
from crm_push.errors import CrmPushError, Fatal, InvalidInput, ReconnectRequired, RetryLater

__all__ = ["HttpClient", "HttpStats", "Kind", "RateLimits", "retry_after_seconds"]

logger = logging.getLogger("crm_push.http")

Kind = Literal["read", "write"]

#: Methods that count against the read budget when ``kind`` is not given.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Status codes the default mapping treats as "fix the input".
INPUT_STATUSES = frozenset({400, 404, 409, 422})
#: When Retry-After is absent on a 429, wait this long (seconds).
DEFAULT_THROTTLE_WAIT = 1.0
#: Longest excerpt of a response body quoted in an error message.
BODY_EXCERPT_CHARS = 300

ErrorFor = Callable[[httpx.Response], CrmPushError | None]
IsRetriable = Callable[[httpx.Response], bool | None]


def _package_version() -> str:
    try:
        return metadata.version("crm-push")
    except metadata.PackageNotFoundError:  # running from a source tree without metadata
        return "0"


# --------------------------------------------------------------------------------------------
# Retry-After
# --------------------------------------------------------------------------------------------

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


def _response_retry_after(response: httpx.Response) -> float | None:
    """Retry-After of a response; an HTTP date is measured against the response's own ``Date``.

    Using the server's clock for both ends cancels any skew between its clock and ours.
    """
    server_now = _parse_http_date(response.headers.get("Date", ""))
    return retry_after_seconds(response.headers.get("Retry-After"), now=server_now)


# --------------------------------------------------------------------------------------------
# Client-side rate limiting
# --------------------------------------------------------------------------------------------
#
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
        be a positive number, or :class:`~crm_push.errors.Fatal` says which variable to fix.
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
                raise Fatal(
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


# --------------------------------------------------------------------------------------------
# Stats
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------

_SECRET_HEADER = re.compile(r"auth|token|secret|key|cookie|session|password", re.IGNORECASE)
_MIN_SECRET_CHARS = 6  # shorter values would redact ordinary words; real tokens are long


def _secrets_in(headers: Mapping[str, str]) -> tuple[str, ...]:
    found: set[str] = set()
    for name, value in headers.items():
        if not _SECRET_HEADER.search(name):
            continue
        value = str(value).strip()
        found.add(value)
        # "Bearer abc" -> also "abc", in case a server echoes the bare token.
        scheme, _, credential = value.partition(" ")
        if credential and scheme.isalpha():
            found.add(credential.strip())
    # Longest first so a token inside "Bearer token" is replaced as a whole.
    return tuple(sorted((s for s in found if len(s) >= _MIN_SECRET_CHARS), key=len, reverse=True))


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------


class HttpClient:
    """A thread-safe HTTP client with rate limits, retries and typed errors.

    One instance (one pooled :class:`httpx.Client`) is meant to be shared by all worker threads.

    Retries (at most ``max_retries`` after the first attempt):

    * 429: wait ``Retry-After`` (1 s if absent) and pause this budget in ``limits`` for every
      thread. A 429 means the request was not processed, so any method is retried.
    * 5xx, ``is_retriable(response)`` true, timeouts and connection failures: jittered
      exponential backoff (``Retry-After`` wins when the server sends one).
      A write (POST/PUT/PATCH/DELETE) that timed out may have been applied by the server; it is
      retried anyway, so callers must make writes idempotent (e.g. Attio's assert/upsert).
    * A requested wait longer than ``max_retry_wait`` is not slept through: RetryLater at once.
    * When retries run out: :class:`~crm_push.errors.RetryLater` (never the ``error_for`` hook).

    Other non-2xx answers: ``error_for(response)`` if given and not None, else the default
    mapping: 401 -> ReconnectRequired, 403 -> Fatal (permissions), 400/404/409/422 ->
    InvalidInput (``code`` from a JSON body's ``"code"``), anything else -> Fatal.

    Headers are never logged; header secrets are scrubbed from every message this class builds.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        limits: RateLimits | None = None,
        timeout: float | httpx.Timeout = 30.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        user_agent: str | None = None,
        error_for: ErrorFor | None = None,
        is_retriable: IsRetriable | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        *,
        name: str | None = None,
        max_retry_wait: float = 60.0,
        max_connections: int = 64,
        rng: random.Random | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        """`auth`: an httpx auth flow (e.g. a bearer token that refreshes itself on a 401);
        if it has a `secret_values()` method, those values are scrubbed from messages too."""
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.limits = limits
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_wait = max_retry_wait
        self.stats = HttpStats()
        self._error_for = error_for
        self._is_retriable = is_retriable
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._secrets = _secrets_in(headers or {})
        self._auth = auth
        merged = {
            "Accept": "application/json",
            **(headers or {}),
            "User-Agent": user_agent or f"crm-push/{_package_version()}",
        }
        self._client = httpx.Client(
            base_url=base_url,
            headers=merged,
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
            auth=auth,
            follow_redirects=False,  # a redirect from an API is unexpected; never resend auth
        )
        # Used in messages: "api.attio.com answered 400 …" unless the plugin names itself.
        self.name = name or self._client.base_url.host or base_url

    # -- public ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        kind: Kind | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
    ) -> httpx.Response:
        """Send a request, with limits and retries; return the response if it is 2xx.

        ``kind`` picks the budget: "read" or "write"; None -> GET/HEAD/OPTIONS read, else write.
        Raises a :class:`~crm_push.errors.CrmPushError` subclass for anything else.
        """
        method = method.upper()
        if kind is None:
            kind = "read" if method in READ_METHODS else "write"
        elif kind not in ("read", "write"):
            raise ValueError(f"kind must be 'read', 'write' or None, not {kind!r}")
        shown = path.split("?", 1)[0]  # queries may carry personal data: keep them out of logs
        retries = 0
        while True:
            if self.limits is not None:
                waited = self.limits.acquire(kind)
                if waited:
                    self.stats.add(limiter_wait_seconds=waited)
            self.stats.add(requests=1, **{"reads" if kind == "read" else "writes": 1})
            started = time.perf_counter()
            try:
                response = self._client.request(
                    method, path, params=params, json=json, headers=headers, content=content
                )
            except httpx.TimeoutException as exc:
                self.stats.add(timeouts=1)
                problem = f"timed out ({type(exc).__name__})"
                self._log_failure(method, shown, problem, started)
                last: _Failure = _Failure(problem, maybe_applied=_maybe_sent(exc))
                wait = self._backoff(retries)
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                self.stats.add(transport_errors=1)
                problem = f"could not be reached ({type(exc).__name__})"
                self._log_failure(method, shown, problem, started)
                last = _Failure(problem, maybe_applied=_maybe_sent(exc))
                wait = self._backoff(retries)
            except httpx.HTTPError as exc:
                # Bad URL, unsupported scheme, local protocol misuse: a retry will not help.
                raise Fatal(
                    self._redact(f"{method} {shown} to {self.name} failed: {exc}"),
                    next_step="check the destination's base URL and settings",
                ) from None
            else:
                status = response.status_code
                elapsed_ms = (time.perf_counter() - started) * 1000
                logger.debug("%s %s -> %d in %.0f ms", method, shown, status, elapsed_ms)
                if response.is_success:
                    return response
                retry_after = _response_retry_after(response)
                if status == 429:
                    self.stats.add(throttled=1)
                    wait = DEFAULT_THROTTLE_WAIT if retry_after is None else retry_after
                    if self.limits is not None:
                        self.limits.pause(kind, wait)  # stop the other threads hammering too
                elif status >= 500:
                    self.stats.add(server_errors=1)
                    wait = self._backoff(retries) if retry_after is None else retry_after
                elif self._is_retriable is not None and self._is_retriable(response):
                    wait = self._backoff(retries) if retry_after is None else retry_after
                else:
                    raise self._error(response, method, shown)
                detail = "throttled" if status == 429 else self._describe(response)[1]
                last = _Failure(f"{status} ({detail})", status=status)

            if retries >= self.max_retries:
                raise self._exhausted(last, method, shown, kind, retries, wait)
            if wait > self.max_retry_wait:
                raise RetryLater(
                    f"{self.name} asked to wait {wait:.0f}s after {method} {shown} "
                    f"answered {last.what}",
                    retry_after=wait,
                    next_step=self._retry_next_step(last, kind),
                )
            retries += 1
            self.stats.add(retries=1)
            logger.info(
                "%s %s %s; retry %d/%d in %.2fs",
                method,
                shown,
                f"got {last.what}" if last.status else last.what,
                retries,
                self.max_retries,
                wait,
            )
            self._sleep(wait)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """``request(...)`` then the parsed JSON body (None for an empty body)."""
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise Fatal(
                f"{self.name} answered {response.status_code} to {method.upper()} "
                f"{path.split('?', 1)[0]} with a body that is not JSON",
                next_step="check the destination's base URL; it may not point at the API",
            ) from None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:  # never the headers
        return f"HttpClient(base_url={self.base_url!r})"

    # -- internals ------------------------------------------------------------------------

    def _backoff(self, retries: int) -> float:
        """Exponential backoff with "equal jitter": in [cap/2, cap], so it really backs off
        while still spreading threads that failed together."""
        cap = min(self.backoff_max, self.backoff_base * 2 ** min(retries, 32))
        return cap * (0.5 + self._rng.random() / 2)

    def _redact(self, text: str) -> str:
        secrets = self._secrets
        auth_secrets = getattr(self._auth, "secret_values", None)
        if callable(auth_secrets):
            secrets = (*secrets, *(s for s in auth_secrets() if len(s) >= _MIN_SECRET_CHARS))
        for secret in secrets:
            text = text.replace(secret, "***")
        return text

    def _describe(self, response: httpx.Response) -> tuple[str | None, str]:
        """(code, short human detail) from an error body, JSON or not, secrets removed."""
        code: str | None = None
        detail = ""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            if body.get("code") is not None:
                code = str(body["code"])
            for key in ("message", "error_description", "error", "detail"):
                if isinstance(body.get(key), str) and body[key].strip():
                    detail = body[key]
                    break
        if not detail:
            detail = response.text
        detail = " ".join(detail.split())
        if len(detail) > BODY_EXCERPT_CHARS:
            detail = detail[: BODY_EXCERPT_CHARS - 1] + "…"
        detail = detail or response.reason_phrase or "no details"
        if code and code not in detail:
            detail = f"{code}: {detail}"
        return (self._redact(code) if code else None), self._redact(detail)

    def _error(self, response: httpx.Response, method: str, shown: str) -> CrmPushError:
        if self._error_for is not None:
            mapped = self._error_for(response)
            if mapped is not None:
                return mapped
        status = response.status_code
        code, detail = self._describe(response)
        message = f"{self.name} answered {status} to {method} {shown}: {detail}"
        if status == 401:
            return ReconnectRequired(message)
        if status == 403:
            return Fatal(
                message,
                next_step="check that the token or app has permission for this call "
                "(scopes, workspace access), then reconnect",
            )
        if status in INPUT_STATUSES:
            return InvalidInput(message, code=code)
        return Fatal(message)

    def _exhausted(
        self, last: _Failure, method: str, shown: str, kind: Kind, retries: int, wait: float
    ) -> RetryLater:
        if last.status is None:  # timeout or connection failure
            message = f"{method} {shown} to {self.name} {last.what}, still after {retries} retries"
        else:
            message = f"{self.name} kept answering {last.what} to {method} {shown} "
            message += f"after {retries} retries"
        return RetryLater(
            message,
            retry_after=wait,
            next_step=self._retry_next_step(last, kind),
        )

    @staticmethod
    def _retry_next_step(last: _Failure, kind: Kind) -> str | None:
        if last.maybe_applied and kind == "write":
            # The default next step says "not applied"; after a timeout we cannot know.
            return "retry later; the write may already have been applied, so it must be idempotent"
        return None

    def _log_failure(self, method: str, shown: str, problem: str, started: float) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.debug("%s %s -> %s after %.0f ms", method, shown, problem, elapsed_ms)


@dataclass(frozen=True)
class _Failure:
    """What went wrong on the last attempt, for retry logs and the final RetryLater."""

    what: str
    status: int | None = None
    maybe_applied: bool = False  # the server may have acted on it (sent, answer lost)


def _maybe_sent(exc: httpx.TransportError) -> bool:
    # Failing to connect, or to get a pooled connection, means nothing was sent.
    return not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
