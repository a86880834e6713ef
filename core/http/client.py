"""HttpClient: one pooled httpx client with rate limits, retries, typed errors, no leaked secrets.

    limits = RateLimits(writes_per_second=25.0, reads_per_second=100.0)
    with HttpClient("https://api.attio.com", headers={"Authorization": "Bearer …"},
                    limits=limits) as client:
        data = client.json("GET", "/v2/self")

* Client-side rate limiting per :class:`RateLimits` instance (share one instance between clients
  that draw on the same server budget), separately for reads and writes.
* Retries: 429 waits ``Retry-After`` (seconds or HTTP date; 1 s when absent) and pauses that
  budget for every thread; 5xx, timeouts and connection failures back off exponentially with
  jitter. Other 4xx are never retried. When retries run out: :class:`~crm_push.errors.RetryLater`.
  Every retry and rate-limit wait is logged at INFO on ``crm_push.http``; a retry that waits
  more than a second at WARNING too ("api.attio.com: GET /v2/self could not be reached
  (connection refused); retrying in 4.0 s (attempt 2 of 6)"), so a wait is never silent.
* Non-2xx answers become typed errors (see :meth:`HttpClient.request`).
* Headers are never logged, and header secrets are scrubbed, in any encoding, from every
  message built from a response or an exception: ours, the plugin's ``error_for`` errors and
  errors raised by the auth flow.
"""

from __future__ import annotations

import hashlib
import json as _json
import logging
import random
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx
from crm_push.errors import CrmPushError, Fatal, InvalidInput, ReconnectRequired, RetryLater
from crm_push.http.limits import Budget, Kind
from crm_push.http.redact import redact, redact_error, secrets_in
from crm_push.http.retry_after import response_retry_after
from crm_push.http.stats import HttpStats
from crm_push.http.transport import LeanTransport, WholeBody

if TYPE_CHECKING:
    from crm_push.models.crm import Connection

logger = logging.getLogger("crm_push.http")

#: Methods that count against the read budget when ``kind`` is not given.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Status codes the default mapping treats as "fix the input".
INPUT_STATUSES = frozenset({400, 404, 409, 422})
#: When Retry-After is absent on a 429, wait this long (seconds).
DEFAULT_THROTTLE_WAIT = 1.0
#: The longest one request waits out 429s in all (seconds) before RetryLater.
MAX_THROTTLE_WAIT = 300.0
#: A retry that waits longer than this (seconds) is logged at WARNING, not only INFO.
NOTICEABLE_WAIT = 1.0
#: Longest excerpt of a response body quoted in an error message.
BODY_EXCERPT_CHARS = 300

ErrorFor = Callable[[httpx.Response], CrmPushError | None]
IsRetriable = Callable[[httpx.Response], bool | None]


def _package_version() -> str:
    try:
        return metadata.version("crm-push")
    except metadata.PackageNotFoundError:  # running from a source tree without metadata
        return "0"


_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None


def shared_ssl_context() -> ssl.SSLContext:
    """One SSL context for every client of the process. Each `httpx.Client` built without one
    loads the CA bundle into a new context: about 20 ms and 800 KB each, nearly all of what a
    client costs. httpx's own defaults (certifi's bundle, SSL_CERT_FILE, SSL_CERT_DIR) are kept."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context(trust_env=True)
        return _ssl_context


def default_transport(max_idle: int = 64) -> httpx.BaseTransport | None:
    """The transport an `HttpClient` sends through when given none: a `LeanTransport` on the
    shared SSL context, or None (httpx's own) when proxy variables are set, which httpx
    honours only for a transport it builds."""
    if any(scheme != "no" for scheme in urllib.request.getproxies()):  # NO_PROXY alone: none
        return None
    return LeanTransport(ssl_context=shared_ssl_context(), max_idle=max_idle)


def user_agent(product: str) -> str:
    """A plugin's User-Agent: its product name and crm-push's version (`crm-push-attio/0.1.0`)."""
    return f"{product}/{_package_version()}"


def connection_key(
    connection: Connection, default_base_url: str, *, no_token: ReconnectRequired
) -> tuple[str, str, str]:
    """The key a plugin caches a connection's clients under: (base URL, workspace id, a hash of
    the token) — the hash, not the token, so nothing secret is in any repr. Raises `no_token`
    when the connection holds no access token."""
    token = connection.credentials.access_token
    if token is None:
        raise no_token
    base_url = (connection.base_url or default_base_url).rstrip("/")
    digest = hashlib.sha256(token.get_secret_value().encode()).hexdigest()[:16]
    return (base_url, connection.workspace_id, digest)


class HttpClient:
    """A thread-safe HTTP client with rate limits, retries and typed errors.

    One instance (one pooled :class:`httpx.Client`) is meant to be shared by all worker threads.

    Retries (at most ``max_retries`` after the first attempt):

    * 429: wait ``Retry-After`` (1 s if absent) and pause this budget in ``limits`` for every
      thread. A 429 means the request was not processed, so any method is sent again, and a
      429 never uses up ``max_retries`` (kept for errors): only ``max_throttle_wait``, the
      total seconds one request may spend waiting out 429s, ends it with RetryLater.
    * 5xx, ``is_retriable(response)`` true, timeouts and connection failures: jittered
      exponential backoff (``Retry-After`` wins when the server sends one).
      A write (POST/PUT/PATCH/DELETE) that timed out may have been applied by the server; it is
      retried anyway, so callers must make writes idempotent (e.g. Attio's assert/upsert).
    * A requested wait longer than ``max_retry_wait`` is not slept through: RetryLater at once.
    * When retries run out: :class:`~crm_push.errors.RetryLater` (never the ``error_for`` hook).

    Other non-2xx answers: ``error_for(response)`` if given and not None, else the default
    mapping: 401 -> ReconnectRequired, 403 -> Fatal (permissions), 400/404/409/422 ->
    InvalidInput (``code`` from a JSON body's ``"code"``), anything else -> Fatal.

    Headers are never logged; header secrets (and those ``secrets`` gives) are scrubbed from
    every error this class raises, ``error_for``'s included, whatever their encoding.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        limits: Budget | None = None,
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
        secrets: Callable[[], Iterable[str]] | None = None,
        max_throttle_wait: float = MAX_THROTTLE_WAIT,
        throttle_wait: Callable[[httpx.Response], float | None] | None = None,
    ) -> None:
        """`auth`: an httpx auth flow (e.g. a bearer token that refreshes itself on a 401).
        `secrets`: gives the secrets to scrub from messages besides the headers' — asked
        each time, so an auth flow's renewed token is scrubbed too.
        `max_throttle_wait`: the total seconds one request may wait out 429s (which never
        count as retries) before RetryLater.
        `throttle_wait`: how long a 429 without Retry-After asks to wait, read from the
        response by the plugin (e.g. from a body naming the limit hit); None: 1 s.
        `max_connections`: on the default transport (`LeanTransport`), the connections kept
        alive per host; as many as the threads need are open at once. On httpx's own (a
        transport given, or proxies), httpx's cap on connections."""
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.limits = limits
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_wait = max_retry_wait
        self.max_throttle_wait = max_throttle_wait
        self.stats = HttpStats()
        self._error_for = error_for
        self._is_retriable = is_retriable
        self._throttle_wait = throttle_wait
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._secrets = secrets_in(headers or {})
        self._live_secrets = secrets
        merged = {
            "Accept": "application/json",
            **(headers or {}),
            "User-Agent": user_agent or f"crm-push/{_package_version()}",
        }
        self._client = _Client(
            base_url=base_url,
            headers=merged,
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport if transport is not None else default_transport(max_connections),
            verify=shared_ssl_context() if transport is None else True,
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
        Raises a :class:`~crm_push.errors.CrmPushError` subclass for anything else; for a write
        its ``write_attempted`` is true (the write was sent, or tried: it counts as sent).
        """
        try:
            return self._request(
                method,
                path,
                params=params,
                json=json,
                kind=kind,
                headers=headers,
                content=content,
            )
        except CrmPushError as exc:
            if (kind or ("read" if method.upper() in READ_METHODS else "write")) == "write":
                exc.write_attempted = True
            raise

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
        kind: Kind | None,
        headers: Mapping[str, str] | None,
        content: bytes | str | None,
    ) -> httpx.Response:
        method = method.upper()
        if kind is None:
            kind = "read" if method in READ_METHODS else "write"
        elif kind not in ("read", "write"):
            raise ValueError(f"kind must be 'read', 'write' or None, not {kind!r}")
        shown = path.split("?", 1)[0]  # queries may carry personal data: keep them out of logs
        retries = 0
        throttled_for = 0.0  # seconds spent waiting out 429s, which are not retries
        while True:
            if self.limits is not None:
                waited = self.limits.acquire(kind)
                if waited:
                    self.stats.add(limiter_wait_seconds=waited)
                    logger.info("%s: waited %.2f s for the %s rate limit", self.name, waited, kind)
            self.stats.add(requests=1, **{"reads" if kind == "read" else "writes": 1})
            started = time.perf_counter()
            try:
                response = self._client.request(
                    method, path, params=params, json=json, headers=headers, content=content
                )
            except httpx.TimeoutException as exc:
                self.stats.add(timeouts=1)
                problem = _transport_problem(exc)
                self._log_failure(method, shown, problem, started, exc)
                last: _Failure = _Failure(problem, maybe_applied=_maybe_sent(exc))
                wait = self._backoff(retries)
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                self.stats.add(transport_errors=1)
                problem = _transport_problem(exc)
                self._log_failure(method, shown, problem, started, exc)
                last = _Failure(problem, maybe_applied=_maybe_sent(exc))
                wait = self._backoff(retries)
            except httpx.HTTPError as exc:
                # Bad URL, unsupported scheme, local protocol misuse: a retry will not help.
                raise Fatal(
                    self._redact(f"{method} {shown} to {self.name} failed: {exc}"),
                    next_step="check the destination's base URL and settings",
                ) from None
            except CrmPushError as exc:
                # Raised by the auth flow (a token refresh that failed, say): scrubbed too.
                raise redact_error(exc, self._all_secrets()) from None
            else:
                status = response.status_code
                elapsed_ms = (time.perf_counter() - started) * 1000
                logger.debug("%s %s -> %d in %.0f ms", method, shown, status, elapsed_ms)
                if response.is_success:
                    return response
                retry_after = response_retry_after(response)
                if status == 429:
                    self.stats.add(throttled=1)
                    if retry_after is None and self._throttle_wait is not None:
                        retry_after = self._throttle_wait(response)
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

            if last.status == 429:
                # Not processed, so not a failure: wait and send again, retries untouched.
                throttled_for += wait
                if throttled_for > self.max_throttle_wait or wait > self.max_retry_wait:
                    raise RetryLater(
                        f"{self.name} kept answering 429 (throttled) to {method} {shown} "
                        f"for {throttled_for - wait:.0f}s and asked to wait {wait:.0f}s more",
                        retry_after=wait,
                        next_step=self._retry_next_step(last, kind),
                    )
                logger.log(
                    logging.WARNING if wait > NOTICEABLE_WAIT else logging.INFO,
                    "%s: %s %s answered %s; retrying in %.1f s (a 429 uses up no retry)",
                    self.name,
                    method,
                    shown,
                    last.what,
                    wait,
                )
                self.stats.add(retries=1)
                self._sleep(wait)
                continue
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
            # Never silent: a wait a user notices is a WARNING (stderr in the CLI), any is INFO.
            logger.log(
                logging.WARNING if wait > NOTICEABLE_WAIT else logging.INFO,
                "%s: %s %s %s; retrying in %.1f s (attempt %d of %d)",
                self.name,
                method,
                shown,
                f"answered {last.what}" if last.status else last.what,
                wait,
                retries + 1,
                self.max_retries + 1,
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

    def _all_secrets(self) -> tuple[str, ...]:
        live = tuple(self._live_secrets()) if self._live_secrets else ()
        return (*self._secrets, *live)

    def _redact(self, text: str) -> str:
        return redact(text, self._all_secrets())

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
                # The plugin's message may quote the body: scrub it as our own messages are.
                return redact_error(mapped, self._all_secrets())
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

    def _log_failure(
        self, method: str, shown: str, problem: str, started: float, exc: Exception
    ) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        detail = self._redact(f"{type(exc).__name__}: {exc}")
        logger.debug("%s %s -> %s after %.0f ms (%s)", method, shown, problem, elapsed_ms, detail)


class _Cookies(httpx.Cookies):
    """httpx's cookie jar, but a response without ``Set-Cookie`` (every API answer, nearly) is
    not handed to it: httpx builds a urllib request around every response for the jar first,
    about a tenth of a request's CPU, to find no cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


#: `build_request` arguments that take a request off the plain path (httpx builds those).
_NOT_PLAIN = ("data", "files", "headers", "cookies", "extensions")
#: Headers httpx adds to a request unless the client's own headers have them.
_FRAMING = frozenset({b"host", b"content-length", b"content-type", b"transfer-encoding"})
#: Full request URLs built before, by (base URL, URL, query), for every client of the process.
_URLS: dict[tuple[httpx.URL, str, tuple[tuple[Any, type, Any], ...]], httpx.URL] = {}
URL_CACHE_SIZE = 1024


def _hashable_query(params: Any) -> bool:
    if params is None:
        return True
    if not isinstance(params, Mapping):
        return False
    return all(isinstance(v, str | int | float | bool) for v in params.values())


class _Client(httpx.Client):
    """An httpx client whose cookies are `_Cookies`, and whose `send` of a plain request (no
    stream, redirects or event hooks) is one short loop; otherwise httpx's own.

    httpx's `send` takes each request through generators for auth and redirects, a stream
    wrapper that times the body, and a log record: a tenth of a request's CPU in the client.
    The short loop keeps what crm-push uses: the client's auth flow (a bearer token renewed on
    a 401), the transport for the URL (proxies), cookies, the body read, `response.request`.
    Not `response.elapsed`, nor httpx's "HTTP Request: …" INFO line (crm-push logs its own).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cookies = _Cookies(self._cookies)

    def build_request(  # type: ignore[override]
        self, method: str, url: httpx.URL | str, *, params: Any = None, **kwargs: Any
    ) -> httpx.Request:
        """httpx's, with the request's full URL built once per base URL, URL and query.

        httpx parses a URL three times a request (the base URL merged, the result, the query
        merged in): half of building one. API paths and queries repeat."""
        if not isinstance(url, str) or self.params or not _hashable_query(params):
            return super().build_request(method, url, params=params, **kwargs)
        # The type is in the key: True == 1 == 1.0 in Python, but httpx writes true, 1, 1.0.
        query = tuple((k, type(v), v) for k, v in params.items()) if params else ()
        key = (self._base_url, url, query)
        full = _URLS.get(key)
        if full is None:
            full = self._merge_url(url)
            if params:
                full = full.copy_merge_params(params)
            if len(_URLS) >= URL_CACHE_SIZE:
                _URLS.clear()  # rare: a cache this size holds a run's paths
            _URLS[key] = full
        plain = (
            not any(kwargs.get(k) is not None for k in _NOT_PLAIN)
            and kwargs.get("timeout", httpx.USE_CLIENT_DEFAULT) is httpx.USE_CLIENT_DEFAULT
            and not len(self._cookies)
        )
        if plain:
            request = self._plain_request(method, full, kwargs.get("json"), kwargs.get("content"))
            if request is not None:
                return request
        return super().build_request(method, full, **kwargs)

    def _plain_request(
        self, method: str, url: httpx.URL, json: Any, content: Any
    ) -> httpx.Request | None:
        """The request httpx's `build_request` makes of a method, a URL and a body (bytes, text
        or JSON) with the client's headers: the same headers, in the same order, and the same
        body. None when httpx must build it (a streamed body; the client's own headers name
        the host or the body).

        httpx merges the client's headers, cookies and query into copies, then builds the
        request's headers three times over (its own, the body's, Host): a third of a request's
        CPU in httpx. Here they are put together once."""
        kind: bytes | None = None
        if content is not None:  # as httpx: content wins over json
            if not isinstance(content, bytes | str):
                return None
            body: bytes | None = content.encode("utf-8") if isinstance(content, str) else content
        elif json is not None:
            body = _json.dumps(
                json, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode("utf-8")
            kind = b"application/json"
        else:
            body = None
        own = self._headers.raw
        if any(name.lower() in _FRAMING for name, _ in own):
            return None
        method = method.upper()
        if body:
            headers = [(b"Host", url.netloc), *own, (b"Content-Length", b"%d" % len(body))]
            if kind is not None:
                headers.append((b"Content-Type", kind))
        elif method in ("POST", "PUT", "PATCH"):  # httpx puts this one next to Host
            headers = [(b"Host", url.netloc), (b"Content-Length", b"0"), *own]
        else:
            headers = [(b"Host", url.netloc), *own]
        request = httpx.Request(
            method,
            url,
            headers=headers,
            stream=httpx.ByteStream(body or b""),
            extensions={"timeout": self.timeout.as_dict()},
        )
        request.read()
        return request

    def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        plain = (
            not self.is_closed  # httpx's own send says so
            and not stream
            and auth is httpx.USE_CLIENT_DEFAULT
            and follow_redirects in (httpx.USE_CLIENT_DEFAULT, False)
            and not self.follow_redirects
            and not any(self._event_hooks.values())
            and not request.url.userinfo  # httpx makes basic auth of it
        )
        if not plain:
            return super().send(
                request, stream=stream, auth=auth, follow_redirects=follow_redirects
            )
        if self._auth is None:
            return self._send_once(request)
        flow = self._auth.sync_auth_flow(request)
        try:
            request = next(flow)
            while True:
                response = self._send_once(request)
                try:
                    request = flow.send(response)
                except StopIteration:
                    return response
                response.close()
        finally:
            flow.close()

    def _send_once(self, request: httpx.Request) -> httpx.Response:
        response = self._transport_for_url(request.url).handle_request(request)
        response.request = request
        try:
            stream = response.stream
            if isinstance(stream, WholeBody) and "content-encoding" not in response.headers:
                _take_body(response, stream.content)
            else:
                response.read()
        except BaseException:
            response.close()
            raise
        self.cookies.extract_cookies(response)
        response.default_encoding = self._default_encoding
        return response

    @property  # type: ignore[override]
    def cookies(self) -> httpx.Cookies:
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: httpx._types.CookieTypes) -> None:
        self._cookies = _Cookies(cookies)


def _take_body(response: httpx.Response, content: bytes) -> None:
    """What `response.read()` leaves, without its chain of decoder, chunker and generators
    (about a tenth of a request's CPU in the client): the body came whole and not encoded."""
    response._content = content
    response.is_stream_consumed = True
    response.is_closed = True
    response._num_bytes_downloaded = len(content)


@dataclass(frozen=True)
class _Failure:
    """What went wrong on the last attempt, for retry logs and the final RetryLater."""

    what: str
    status: int | None = None
    maybe_applied: bool = False  # the server may have acted on it (sent, answer lost)


def _transport_problem(exc: httpx.TransportError) -> str:
    """What went wrong, in words: "could not be reached (connection refused)"."""
    text = str(exc).lower()
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, httpx.PoolTimeout):
        return "timed out waiting for a free connection"
    if isinstance(exc, httpx.WriteTimeout):
        return "timed out sending the request"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out waiting for the answer"
    if isinstance(exc, httpx.ConnectError):
        if "refused" in text:
            return "could not be reached (connection refused)"
        if any(w in text for w in ("name or service", "nodename", "getaddrinfo", "resolution")):
            return "could not be reached (host name not found)"
        if "ssl" in text or "certificate" in text:
            return "could not be reached (TLS handshake failed)"
        return "could not be reached"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "closed the connection without a proper answer"
    return "lost the connection"


def _maybe_sent(exc: httpx.TransportError) -> bool:
    # Failing to connect, or to get a pooled connection, means nothing was sent.
    return not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
