"""The client cache: one client per connection, bounded (LRU), closing what it evicts; cheap."""

from __future__ import annotations

import time

import httpx
import pytest
from crm_push.models import Connection, Credentials
from pydantic import SecretStr

from crm_push_attio import clients as attio_clients


def connection(i: int, token: str | None = None) -> Connection:
    return Connection(
        destination="attio",
        workspace_id=f"ws_{i}",
        credentials=Credentials(access_token=SecretStr(token or f"token-{i}")),
        base_url="https://api.attio.com",
    )


def is_closed(client: attio_clients.AttioClient) -> bool:
    return client.http._client.is_closed and client.once._client.is_closed


def test_the_cache_is_bounded_and_closes_the_least_recently_used() -> None:
    cache = attio_clients.Clients(cache_size=3)
    first = [cache.client(connection(i)) for i in range(3)]
    assert cache.client(connection(0)) is first[0]  # a hit: now the most recently used
    newer = cache.client(connection(3))  # evicts ws_1, the least recently used
    assert is_closed(first[1]) and not is_closed(first[0]) and not is_closed(first[2])
    assert len(cache._clients) == 3
    again = cache.client(connection(1))  # built anew, not the closed one
    assert again is not first[1] and not is_closed(again)
    assert is_closed(first[2])  # ws_2 was then the least recently used
    cache.close()
    assert all(is_closed(c) for c in (first[0], newer, again))


def test_evicted_clients_keep_their_figures_and_renewed_credentials() -> None:
    def ok(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": []})

    cache = attio_clients.Clients(httpx.MockTransport(ok), cache_size=1)
    conn = connection(0)
    client = cache.client(conn)
    client.http.request("GET", "/v2/objects")
    renewed = Credentials(access_token=SecretStr("renewed"), refresh_token=SecretStr("r2"))
    cache._auths[attio_clients.key_of(conn)]._credentials = renewed  # as a refresh leaves it
    cache.client(connection(1))  # evicts ws_0
    assert is_closed(client)
    assert cache.request_stats(conn)["requests"] == 1
    assert cache.credentials(conn) == renewed


def test_the_default_size_is_documented_and_at_least_the_worker_concurrency() -> None:
    assert attio_clients.CACHE_SIZE == 256
    with pytest.raises(ValueError):
        attio_clients.Clients(cache_size=0)


def test_a_client_costs_well_under_a_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    cache = attio_clients.Clients(cache_size=1000)
    cache.client(connection(-1))  # the shared SSL context, made once
    started = time.perf_counter()
    for i in range(300):
        cache.client(connection(i))
    per_client = (time.perf_counter() - started) / 300
    cache.close()
    # About 0.2 ms here; one SSL context each (the old way) was 20–70 ms. Loose for slow CI.
    assert per_client < 0.005
