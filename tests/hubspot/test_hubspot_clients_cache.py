"""HubSpot's client cache: one set of clients per connection, bounded (LRU), closing what it
evicts; an OAuth connection's renewed credentials outlive its closed clients."""

from __future__ import annotations

import datetime as dt

import pytest
from crm_push.models import Connection, Credentials
from pydantic import SecretStr

from crm_push_hubspot import clients as hubspot_clients


def connection(i: int, credentials: Credentials | None = None) -> Connection:
    return Connection(
        destination="hubspot",
        workspace_id=str(1000 + i),
        credentials=credentials or Credentials(access_token=SecretStr(f"pat-{i}")),
        base_url="https://api.hubapi.com",
    )


def is_closed(client: hubspot_clients.HubSpotClient) -> bool:
    return all(http._client.is_closed for http in client.clients)


def test_the_cache_is_bounded_and_closes_the_least_recently_used() -> None:
    cache = hubspot_clients.Clients(cache_size=3)
    first = [cache.client(connection(i)) for i in range(3)]
    assert cache.client(connection(0)) is first[0]  # a hit: now the most recently used
    cache.client(connection(3))  # evicts portal 1001, the least recently used
    assert is_closed(first[1]) and not is_closed(first[0]) and not is_closed(first[2])
    again = cache.client(connection(1))  # built anew, not the closed one
    assert again is not first[1] and not is_closed(again)
    assert is_closed(first[2])
    cache.close()
    assert is_closed(first[0]) and is_closed(again)


def test_an_oauth_connection_keeps_its_renewed_credentials_after_eviction() -> None:
    oauth = Credentials(
        access_token=SecretStr("at-old"),
        refresh_token=SecretStr("rt-old"),
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        client_id="app",
        client_secret=SecretStr("shh"),
    )
    cache = hubspot_clients.Clients(cache_size=1)
    conn = connection(0, oauth)
    cache.client(conn)
    auth = cache._auths[hubspot_clients.key_of(conn)]
    renewed = oauth.model_copy(update={"access_token": SecretStr("at-new")})
    auth._credentials = renewed  # as a refresh leaves it
    cache.client(connection(1))  # evicts the OAuth connection's clients
    cache.client(conn)  # rebuilt: goes on with the renewed token, not the stored one
    assert cache.credentials(conn).access_token.get_secret_value() == "at-new"
    cache.close()


def test_batches_of_other_domains_do_not_wait_for_each_other_and_of_one_domain_do() -> None:
    import threading

    from crm_push_hubspot.clients import Clients

    clients = Clients()
    first = [f"a{i}.example" for i in range(100)]
    other = [f"b{i}.example" for i in range(100)]
    holding, release = threading.Event(), threading.Event()

    def hold(keys: list[str]) -> None:
        with clients.key_locks("portal", "companies", keys):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold, args=(first,))
    thread.start()
    assert holding.wait(5)
    got: list[str] = []

    def take(keys: list[str]) -> None:
        with clients.key_locks("portal", "companies", keys):
            got.append(keys[0])

    disjoint = threading.Thread(target=take, args=(other,))
    disjoint.start()
    disjoint.join(2)
    assert got == ["b0.example"]  # 100 other domains: not held up by the first batch
    shared = threading.Thread(target=take, args=(["b5.example", "a7.example"],))
    shared.start()
    shared.join(0.3)
    assert shared.is_alive()  # a7 is held: it waits
    release.set()
    thread.join(5)
    shared.join(5)
    assert got == ["b0.example", "b5.example"]
    assert len(clients._key_locks) == 0  # no lock outlives its holders


def test_what_a_kept_process_remembers_is_bounded_in_size_and_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crm_push_hubspot.clients import Clients

    clients = Clients()
    # A record created before a claim began is another visitor's: not the claim's lost create.
    before = dt.datetime.now(dt.UTC)
    clients.remember("portal", "companies", "name=Acme", "7")
    assert clients.created("portal", "companies", "name=Acme", before) == "7"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert clients.created("portal", "companies", "name=Acme", later) is None
    # A write answers "unchanged" only within a run's span.
    clients.wrote("portal", "companies", "acme.com", "7", {"name": "Acme"})
    assert clients.last_write("portal", "companies", "acme.com") == ("7", {"name": "Acme"})
    monkeypatch.setattr(hubspot_clients, "WRITE_MEMORY_SECONDS", 0.0)
    assert clients.last_write("portal", "companies", "acme.com") is None
    # What connect learnt, by token: renewed tokens do not pile up.
    monkeypatch.setattr(hubspot_clients, "AUTHS_KEPT", 3)
    for i in range(10):
        renewed = Credentials(access_token=SecretStr(f"t{i}"))
        clients.set_options(connection(1, renewed), "v3", set())
    assert len(clients._versions) == 3 and len(clients._properties) == 3
