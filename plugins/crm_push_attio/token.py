"""The bearer token on every Attio request, renewed in flight when it can be.

With an OAuth refresh token, a request that Attio answers 401 (or one sent past the token's
expiry) triggers one refresh (`crm_push.oauth.refresh`, on authlib), shared by all threads,
and is sent again with the new token: a long push outlives its access token. Without one, the
401 stands and the run stops, saying "reconnect Attio". The flow is core's `BearerAuth`.
"""

from __future__ import annotations

import datetime as dt

import httpx
from crm_push.http import BearerAuth
from crm_push.http import expired as expired_by
from crm_push.models import Credentials
from crm_push.oauth import refresh

from . import oauth
from .errors import RECONNECT

#: Refresh this long before the stated expiry, so no request races it.
EXPIRY_MARGIN = dt.timedelta(seconds=60)


def expired(credentials: Credentials) -> bool:
    """Whether the credentials' stated expiry is past, or less than EXPIRY_MARGIN away."""
    return expired_by(credentials, EXPIRY_MARGIN)


class TokenAuth(BearerAuth):
    """An Attio connection's credentials on every request; renewed (with `endpoints`) ahead of
    the expiry and on a 401, which Attio answers before applying anything."""

    def __init__(
        self,
        credentials: Credentials,
        endpoints: oauth.Endpoints | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        def renew(old: Credentials) -> Credentials:
            assert endpoints is not None
            return refresh(old, endpoints.settings(), transport=transport, crm="Attio")

        super().__init__(
            credentials,
            renew if endpoints is not None else None,
            crm="Attio",
            next_step=RECONNECT,
            margin=EXPIRY_MARGIN,
            refresh_on_401=True,
        )
