"""`HubSpotServer`: a local HubSpot-compatible server for tests, demos and benchmarks."""

from __future__ import annotations

import collections
import threading
from types import TracebackType

from crm_localserver import Listener

from .app import App, RequestLog
from .auth import DEFAULT_SCOPES, DEFAULT_TOKEN, TokenInfo, TokenStore
from .store import Store

_LOG_LIMIT = 100_000


class HubSpotServer:
    """HubSpot's CRM API (contacts, companies, notes, associations, properties, search,
    batches), account info and OAuth, over one in-memory portal.

    Start it with `start()` or as a context manager; `base_url` is then where it listens.
    """

    def __init__(
        self,
        *,
        tokens: dict[str, TokenInfo] | None = None,
        portal_id: int = 12345678,
        api_version: str = "2026-03",
        search_lag: float = 1.0,
        ten_secondly_limit: int | None = 100,
        search_per_second: int | None = 5,
        daily_limit: int = 250_000,
        oauth_clients: dict[str, str] | None = None,
        access_token_seconds: float = 1800,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if tokens is None:
            tokens = {DEFAULT_TOKEN: TokenInfo(scopes=DEFAULT_SCOPES)}
        self.portal_id = portal_id
        self.store = Store(search_lag=search_lag)
        self.tokens = TokenStore(
            dict(tokens), dict(oauth_clients or {}), access_seconds=access_token_seconds
        )
        self._log: collections.deque[RequestLog] = collections.deque(maxlen=_LOG_LIMIT)
        self._log_lock = threading.Lock()
        self.app = App(
            store=self.store,
            tokens=self.tokens,
            portal_id=portal_id,
            api_version=api_version,
            ten_secondly_limit=ten_secondly_limit,
            search_per_second=search_per_second,
            daily_limit=daily_limit,
            log=self._record,
        )
        self._listener = Listener(self.app, host, port, name="hubspot-server")

    def _record(self, entry: RequestLog) -> None:
        with self._log_lock:
            self._log.append(entry)

    @property
    def requests(self) -> list[RequestLog]:
        with self._log_lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    @property
    def base_url(self) -> str:
        if not self._listener.running:
            raise RuntimeError("the server is not started")
        return self._listener.base_url

    def start(self) -> HubSpotServer:
        self._listener.start()
        return self

    def wait(self) -> None:
        self._listener.wait()

    def stop(self) -> None:
        self._listener.stop()

    def __enter__(self) -> HubSpotServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers for tests ------------------------------------------------------------------

    def objects(self, type_: str) -> list[dict[str, object]]:
        """Every object of a type (contacts, companies, notes), with all its properties."""
        with self.store.lock:
            return [
                {"id": o.id, **o.properties}
                for o in sorted(self.store.objects[type_].values(), key=lambda o: int(o.id))
            ]

    def associated(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        with self.store.lock:
            return [to_id for to_id, _ in self.store.linked(from_type, from_id, to_type)]
