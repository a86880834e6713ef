"""The HubSpot clients of one destination, one per connection, plus what this process wrote.

Thread-safe: hooks run on several workers at once. Besides the clients it keeps, per portal,
the ids this process created (companies by domain, keyless records by their data): HubSpot's
search lags writes, so a record created a moment ago is found here, not by a search.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
from crm_push.errors import ReconnectRequired
from crm_push.http import Budget, HttpClient, connection_key, user_agent
from crm_push.models import Connection, Credentials

from .api import DEFAULT_API_VERSION, DEFAULT_BASE_URL, HubSpotClient
from .errors import RECONNECT, error_for, is_retriable
from .limits import KindBudget, portal_budget, throttle_wait
from .oauth import TokenAuth, is_oauth

#: What a cached client is for: (base URL, portal id, a hash of the token).
Key = tuple[str, str, str]
#: The most (portal, object type, key) writes remembered (least recently used forgotten).
WRITES_KEPT = 100_000
#: Connections whose clients stay open; the least recently used beyond this is closed (as the
#: Attio plugin's cache: a worker serving thousands of portals keeps only these).
CACHE_SIZE = 256
#: OAuth connections whose current (perhaps renewed) credentials are kept after their clients
#: were closed, so a rebuilt client goes on with the renewed token.
AUTHS_KEPT = 4096


#: Seconds this process's memory of a write answers for HubSpot ("unchanged", no request): a
#: run's span, not a worker's days, in which the record may have changed in HubSpot.
WRITE_MEMORY_SECONDS = 600.0


def _put(memory: OrderedDict[Any, Any], key: Any, value: Any, most: int) -> None:
    """Set a key of a bounded memory, the least recently set going first."""
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > most:
        memory.popitem(last=False)


class _KeyLock:
    """The lock of one key (a domain), kept only while someone holds or waits for it."""

    __slots__ = ("__weakref__", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()


USER_AGENT = user_agent("crm-push-hubspot")


def key_of(connection: Connection) -> Key:
    no_token = ReconnectRequired("the HubSpot connection holds no token", next_step=RECONNECT)
    return connection_key(connection, DEFAULT_BASE_URL, no_token=no_token)


class Clients:
    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.transport = transport
        self.sleep = sleep
        self.cache_size = cache_size
        self._clients: OrderedDict[Key, HubSpotClient] = OrderedDict()
        self._versions: OrderedDict[Key, str] = OrderedDict()
        self._auths: OrderedDict[Key, TokenAuth] = OrderedDict()  # OAuth connections' tokens
        self._properties: OrderedDict[Key, set[str]] = OrderedDict()
        self._checks: dict[str, dict[str, float]] = {}
        # (portal, object type, key) -> (record id, when), for records this process created.
        self._created: OrderedDict[tuple[str, str, str], tuple[str, dt.datetime]] = OrderedDict()
        self._lock = threading.Lock()
        # Locks by (portal, object, key): two workers asserting the same company wait for each
        # other instead of both creating it; batches of other keys go on at once.
        self._key_locks: weakref.WeakValueDictionary[tuple[str, str, str], _KeyLock] = (
            weakref.WeakValueDictionary()
        )
        # (portal, object type, key) -> (record id, the values sent, when): one write per
        # domain in a run, whichever worker's batch holds it.
        self._writes: OrderedDict[tuple[str, str, str], tuple[str, dict[str, str], float]] = (
            OrderedDict()
        )

    def http(
        self, base_url: str, token: str | TokenAuth, limits: Budget | None, max_retries: int = 5
    ) -> HttpClient:
        """An HttpClient on HubSpot with its error mapping and its reading of a 429's body
        (the caller closes it); `token` a static one, or an OAuth connection's auth, refreshed
        ahead of its expiry."""
        return HttpClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"} if isinstance(token, str) else None,
            auth=None if isinstance(token, str) else token,
            secrets=None if isinstance(token, str) else token.secret_values,
            limits=limits,
            timeout=30.0,
            max_retries=max_retries,
            user_agent=USER_AGENT,
            error_for=error_for,
            is_retriable=is_retriable,
            throttle_wait=throttle_wait,
            transport=self.transport,
            sleep=self.sleep,
            name="HubSpot",
        )

    def set_options(
        self, connection: Connection, version: str, contact_properties: set[str] | None
    ) -> None:
        """What connect learnt: the API version, and the contact properties the portal has."""
        key = key_of(connection)
        with self._lock:  # by token: bounded, since a worker's tokens are renewed for days
            _put(self._versions, key, version, AUTHS_KEPT)
            if contact_properties is not None:
                _put(self._properties, key, contact_properties, AUTHS_KEPT)

    def has_contact_property(self, connection: Connection, name: str) -> bool:
        """Whether the portal has this contact property (True when connect could not tell)."""
        with self._lock:
            names = self._properties.get(key_of(connection))
        return names is None or name in names

    def client(self, connection: Connection) -> HubSpotClient:
        key = key_of(connection)
        token = connection.credentials.access_token
        assert token is not None
        evicted: list[HubSpotClient] = []
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
            portal = portal_budget(connection)
            secret = self._token(key, connection, token.get_secret_value())
            client = self._clients[key] = HubSpotClient(
                self.http(key[0], secret, KindBudget(portal)),
                self.http(key[0], secret, KindBudget(portal), max_retries=0),
                self._versions.get(key, DEFAULT_API_VERSION),
                searches=self.http(key[0], secret, KindBudget(portal, search=True)),
                observe=portal.observe,
            )
            while len(self._clients) > self.cache_size:
                evicted.append(self._clients.popitem(last=False)[1])
        for old in evicted:  # outside the lock: closing waits for the pools
            old.close()
        return client

    def _token(self, key: Key, connection: Connection, static: str) -> str | TokenAuth:
        """What the clients of a connection send: its static token, or for OAuth one auth
        shared by its clients, which refreshes ahead of the expiry."""
        if not is_oauth(connection.credentials):
            return static
        auth = self._auths.get(key)  # kept from a closed client: perhaps renewed since
        if auth is None:
            auth = TokenAuth(connection.credentials, connection.base_url, self.transport)
        _put(self._auths, key, auth, AUTHS_KEPT)
        return auth

    def credentials(self, connection: Connection) -> Credentials:
        """The credentials of a connection as they are now: a static token never changes;
        an OAuth one after a refresh is the renewed one (a rotated refresh token too)."""
        with self._lock:
            auth = self._auths.get(key_of(connection))
        return auth.credentials if auth is not None else connection.credentials

    # -- what this process created ------------------------------------------------------------

    @contextlib.contextmanager
    def key_locks(self, portal: str, object_type: str, keys: Iterable[str]) -> Iterator[None]:
        """Hold the locks of several keys, one lock per key, taken in sorted order so two
        batches sharing keys cannot deadlock."""
        names = sorted({(portal, object_type, key) for key in keys})
        with self._lock:
            held = []  # referenced while held, so the weak dictionary keeps them
            for name in names:
                key_lock = self._key_locks.get(name)
                if key_lock is None:
                    key_lock = self._key_locks[name] = _KeyLock()
                held.append(key_lock)
        with contextlib.ExitStack() as stack:
            for key_lock in held:
                stack.enter_context(key_lock.lock)
            yield

    def last_write(
        self, portal: str, object_type: str, key: str
    ) -> tuple[str, dict[str, str]] | None:
        """(record id, the values sent) of this process's last write of a key in the last
        `WRITE_MEMORY_SECONDS`, or None."""
        with self._lock:
            found = self._writes.get((portal, object_type, key))
            if found is None or time.monotonic() - found[2] > WRITE_MEMORY_SECONDS:
                return None
            self._writes.move_to_end((portal, object_type, key))
            return found[0], found[1]

    def wrote(
        self, portal: str, object_type: str, key: str, record_id: str, values: dict[str, str]
    ) -> None:
        with self._lock:
            last = self._writes.get((portal, object_type, key))
            if last is not None and last[0] == record_id:
                values = {**last[1], **values}  # what HubSpot holds from this process's writes
            kept = (record_id, dict(values), time.monotonic())
            _put(self._writes, (portal, object_type, key), kept, WRITES_KEPT)

    def created(self, portal: str, object_type: str, key: str, since: dt.datetime) -> str | None:
        """The record this process created for a key at or after `since` (a claim's start:
        an older one is another visitor's), or None."""
        since = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
        with self._lock:
            found = self._created.get((portal, object_type, key))
        return found[0] if found is not None and found[1] >= since else None

    def remember(self, portal: str, object_type: str, key: str, record_id: str) -> None:
        with self._lock:  # bounded: a worker runs for days
            kept = (record_id, dt.datetime.now(dt.UTC))
            _put(self._created, (portal, object_type, key), kept, WRITES_KEPT)

    # -- statistics and closing -------------------------------------------------------------

    def count_check(self, portal: str, stats: dict[str, float]) -> None:
        with self._lock:
            totals = self._checks.setdefault(portal, {})
            for name, value in stats.items():
                totals[name] = totals.get(name, 0) + value

    def request_stats(self, connection: Connection) -> dict[str, float]:
        with self._lock:
            clients = [c for k, c in self._clients.items() if k[1] == connection.workspace_id]
            totals = dict(self._checks.get(connection.workspace_id, {}))
        for client in clients:
            for http in client.clients:
                for name, value in http.stats.as_dict().items():
                    totals[name] = totals.get(name, 0) + value
        return totals

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), OrderedDict()
            self._auths.clear()
        for client in clients:
            client.close()
