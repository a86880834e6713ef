"""The Attio clients of one destination, one per connection: shared token, budget and stats."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import threading
import time
from collections.abc import Callable

import httpx
from crm_push.errors import CrmPushError, ReconnectRequired
from crm_push.http import Budget, HttpClient
from crm_push.models import Connection, Credentials

from . import oauth
from .actions import AttioActions
from .api import DEFAULT_BASE_URL, AttioClient
from .errors import RECONNECT, error_for, is_retriable
from .limits import notes_list_limits, workspace_limits
from .token import TokenAuth

#: What a cached client is for: (base URL, workspace id, a hash of the token).
Key = tuple[str, str, str]


def _version() -> str:
    try:
        return importlib.metadata.version("crm-push")
    except importlib.metadata.PackageNotFoundError:
        return "0"


USER_AGENT = f"crm-push-attio/{_version()}"


def key_of(connection: Connection) -> Key:
    """The cache key of a connection; ReconnectRequired when it holds no token."""
    token = connection.credentials.access_token
    if token is None:
        raise ReconnectRequired("the Attio connection holds no token", next_step=RECONNECT)
    base_url = (connection.base_url or DEFAULT_BASE_URL).rstrip("/")
    # The token's hash, not the token, keys the cache: nothing secret in any repr.
    digest = hashlib.sha256(token.get_secret_value().encode()).hexdigest()[:16]
    return (base_url, connection.workspace_id, digest)


class Clients:
    """Every Attio client a destination opened, cached per connection. Thread-safe.

    `transport` and `sleep` are the destination's: tests give a fake transport and sleep.
    """

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.transport = transport
        self.sleep = sleep
        self._clients: dict[Key, AttioClient] = {}
        self._auths: dict[Key, TokenAuth] = {}
        self._actions: dict[Key, AttioActions] = {}
        # What the connect checks (GET /v2/self, on clients of their own) spent, by workspace.
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
            transport=self.transport,
            sleep=self.sleep,
        )

    def client(self, connection: Connection) -> AttioClient:
        """The (cached) client of a connection, with its workspace's shared rate budget."""
        key = key_of(connection)
        base_url = key[0]
        with self._lock:
            client = self._clients.get(key)
            if client is None:
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
        with self._lock:
            auth = self._auths.get(key_of(connection))
        return auth.credentials if auth else connection.credentials

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
            https = {id(c): c for c in (client.http, client.once, client.notes)}
            for http in https.values():
                for key, value in http.stats.as_dict().items():
                    totals[key] = totals.get(key, 0) + value
        return totals

    def close(self) -> None:
        """Close every HTTP client opened so far; later calls open new ones."""
        with self._lock:
            self._actions = {}
            clients, self._clients = list(self._clients.values()), {}
            self._auths = {}
        for client in clients:
            client.close()
