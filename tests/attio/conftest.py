"""Fixtures of the Attio plugin tests.

Two guards run around every test here (autouse), whatever it talks to (respx or the local
server): no request may use DELETE, and every JSON body sent to /v2 must fit Attio's OpenAPI
schema (see attio_openapi.py) and the request models of the independent `attio` client
(attio_oracle.py) — except in a test marked `not_attio`, which sends to a wrong URL
on purpose.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from support.transports import Send, wrap_transports

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the helper modules beside this file
    sys.path.insert(0, str(HERE))

from attio_helpers import BASE, FakeSleep, make_connection  # noqa: E402
from attio_openapi import check_request  # noqa: E402
from attio_oracle import check_request_with_sdk  # noqa: E402
from crm_push.destination.facade import Destination  # noqa: E402
from crm_push.models.crm import Connection  # noqa: E402

import crm_push_attio  # noqa: E402
from crm_push_attio.plugin import AttioDestination  # noqa: E402


class Sent:
    """Every request sent through httpx during one test."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    @property
    def methods(self) -> list[str]:
        return [r.method for r in self.requests]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "not_attio: the test sends requests to a wrong URL on purpose (no Attio schema check)",
    )


@pytest.fixture(autouse=True)
def sent(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Sent]:
    """Record every request (respx or real), validate its body, and fail on any DELETE."""
    log = Sent()
    schema_checked = request.node.get_closest_marker("not_attio") is None

    def record(original: Send) -> Send:
        def handle(self: httpx.BaseTransport, request: httpx.Request) -> httpx.Response:
            log.requests.append(request)
            assert request.method != "DELETE", f"DELETE {request.url} was sent: never delete"
            if schema_checked:
                check_request(request)
                check_request_with_sdk(request)
            return original(self, request)

        return handle

    wrap_transports(monkeypatch, record)
    yield log
    assert "DELETE" not in log.methods


@pytest.fixture(autouse=True)
def _attio_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No Attio settings leak in from the environment; rate budgets start fresh and unlimited
    (a 429 pauses the shared budget in real time, which unit tests must not wait for)."""
    for name in (
        "ATTIO_ACCESS_TOKEN",
        "ATTIO_BASE_URL",
        "ATTIO_CLIENT_ID",
        "ATTIO_CLIENT_SECRET",
        "ATTIO_AUTHORIZE_URL",
        "ATTIO_TOKEN_URL",
        "ATTIO_REVOKE_URL",
        "ATTIO_REDIRECT_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ATTIO_WRITES_PER_SECOND", "unlimited")
    monkeypatch.setenv("ATTIO_READS_PER_SECOND", "unlimited")
    # Fresh budgets; and the fixed record ids of the unit tests are "new" each time.
    crm_push_attio.reset_caches()
    yield
    crm_push_attio.reset_caches()


@pytest.fixture
def sleeps() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def attio(sleeps: FakeSleep) -> Iterator[AttioDestination]:
    dest = AttioDestination(sleep=sleeps)
    yield dest
    dest.close()


@pytest.fixture
def dest(attio: AttioDestination) -> Destination:
    """The Attio plugin behind core's facade, as the pusher sees it."""
    return Destination("attio", attio)


@pytest.fixture
def connection() -> Connection:
    return make_connection()


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """respx on Attio's API; unmatched calls fail the test."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as router:
        yield router
