"""The Attio clients of one destination, one per connection: shared token, budget and stats."""

from __future__ import annotations

import functools
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import httpx
from crm_push.errors import CrmPushError, ReconnectRequired
from crm_push.http import Budget, HttpClient, connection_key, user_agent
from crm_push.models import Connection, Credentials

from . import oauth
from .actions import AttioActions
from .api import DEFAULT_BASE_URL, AttioClient
from .errors import RECONNECT, error_for, is_retriable
from .limits import notes_list_limits, workspace_limits
from .token import TokenAuth

#: What a cached client is for: (base URL, workspace id, a hash of the token).
Key = tuple[str, str, str]

#: Clients kept open per destination (one per connection: workspace and token); the least
#: recently used beyond this is closed. A worker serving thousands of workspaces keeps only
#: these; as many as `crm-push worker --concurrency` allows at most, so a running job's client
#: is the most recently used, not the one closed.
CACHE_SIZE = 256
#: Renewed credentials of evicted clients kept (a few hundred bytes each), so that
#: `credentials()` still returns a token refreshed before its client was closed.
RENEWED_SIZE = 4096
USER_AGENT = user_agent("crm-push-attio")


def key_of(connection: Connection) -> Key:
    """The cache key of a connection; ReconnectRequired when it holds no token."""
    no_token = ReconnectRequired("the Attio connection holds no token", next_step=RECONNECT)
    return connection_key(connection, DEFAULT_BASE_URL, no_token=no_token)


class Clients:
    """The Attio clients a destination opened, cached per connection (LRU, at most
    `cache_size` open: the least recently used is closed). Thread-safe.

    `transport` and `sleep` are the destination's: tests give a fake transport and sleep.
    """

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        *,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self.transport = transport
        self.sleep = sleep
        self.cache_size = cache_size
        # One jitter source for all (a Random is 2.5 KB; its methods are thread-safe).
        self._rng = random.Random()
        self._clients: OrderedDict[Key, AttioClient] = OrderedDict()
        self._auths: dict[Key, TokenAuth] = {}
        self._actions: dict[Key, AttioActions] = {}
        self._renewed: OrderedDict[Key, Credentials] = OrderedDict()
        # What the connect checks (GET /v2/self, on clients of their own) and the evicted
        # clients spent, by workspace.
        self._checks: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def http(
        self,
        base_url: str,
        auth: TokenAuth,
        limits: Budget | None,
        max_retries: int = 5,
        *,
        error_for: Callable[[httpx.Response], CrmPushError | None] = error_for,
    ) -> HttpClient:
        """An HttpClient on Attio with its error mapping (not cached: the caller closes it)."""
        return HttpClient(
            base_url=base_url,
            auth=auth,
            secrets=auth.secret_values,
            limits=limits,
            timeout=30.0,
            max_retries=max_retries,
            user_agent=USER_AGENT,
            error_for=error_for,
            is_retriable=is_retriable,
            transport=self.transport,  # None: crm_push.http.default_transport()
            sleep=self.sleep,
            rng=self._rng,
        )

    def client(self, connection: Connection) -> AttioClient:
        """The (cached) client of a connection, with its workspace's shared rate budget."""
        key = key_of(connection)
        base_url = key[0]
        evicted: list[AttioClient] = []
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
            else:
                limits = workspace_limits(connection)
                # One token for both clients: a refresh by either serves the other.
                auth = TokenAuth(
                    connection.credentials,
                    oauth.Endpoints.resolve(None, base_url),
                    self.transport,
                )
                self._auths[key] = auth
                # A 403 is told apart (missing scope or no permission) by the token's scopes.
                errors = functools.partial(error_for, scopes=connection.scopes)
                client = self._clients[key] = AttioClient(
                    self.http(base_url, auth, limits, error_for=errors),
                    # Creates: no retry inside HttpClient (see AttioClient and create_once).
                    once=self.http(base_url, auth, limits, max_retries=0, error_for=errors),
                    notes=self.http(
                        base_url,
                        auth,
                        notes_list_limits(connection),
                        error_for=errors,
                    ),
                )
                while len(self._clients) > self.cache_size:
                    evicted.append(self._evict())
        for old in evicted:  # outside the lock: closing waits for nothing of ours
            old.close()
        return client

    def _evict(self) -> AttioClient:
        """Forget the least recently used client (under the lock), keeping what it spent and
        its credentials (a refresh may have renewed them); the caller closes it."""
        key, client = self._clients.popitem(last=False)
        self._actions.pop(key, None)
        auth = self._auths.pop(key, None)
        if auth is not None:
            self._renewed[key] = auth.credentials
            while len(self._renewed) > RENEWED_SIZE:
                self._renewed.popitem(last=False)
        totals = self._checks.setdefault(key[1], {})
        for stat, value in _spent(client).items():
            totals[stat] = totals.get(stat, 0) + value
        return client

    def actions(self, connection: Connection) -> AttioActions:
        """The (cached) actions of a connection: attribute metadata is fetched once per
        connection (and again after `attributes.SCHEMA_TTL` seconds)."""
        client = self.client(connection)
        key = key_of(connection)
        with self._lock:
            actions = self._actions.get(key)
            if actions is None or actions.client is not client:
                actions = self._actions[key] = AttioActions(client)
            return actions

    def credentials(self, connection: Connection) -> Credentials:
        """The connection's credentials as they are now: new ones if a refresh happened."""
        key = key_of(connection)
        with self._lock:
            auth = self._auths.get(key)
            if auth is not None:
                return auth.credentials
            return self._renewed.get(key, connection.credentials)

    def count_check(self, workspace_id: str, stats: dict[str, float]) -> None:
        """Add what a connect check spent to its workspace's figures."""
        with self._lock:
            totals = self._checks.setdefault(workspace_id, {})
            for key, value in stats.items():
                totals[key] = totals.get(key, 0) + value

    def request_stats(self, connection: Connection) -> dict[str, float]:
        """What the HTTP clients of this connection's workspace spent (its connect checks
        included): requests, retries, 429s…"""
        with self._lock:
            clients = [c for k, c in self._clients.items() if k[1] == connection.workspace_id]
            totals = dict(self._checks.get(connection.workspace_id, {}))
        for client in clients:
            for key, value in _spent(client).items():
                totals[key] = totals.get(key, 0) + value
        return totals

    def close(self) -> None:
        """Close every HTTP client opened so far; later calls open new ones."""
        with self._lock:
            self._actions = {}
            clients, self._clients = list(self._clients.values()), OrderedDict()
            self._auths = {}
        for client in clients:
            client.close()


def _spent(client: AttioClient) -> dict[str, float]:
    """The request figures of a client's HTTP clients (counted once when they are one)."""
    totals: dict[str, float] = {}
    https = {id(c): c for c in (client.http, client.once, client.notes)}
    for http in https.values():
        for key, value in http.stats.as_dict().items():
            totals[key] = totals.get(key, 0) + value
    return totals
