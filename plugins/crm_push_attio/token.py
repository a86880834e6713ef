"""The bearer token on every Attio request, renewed in flight when it can be.

With an OAuth refresh token, a request that Attio answers 401 (or one sent past the token's
expiry) triggers one refresh (`crm_push.oauth.refresh`, on authlib), shared by all threads,
and is sent again with the new token: a long push outlives its access token. Without one, the
401 stands and the run stops, saying "reconnect Attio".
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Generator

import httpx
from crm_push.errors import ReconnectRequired
from crm_push.http import has_control_characters
from crm_push.models import Credentials
from crm_push.oauth import refresh

from . import oauth
from .errors import RECONNECT

#: Refresh this long before the stated expiry, so no request races it.
EXPIRY_MARGIN = dt.timedelta(seconds=60)


def expired(credentials: Credentials) -> bool:
    """Whether the credentials' stated expiry is past, or less than EXPIRY_MARGIN away."""
    expires = credentials.expires_at
    if expires is None:
        return False
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.UTC)
    return expires <= dt.datetime.now(dt.UTC) + EXPIRY_MARGIN


class TokenAuth(httpx.Auth):
    """An httpx auth flow holding the connection's current credentials."""

    def __init__(
        self,
        credentials: Credentials,
        endpoints: oauth.Endpoints | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._credentials = credentials
        self._endpoints = endpoints
        self._transport = transport
        self._lock = threading.Lock()

    @property
    def credentials(self) -> Credentials:
        """The credentials now in use (new ones after a refresh)."""
        return self._credentials

    def secret_values(self) -> tuple[str, ...]:
        """What to scrub from messages: the tokens and the OAuth app's client secret."""
        c = self._credentials
        kept = (c.access_token, c.refresh_token, c.client_secret)
        return tuple(s.get_secret_value() for s in kept if s)

    def _token(self) -> str:
        token = self._credentials.access_token
        return token.get_secret_value() if token else ""

    def _can_refresh(self) -> bool:
        return self._endpoints is not None and oauth.can_refresh(self._credentials)

    def _refresh(self, stale: str) -> None:
        with self._lock:
            if self._token() != stale:
                return  # another thread renewed it while this one waited
            assert self._endpoints is not None
            self._credentials = refresh(
                self._credentials,
                self._endpoints.settings(),
                transport=self._transport,
                crm="Attio",
            )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._can_refresh() and expired(self._credentials):
            self._refresh(self._token())
        token = self._token()
        request.headers["Authorization"] = _bearer(token)
        response = yield request
        if response.status_code == 401 and self._can_refresh():
            # Attio refused the token, so the request was not applied: safe to send again.
            self._refresh(token)
            request.headers["Authorization"] = _bearer(self._token())
            yield request


def _bearer(token: str) -> str:
    """The Authorization header; a token no header can carry is refused, never echoed."""
    if has_control_characters(token):
        raise ReconnectRequired(
            "the Attio token holds a control character (a line break or a tab, say), which no "
            "HTTP header can carry; it was not sent",
            next_step=RECONNECT,
        )
    return f"Bearer {token}"
