"""The bearer token on every request of a connection, renewed when it can be.

An OAuth connection (a refresh token and the app's client id) is renewed ahead of its stated
expiry and, where the CRM says a refused token was not applied, once more on a 401 — one
renewal for all threads, and the request sent again. A static token is only sent.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import httpx
from crm_push.errors import ReconnectRequired
from crm_push.http.redact import has_control_characters

if TYPE_CHECKING:
    from crm_push.models.crm import Credentials


def can_refresh(credentials: Credentials | None) -> bool:
    """OAuth credentials that can be renewed: a refresh token and the app's client id."""
    return (
        credentials is not None
        and credentials.refresh_token is not None
        and bool(credentials.client_id)
    )


def expired(credentials: Credentials, margin: dt.timedelta) -> bool:
    """Whether the credentials' stated expiry is past, or less than `margin` away."""
    expires = credentials.expires_at
    if expires is None:
        return False
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.UTC)
    return expires <= dt.datetime.now(dt.UTC) + margin


class BearerAuth(httpx.Auth):
    """An httpx auth flow holding a connection's current credentials (`credentials`).

    :param renew: new credentials for old ones (`crm_push.oauth.refresh` with the CRM's
        settings), or None when this connection is never renewed.
    :param margin: renew this long before the stated expiry, so no request races it.
    :param refresh_on_401: renew once and send again when the CRM answers 401 (only where a
        refused token means the request was not applied).
    """

    def __init__(
        self,
        credentials: Credentials,
        renew: Callable[[Credentials], Credentials] | None,
        *,
        crm: str,
        next_step: str,
        margin: dt.timedelta = dt.timedelta(seconds=60),
        refresh_on_401: bool = False,
    ) -> None:
        self._credentials = credentials
        self._renew = renew
        self._crm, self._next_step = crm, next_step
        self._margin = margin
        self._refresh_on_401 = refresh_on_401
        self._lock = threading.Lock()

    @property
    def credentials(self) -> Credentials:
        """The credentials now in use (new ones after a renewal)."""
        return self._credentials

    def secret_values(self) -> tuple[str, ...]:
        """What to scrub from messages: the tokens and the OAuth app's client secret."""
        c = self._credentials
        kept = (c.access_token, c.refresh_token, c.client_secret)
        return tuple(s.get_secret_value() for s in kept if s)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._can_renew() and expired(self._credentials, self._margin):
            self._renew_from(self._token())
        token = self._token()
        request.headers["Authorization"] = self._bearer(token)
        response = yield request
        if self._refresh_on_401 and response.status_code == 401 and self._can_renew():
            self._renew_from(token)
            request.headers["Authorization"] = self._bearer(self._token())
            yield request

    def _token(self) -> str:
        token = self._credentials.access_token
        return token.get_secret_value() if token else ""

    def _can_renew(self) -> bool:
        return self._renew is not None and can_refresh(self._credentials)

    def _renew_from(self, stale: str) -> None:
        with self._lock:
            if self._token() != stale:
                return  # another thread renewed it while this one waited
            assert self._renew is not None
            self._credentials = self._renew(self._credentials)

    def _bearer(self, token: str) -> str:
        """The Authorization header; a token no header can carry is refused, never echoed."""
        if has_control_characters(token):
            raise ReconnectRequired(
                f"the {self._crm} token holds a control character (a line break or a tab, "
                "say), which no HTTP header can carry; it was not sent",
                next_step=self._next_step,
            )
        return f"Bearer {token}"
