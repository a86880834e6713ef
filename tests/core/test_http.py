"""crm_push.http: Retry-After, retries, typed errors, rate limits, stats, no leaked secrets."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from crm_push.errors import (
    ConfigurationError,
    CrmPushError,
    Fatal,
    InvalidInput,
    ReconnectRequired,
    RetryLater,
    ScopeMissing,
)
from crm_push.http import WINDOW_MARGIN, HttpClient, HttpStats, RateLimits, retry_after_seconds

BASE = "https://api.example.test"
TOKEN = "sk_live_TOPSECRET_0123456789"

Step = httpx.Response | Exception


class Script:
    """A MockTransport handler answering from a script, recording each request."""

    def __init__(self, steps: Iterable[Step]) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        return step

    @property
    def calls(self) -> int:
        return len(self.requests)


class FakeClock:
    """Monotonic clock whose sleep advances it: deterministic limiter tests."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make_client(
    steps: Iterable[Step], sleeps: list[float] | None = None, **kwargs: object
) -> tuple[HttpClient, Script]:
    script = Script(steps)
    recorder = sleeps if sleeps is not None else []
    options: dict[str, object] = {
        "headers": {"Authorization": f"Bearer {TOKEN}"},
        "transport": httpx.MockTransport(script),
        "sleep": recorder.append,
        "name": "Example",
        **kwargs,
    }
    return HttpClient(BASE, **options), script  # type: ignore[arg-type]


def ok(body: object = None) -> httpx.Response:
    return httpx.Response(200, json=body if body is not None else {"ok": True})


# -- Retry-After ---------------------------------------------------------------------------


NOW = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Wed, 21 Oct 2026 07:28:30 GMT", 30.0),  # IMF-fixdate
        ("Wednesday, 21-Oct-26 07:28:10 GMT", 10.0),  # obsolete RFC 850
        ("Wed Oct 21 07:28:05 2026", 5.0),  # obsolete asctime (no zone = GMT)
        ("Wed, 21 Oct 2026 07:00:00 GMT", 0.0),  # past -> 0
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("5 seconds", None),
        ("Wed, 99 Foo 2026", None),
    ],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, now=NOW) == expected


def test_retry_after_seconds_defaults_to_current_time_and_naive_now_is_utc() -> None:
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=100), usegmt=True)
    assert 95 <= (retry_after_seconds(future) or 0) <= 100
    assert retry_after_seconds("Wed, 21 Oct 2026 07:28:30 GMT", now=NOW.replace(tzinfo=None)) == 30


# -- 429 --------------------------------------------------------------------------------------


def test_429_with_http_date_waits_until_that_date_by_the_servers_clock() -> None:
    sleeps: list[float] = []
    throttled = httpx.Response(
        429,
        headers={
            "Date": "Wed, 21 Oct 2026 07:28:00 GMT",
            "Retry-After": "Wed, 21 Oct 2026 07:28:04 GMT",
        },
    )
    client, script = make_client([throttled, ok({"data": 1})], sleeps)
    assert client.json("PUT", "/v2/records", json={"a": 1}) == {"data": 1}
    assert sleeps == [4.0]
    assert script.calls == 2
    assert client.stats.throttled == 1 and client.stats.retries == 1


def test_429_without_retry_after_waits_one_second_and_seconds_form_is_honoured() -> None:
    sleeps: list[float] = []
    client, _ = make_client(
        [httpx.Response(429), httpx.Response(429, headers={"Retry-After": "7"}), ok()], sleeps
    )
    client.request("POST", "/v2/notes")
    assert sleeps == [1.0, 7.0]


def test_429_pauses_the_shared_budget_for_other_requests() -> None:
    clock = FakeClock()
    limits = RateLimits(writes_per_second=100, reads_per_second=100, clock=clock, sleep=clock.sleep)
    sleeps: list[float] = []  # the client's own sleep does not move the limiter clock here,
    client, _ = make_client(  # so the retry must wait out the pause in the limiter
        [httpx.Response(429, headers={"Retry-After": "2"}), ok()], sleeps, limits=limits
    )
    client.request("PATCH", "/v2/x")
    assert sleeps == [2.0]
    assert clock.slept == [2.0]
    assert client.stats.limiter_wait_seconds == 2.0
    assert limits.acquire("read") == 0.0  # only the write budget was paused


def test_429_uses_up_no_retry_only_the_overall_throttle_wait_ends_it() -> None:
    # Attio: a 429 was not processed. It is sent again after the wait however many times,
    # max_retries untouched; only max_throttle_wait (total seconds waited) gives up.
    sleeps: list[float] = []
    client, script = make_client(
        [httpx.Response(429, headers={"Retry-After": "3"})] * 4 + [ok()],
        sleeps,
        max_retries=0,
    )
    assert client.request("GET", "/v2/self").status_code == 200
    assert script.calls == 5 and sleeps == [3.0] * 4
    client, script = make_client(
        [httpx.Response(429, headers={"Retry-After": "3"})],
        sleeps := [],
        max_retries=2,
        max_throttle_wait=10,
    )
    with pytest.raises(RetryLater) as info:
        client.request("GET", "/v2/self")
    assert "Example kept answering 429" in str(info.value)
    assert info.value.retry_after == 3.0
    assert script.calls == 4 and sleeps == [3.0, 3.0, 3.0]
    assert client.stats.throttled == 4


def test_retry_after_longer_than_max_retry_wait_is_not_slept_through() -> None:
    sleeps: list[float] = []
    client, script = make_client(
        [httpx.Response(429, headers={"Retry-After": "3600"})], sleeps, max_retry_wait=60
    )
    with pytest.raises(RetryLater) as info:
        client.request("GET", "/v2/self")
    assert info.value.retry_after == 3600.0
    assert sleeps == [] and script.calls == 1


# -- 5xx, timeouts, transport errors ------------------------------------------------------------


def test_5xx_retried_with_jittered_backoff_then_retry_later() -> None:
    sleeps: list[float] = []
    client, script = make_client(
        [httpx.Response(503, text="upstream down")],
        sleeps,
        max_retries=3,
        backoff_base=0.5,
        backoff_max=1.5,
    )
    with pytest.raises(RetryLater) as info:
        client.request("GET", "/v2/self")
    assert script.calls == 4
    caps = [0.5, 1.0, 1.5]  # base * 2**n, capped at backoff_max
    assert len(sleeps) == 3
    assert all(cap / 2 <= s <= cap for s, cap in zip(sleeps, caps, strict=True))
    message = str(info.value)
    assert "kept answering 503" in message and "upstream down" in message
    assert "after 3 retries" in message
    assert client.stats.server_errors == 4 and client.stats.retries == 3


def test_5xx_then_success_and_retry_after_on_5xx_is_honoured() -> None:
    sleeps: list[float] = []
    client, _ = make_client(
        [httpx.Response(500), httpx.Response(502, headers={"Retry-After": "4"}), ok()], sleeps
    )
    assert client.request("GET", "/v2/self").status_code == 200
    assert len(sleeps) == 2 and sleeps[1] == 4.0


def test_timeout_is_retried() -> None:
    sleeps: list[float] = []
    client, script = make_client([httpx.ReadTimeout("slow"), ok()], sleeps)
    assert client.json("GET", "/v2/self") == {"ok": True}
    assert script.calls == 2 and len(sleeps) == 1
    assert client.stats.timeouts == 1


def test_write_that_keeps_timing_out_says_it_may_have_been_applied() -> None:
    client, script = make_client([httpx.ReadTimeout("slow")], max_retries=1)
    with pytest.raises(RetryLater) as info:
        client.request("PUT", "/v2/records", json={})
    assert script.calls == 2
    assert "timed out" in str(info.value)
    assert "may already have been applied" in info.value.next_step


def test_connect_error_is_retried_and_not_said_to_be_applied() -> None:
    client, script = make_client([httpx.ConnectError("refused")], max_retries=1)
    with pytest.raises(RetryLater) as info:
        client.request("POST", "/v2/records")
    assert script.calls == 2 and client.stats.transport_errors == 2
    assert info.value.next_step == RetryLater.next_step


def test_bad_url_is_fatal_not_retried() -> None:
    client, script = make_client([httpx.UnsupportedProtocol("nope")])
    with pytest.raises(Fatal):
        client.request("GET", "/v2/self")
    assert script.calls == 1


# -- other 4xx: typed errors, no retry ------------------------------------------------------


def test_400_not_retried_invalid_input_with_code() -> None:
    sleeps: list[float] = []
    body = {"status_code": 400, "code": "validation_type", "message": "email is not valid"}
    client, script = make_client([httpx.Response(400, json=body)], sleeps)
    with pytest.raises(InvalidInput) as info:
        client.request("PUT", "/v2/objects/people/records?matching_attribute=email_addresses")
    assert script.calls == 1 and sleeps == []
    assert info.value.code == "validation_type"
    message = str(info.value)
    assert "400" in message and "email is not valid" in message
    assert "matching_attribute" not in message  # query strings stay out of messages


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, ReconnectRequired), (403, Fatal), (404, InvalidInput), (409, InvalidInput),
     (422, InvalidInput), (418, Fatal), (301, Fatal)],
)  # fmt: skip
def test_default_mapping(status: int, error: type[CrmPushError]) -> None:
    client, script = make_client([httpx.Response(status, text="<html>nope</html>")])
    with pytest.raises(error) as info:
        client.request("GET", "/v2/self")
    assert type(info.value) is error
    assert script.calls == 1
    if status == 403:
        assert "permission" in str(info.value)


def test_is_retriable_hook_retries_409_conflict() -> None:
    conflict = httpx.Response(409, json={"code": "concurrent_write_conflict"})
    sleeps: list[float] = []
    client, script = make_client(
        [conflict, ok()],
        sleeps,
        is_retriable=lambda r: (
            r.status_code == 409 and r.json().get("code") == "concurrent_write_conflict"
        ),
    )
    client.request("PUT", "/v2/records")
    assert script.calls == 2 and len(sleeps) == 1
    # Without the hook the same answer is an input error.
    plain, _ = make_client([conflict])
    with pytest.raises(InvalidInput):
        plain.request("PUT", "/v2/records")


def test_error_for_hook_maps_and_none_falls_back() -> None:
    def error_for(response: httpx.Response) -> CrmPushError | None:
        if response.status_code == 403:
            return ScopeMissing("no access to people", scope="record_permission:read-write")
        return None

    client, _ = make_client([httpx.Response(403), httpx.Response(401)], error_for=error_for)
    with pytest.raises(ScopeMissing) as info:
        client.request("GET", "/v2/self")
    assert info.value.scope == "record_permission:read-write"
    with pytest.raises(ReconnectRequired):
        client.request("GET", "/v2/self")


# -- stats, json, headers -------------------------------------------------------------------


@pytest.mark.sends_delete
def test_stats_count_reads_writes_and_kind_override() -> None:
    client, _ = make_client([httpx.Response(500), ok()])
    client.request("GET", "/a")  # 500 then 200: 2 reads, 1 retry
    client.request("POST", "/v2/objects/people/records/query", kind="read")
    client.request("HEAD", "/a")
    client.request("DELETE", "/a")
    client.request("GET", "/a", kind="write")
    stats = client.stats.as_dict()
    assert stats == {
        "requests": 6,
        "reads": 4,
        "writes": 2,
        "retries": 1,
        "throttled": 0,
        "server_errors": 1,
        "timeouts": 0,
        "transport_errors": 0,
        "limiter_wait_seconds": 0.0,
    }
    with pytest.raises(ValueError):
        client.request("GET", "/a", kind="delete")  # type: ignore[arg-type]


def test_stats_are_thread_safe() -> None:
    stats = HttpStats()

    def bump() -> None:
        for _ in range(2000):
            stats.add(requests=1, reads=1)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats.requests == 16000 and stats.reads == 16000


@pytest.mark.sends_delete
def test_json_headers_and_context_manager() -> None:
    script = Script([ok({"data": {"id": 1}}), httpx.Response(204), httpx.Response(200, text="x")])
    with HttpClient(
        BASE,
        headers={"Authorization": f"Bearer {TOKEN}"},
        transport=httpx.MockTransport(script),
        sleep=lambda s: None,
    ) as client:
        assert client.json("GET", "/v2/self", params={"q": "1"}) == {"data": {"id": 1}}
        assert client.json("DELETE", "/v2/x") is None
        with pytest.raises(Fatal):
            client.json("GET", "/v2/self")
    sent = script.requests[0]
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["User-Agent"].startswith("crm-push/")
    assert sent.url == httpx.URL(f"{BASE}/v2/self?q=1")
    custom, script2 = make_client([ok()], user_agent="crm-push/9 (+attio)")
    custom.request("GET", "/")
    assert script2.requests[0].headers["User-Agent"] == "crm-push/9 (+attio)"


def test_a_plain_request_gets_what_httpx_gives_and_a_closed_client_sends_nothing() -> None:
    cookie = httpx.Response(200, json={"a": 1}, headers={"Set-Cookie": "s=1; Path=/"})
    client, script = make_client([cookie, ok({"b": 2}), ok()])
    first = client.request("GET", "/one")
    assert first.json() == {"a": 1} and first.request.url == httpx.URL(f"{BASE}/one")
    client.request("GET", "/two")
    assert script.requests[1].headers["Cookie"] == "s=1"  # the jar kept the cookie
    client.close()
    with pytest.raises(RuntimeError, match="client has been closed"):
        client.request("GET", "/three")
    assert len(script.requests) == 2


# -- rate limits ----------------------------------------------------------------------------


def test_limiter_spacing_with_fake_clock() -> None:
    clock = FakeClock()
    limits = RateLimits(writes_per_second=5, reads_per_second=None, clock=clock, sleep=clock.sleep)
    admitted = []
    for _ in range(12):
        limits.acquire("write")
        admitted.append(clock.now - 1000.0)
    # Windows are a second plus a small margin, so arrivals stay under the server's limit.
    window = 1.0 + WINDOW_MARGIN
    assert admitted == pytest.approx([0.0] * 5 + [window] * 5 + [2 * window] * 2)
    assert limits.acquire("read") == 0.0  # unlimited budget never waits


def test_limiter_fractional_rate_below_one() -> None:
    clock = FakeClock()
    limits = RateLimits(writes_per_second=0.5, clock=clock, sleep=clock.sleep)
    limits.acquire("write")
    assert limits.acquire("write") == pytest.approx(2.0 + WINDOW_MARGIN)


def test_limiter_never_exceeds_n_in_any_second_under_threads() -> None:
    """Real time: 4 threads x 10 acquisitions at 20/s must take about 1 s, never bursting."""
    seen = threading.local()

    def clock() -> float:
        seen.last = time.monotonic()  # the reading the limiter admitted on, per thread
        return seen.last

    limits = RateLimits(writes_per_second=20, clock=clock)
    admitted: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            limits.acquire("write")
            with lock:
                admitted.append(seen.last)

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    admitted.sort()
    assert len(admitted) == 40
    # Any 21 consecutive admissions span at least a second: never 21 in one window.
    assert all(admitted[i + 20] - admitted[i] >= 1.0 for i in range(len(admitted) - 20))
    assert 0.95 <= elapsed < 3.0


def test_rate_limits_from_env() -> None:
    env = {"ATTIO_WRITES_PER_SECOND": "12.5", "ATTIO_READS_PER_SECOND": "unlimited"}
    limits = RateLimits.from_env("ATTIO", 25.0, 100.0, environ=env)
    assert (limits.writes_per_second, limits.reads_per_second) == (12.5, None)
    limits = RateLimits.from_env("attio_", 25.0, 100.0, environ={"ATTIO_WRITES_PER_SECOND": "0"})
    assert (limits.writes_per_second, limits.reads_per_second) == (None, 100.0)
    with pytest.raises(ConfigurationError, match="ATTIO_READS_PER_SECOND"):
        RateLimits.from_env("ATTIO", 25.0, 100.0, environ={"ATTIO_READS_PER_SECOND": "fast"})
    with pytest.raises(ValueError):
        RateLimits(writes_per_second=-1)


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTIO_WRITES_PER_SECOND", "3")
    monkeypatch.delenv("ATTIO_READS_PER_SECOND", raising=False)
    limits = RateLimits.from_env("ATTIO", 25.0, 100.0)
    assert (limits.writes_per_second, limits.reads_per_second) == (3.0, 100.0)


# -- secrets --------------------------------------------------------------------------------


def test_token_never_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"code": "unauthorized", "message": f"token Bearer {TOKEN} is not valid"}
    steps: list[Step] = [
        ok(),
        httpx.Response(429),
        ok(),
        httpx.ReadTimeout("slow"),
        httpx.Response(500, text=f"crash with {TOKEN}"),
        ok(),
        httpx.Response(401, json=echo),
        httpx.Response(400, text=f"bad header {TOKEN}"),
        httpx.Response(503, text=f"down, your key {TOKEN}"),
    ]
    client, _ = make_client(steps, max_retries=2)
    errors: list[CrmPushError] = []
    calls: list[Callable[[], object]] = [
        lambda: client.request("GET", "/v2/self"),
        lambda: client.request("PUT", "/v2/records", json={"a": 1}),
        lambda: client.request("POST", "/v2/records"),
        lambda: client.request("GET", "/v2/self"),
        lambda: client.request("GET", "/v2/self"),
        lambda: client.request("GET", "/v2/self"),
    ]
    for call in calls:
        try:
            call()
        except CrmPushError as exc:
            errors.append(exc)
    assert [type(e) for e in errors] == [ReconnectRequired, InvalidInput, RetryLater]
    assert "GET /v2/self -> 200" in caplog.text  # the debug line exists
    assert any(r.levelno == logging.INFO and "retry" in r.getMessage() for r in caplog.records)
    texts = [caplog.text, repr(client)]
    for err in errors:
        texts += [str(err), repr(err), err.message, err.next_step, *map(str, err.args)]
    assert "TOPSECRET" not in "\n".join(texts)


# -- secrets: every message built from a response or an exception, whatever the encoding ----

ODD = "tok/en+A b=c\u00e9"  # a secret with characters that every encoding changes


@pytest.mark.parametrize(
    "shown",
    [
        ODD,
        repr(ODD)[1:-1],  # a str repr
        repr(f"Bearer {ODD}".encode())[2:-1],  # a bytes repr: b'Bearer tok/en+A b=c\xc3\xa9'
        '"Bearer tok/en+A b=c\\u00e9"',  # JSON-quoted, ensure_ascii
        '"tok\\/en+A b=c\u00e9"',  # JSON with escaped slashes
        "tok%2Fen%2BA%20b%3Dc%C3%A9",  # URL-encoded
        "tok%2fen%2ba+b%3dc%c3%a9",  # form-encoded, lower-case hex
        "tok/en+A b=c&#233;",  # HTML-escaped (by a server's error page)
    ],
)
def test_redact_knows_the_encodings_of_a_secret(shown: str) -> None:
    from crm_push.http import redact

    text = f"the server said: {shown}!"
    assert "***" in redact(text, [ODD])
    assert "tok" not in redact(text, [ODD]) and "b=c" not in redact(text, [ODD])
    # Ordinary words stay.
    assert redact("a token was refused", [ODD]) == "a token was refused"


def test_redact_knows_each_line_of_a_secret_with_a_newline() -> None:
    from crm_push.http import redact

    secret = "first-half-of-it\nsecond-half-of-it"
    assert "half" not in redact("echo: second-half-of-it and first-half-of-it", [secret])
    assert "half" not in redact(repr(f"Bearer {secret}".encode()), [secret])


def test_messages_of_error_for_are_redacted_too() -> None:
    # A plugin's mapping quotes the body; the client scrubs whatever error it returns.
    def error_for(response: httpx.Response) -> CrmPushError:
        return InvalidInput(
            f"rejected: {response.text}",
            field=f"header {TOKEN}",
            code=TOKEN,
            next_step=f"not with {TOKEN}",
        )

    body = f'{{"message": "bad request: Authorization: Bearer {TOKEN}"}}'
    client, _ = make_client([httpx.Response(400, text=body)], error_for=error_for)
    with pytest.raises(InvalidInput) as info:
        client.request("GET", "/v2/self")
    err = info.value
    texts = [str(err), repr(err), err.message, err.next_step, str(err.field), str(err.code)]
    assert "TOPSECRET" not in "\n".join(texts + [str(a) for a in err.args])
    assert "bad request: Authorization: ***" in err.message


def test_transport_exceptions_are_redacted_in_any_encoding() -> None:
    secret = "sk_live_TOPSECRET\nsecond-line-of-the-token"
    header = f"Bearer {secret}"
    client, _ = make_client(
        [httpx.LocalProtocolError(f"Illegal header value {header.encode()!r}")],
        headers={"Authorization": header},
    )
    with pytest.raises(Fatal) as info:
        client.request("GET", "/v2/self")
    assert "TOPSECRET" not in str(info.value) and "second-line" not in str(info.value)
    assert "Illegal header value" in str(info.value)


def test_errors_raised_by_the_auth_flow_are_redacted() -> None:
    class Refreshing(httpx.Auth):
        def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
            raise ReconnectRequired(f"the refresh failed for {TOKEN}")
            yield request

    client, _ = make_client([ok()], auth=Refreshing(), secrets=lambda: [TOKEN], headers={})
    with pytest.raises(ReconnectRequired) as info:
        client.request("GET", "/v2/self")
    assert "TOPSECRET" not in str(info.value)


# -- retries are never silent: WARNING when one waits more than a second, INFO always ------


def _retry_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "crm_push.http" and "retrying" in r.message]


def test_a_long_retry_wait_is_one_warning_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="crm_push.http")
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    client, _ = make_client([refused, ok()], backoff_base=4.0, rng=random_fixed(0.0))
    client.request("GET", "/v2/self?email=ada@example.com")
    [record] = _retry_records(caplog)
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "Example: GET /v2/self could not be reached (connection refused); "
        "retrying in 2.0 s (attempt 2 of 6)"
    )


def test_a_short_retry_wait_is_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="crm_push.http")
    body = {"message": f"busy, {TOKEN}"}
    client, _ = make_client(
        [httpx.Response(503, json=body), ok()], backoff_base=0.4, rng=random_fixed(0.0)
    )
    client.request("GET", "/v2/self")
    [record] = _retry_records(caplog)
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        "Example: GET /v2/self answered 503 (busy, ***); retrying in 0.2 s (attempt 2 of 6)"
    )


def test_a_throttled_retry_names_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="crm_push.http")
    client, _ = make_client([httpx.Response(429, headers={"Retry-After": "3"}), ok()])
    client.request("PUT", "/v2/records", json={})
    [record] = _retry_records(caplog)
    assert record.levelno == logging.WARNING
    assert "PUT /v2/records answered 429 (throttled); retrying in 3.0 s (a 429 uses up no" in (
        record.getMessage()
    )


def test_rate_limit_waits_are_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="crm_push.http")
    clock = FakeClock()
    limits = RateLimits(writes_per_second=1, clock=clock, sleep=clock.sleep)
    client, _ = make_client([ok()], limits=limits)
    client.request("PUT", "/v2/records", json={})
    client.request("PUT", "/v2/records", json={})
    [record] = [r for r in caplog.records if "rate limit" in r.getMessage()]
    assert record.levelno == logging.INFO
    assert record.getMessage() == "Example: waited 1.05 s for the write rate limit"


def random_fixed(value: float) -> random.Random:
    rng = random.Random()
    rng.random = lambda: value  # type: ignore[method-assign]
    return rng


def test_a_cookie_the_server_sets_is_sent_back_on_later_requests() -> None:
    # Answers without Set-Cookie skip httpx's cookie jar; one with it still reaches the jar.
    set_cookie = httpx.Response(200, headers={"Set-Cookie": "lb=node-2; Path=/"}, json={})
    client, script = make_client([ok(), set_cookie, ok()])
    for path in ("/v2/self", "/v2/self", "/v2/objects"):
        client.json("GET", path)
    assert [r.headers.get("cookie") for r in script.requests] == [None, None, "lb=node-2"]


def test_request_urls_are_built_once_and_stay_right() -> None:
    from crm_push.http.client import _Client

    client = _Client(base_url="https://api.example.com/base")
    query = {"matching_attribute": "email_addresses"}
    first = client.build_request("PUT", "/v2/records", params=query, json={"a": 1})
    again = client.build_request("PUT", "/v2/records", params=query, json={"b": 2})
    assert str(first.url) == str(again.url)
    assert (
        str(again.url)
        == "https://api.example.com/base/v2/records?matching_attribute=email_addresses"
    )
    assert again.read() == b'{"b":2}'
    other = client.build_request("GET", "/v2/records", params={"limit": 5})
    assert str(other.url) == "https://api.example.com/base/v2/records?limit=5"
    listed = client.build_request("GET", "/v2/x", params={"a": ["1", "2"]})
    assert str(listed.url) == "https://api.example.com/base/v2/x?a=1&a=2"
    absolute = client.build_request("GET", "https://other.example.com/x?y=1", params={"a": "1"})
    assert str(absolute.url) == "https://other.example.com/x?y=1&a=1"
    client.base_url = "https://moved.example.com"
    moved = client.build_request("PUT", "/v2/records", params=query)
    assert (
        str(moved.url) == "https://moved.example.com/v2/records?matching_attribute=email_addresses"
    )


def test_request_urls_of_equal_queries_of_other_types_are_not_confused() -> None:
    from crm_push.http.client import _Client

    client = _Client(base_url="https://api.example.com")
    built = [
        str(client.build_request("GET", "/v2/x", params={"v": value}).url)
        for value in (True, 1, 1.0, False, 0)
    ]
    assert [url.rsplit("=", 1)[1] for url in built] == ["true", "1", "1.0", "false", "0"]


# -- requests are built as httpx builds them --------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/v2/self", {}),
        ("GET", "/v2/lists", {"params": {"limit": 10, "archived": True, "q": "é &"}}),
        (
            "PUT",
            "/v2/objects/people/records",
            {
                "params": {"matching_attribute": "email"},
                "json": {"data": {"values": {"name": "Zoë ☃"}}},
            },
        ),
        ("POST", "/v2/notes", {"content": b"\x00raw"}),
        ("POST", "/v2/notes", {"content": "text ✓", "json": {"ignored": True}}),
        ("PATCH", "/v2/objects/people/records/1", {}),
        ("GET", "/v2/x", {"content": b""}),
        ("POST", "/v2/x", {"content": ""}),
        ("DELETE", "/v2/x", {"content": b""}),
        ("DELETE", "/v2/x", {"json": []}),
    ],
)
def test_a_request_is_built_exactly_as_httpx_builds_it(
    method: str, path: str, kwargs: dict[str, object]
) -> None:
    client = HttpClient(
        "https://api.example.com:8443/base/",
        headers={"Authorization": "Bearer t0k", "X-Extra": "1"},
        timeout=httpx.Timeout(7.0, connect=2.0),
    )._client
    ours = client.build_request(method, path, **kwargs)  # type: ignore[arg-type]
    full = client._merge_url(path)
    params = kwargs.get("params")
    theirs = httpx.Client.build_request(
        client,
        method,
        full.copy_merge_params(params) if params else full,  # type: ignore[arg-type]
        **{k: v for k, v in kwargs.items() if k != "params"},  # type: ignore[arg-type]
    )
    assert ours is not theirs
    assert (ours.method, ours.url) == (theirs.method, theirs.url)
    assert ours.headers.raw == theirs.headers.raw
    assert ours.read() == theirs.read()
    assert ours.extensions == theirs.extensions


def test_requests_httpx_must_build_are_left_to_it() -> None:
    client = HttpClient("https://api.example.com", headers={"Content-Type": "text/csv"})._client
    request = client.build_request("POST", "/upload", content=b"a,b")
    assert request.headers.get_list("content-type") == ["text/csv"]  # not a second one
    streamed = client.build_request("POST", "/upload", content=iter([b"a", b"b"]))
    assert streamed.headers["transfer-encoding"] == "chunked"
    client.cookies.set("session", "s1")
    assert client.build_request("GET", "/x").headers["cookie"] == "session=s1"
    timed = client.build_request("GET", "/x", timeout=3.0)
    assert timed.extensions["timeout"]["read"] == 3.0
    client.timeout = httpx.Timeout(9.0)
    client.cookies.clear()
    assert client.build_request("GET", "/x").extensions["timeout"]["read"] == 9.0
