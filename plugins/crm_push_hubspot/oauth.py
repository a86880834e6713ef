"""HubSpot's OAuth particulars: endpoints, scopes, the token answer, and a token kept fresh.

The protocol (consent URL, state, PKCE, code exchange, refresh, revoke, the CLI's loopback
flow) is core's, `crm_push.oauth`, on authlib; this module says where HubSpot's endpoints are
and how HubSpot answers. HubSpot's OAuth access tokens live 30 minutes and "401s are not a
valid indicator that a new access token must be retrieved" [doc usage-details]: `TokenAuth`
refreshes ahead of the stated expiry, never on a 401. HubSpot has kept the refresh token on a
refresh so far; one that comes back rotated is used and kept (`current_credentials`).

Endpoints follow the base URL: HubSpot's own (app.hubspot.com for the consent page, the dated
`/oauth/2026-03/…` paths on api.hubapi.com), or a local server's for any other base URL;
`--option authorize_url=` (and `token_url`, `revoke_url`, `introspect_url`) override them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import httpx
from crm_push.http import BearerAuth, can_refresh
from crm_push.http import expired as expired_by
from crm_push.models import Credentials, OAuthSettings
from crm_push.oauth import refresh

from .api import DEFAULT_API_VERSION, DEFAULT_BASE_URL, REQUIRED_SCOPES
from .errors import RECONNECT

DEFAULT_AUTHORIZE_URL = "https://app.hubspot.com/oauth/authorize"
CLIENT_ID_ENV = "HUBSPOT_CLIENT_ID"
CLIENT_SECRET_ENV = "HUBSPOT_CLIENT_SECRET"
REDIRECT_URI_ENV = "HUBSPOT_REDIRECT_URI"
#: Asked too: `oauth` (account details) [doc]; the schema scope lets connect make the unique
#: domain property that makes company upserts race-free, so it is optional (HubSpot's
#: `optional_scope`: granted when the installing user may, never a refusal).
SCOPES = (*REQUIRED_SCOPES, "oauth")
OPTIONAL_SCOPES = ("crm.schemas.companies.read", "crm.schemas.companies.write")
#: Refresh this long before the stated expiry, so no request races it (tokens live 30 min).
EXPIRY_MARGIN = dt.timedelta(minutes=5)

OAUTH_HELP = (
    "create a HubSpot app (Development → Apps), register the redirect URI, and set "
    f"{CLIENT_ID_ENV} and {CLIENT_SECRET_ENV} (or pass --client-id/--client-secret)"
)


def settings(extra: Mapping[str, str] | None, base_url: str | None) -> OAuthSettings:
    """HubSpot's OAuth endpoints for this API base URL (overridable by connect options)."""
    extra = extra or {}
    base = (base_url or DEFAULT_BASE_URL).rstrip("/")
    oauth = f"{base}/oauth/{DEFAULT_API_VERSION}"
    # The consent page is HubSpot's web app, not its API host; a local server serves both.
    authorize = DEFAULT_AUTHORIZE_URL if base == DEFAULT_BASE_URL else f"{base}/oauth/authorize"
    return OAuthSettings(
        authorize_url=extra.get("authorize_url") or authorize,
        token_url=extra.get("token_url") or f"{oauth}/token",
        revoke_url=extra.get("revoke_url") or f"{oauth}/token/revoke",
        introspect_url=extra.get("introspect_url") or f"{oauth}/token/introspect",
        scopes=SCOPES,
        authorize_params={"optional_scope": " ".join(OPTIONAL_SCOPES)},
        # The token endpoint takes `code_verifier` [doc Spec]: PKCE on.
        pkce=True,
        # "all parameters in the body" [doc]
        token_auth="client_secret_post",
        # HubSpot's revoke endpoint takes the refresh token [doc].
        revoke_token="refresh_token",
        client_id_env=CLIENT_ID_ENV,
        client_secret_env=CLIENT_SECRET_ENV,
        redirect_uri_env=REDIRECT_URI_ENV,
        base_url=base,
        help=OAUTH_HELP,
    )


def is_oauth(credentials: Credentials | None) -> bool:
    """OAuth credentials (an app's client id and a refresh token), not a static token."""
    return can_refresh(credentials)


def expired(credentials: Credentials) -> bool:
    """The stated expiry is past, or less than EXPIRY_MARGIN away."""
    return expired_by(credentials, EXPIRY_MARGIN)


def renew(
    credentials: Credentials, base_url: str | None, transport: httpx.BaseTransport | None
) -> Credentials:
    """New credentials for the refresh token (`crm_push.oauth.refresh`)."""
    return refresh(
        credentials,
        settings(None, base_url),
        transport=transport,
        crm="HubSpot",
    )


class TokenAuth(BearerAuth):
    """The bearer token of an OAuth connection, refreshed ahead of its expiry (one refresh for
    all threads; never on a 401, which HubSpot does not promise left the request unapplied).
    `credentials` are the ones in use now."""

    def __init__(
        self,
        credentials: Credentials,
        base_url: str | None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            credentials,
            lambda old: renew(old, base_url, transport),
            crm="HubSpot",
            next_step=RECONNECT,
            margin=EXPIRY_MARGIN,
        )
