"""What a destination tells core about its OAuth 2.0 authorization-code flow.

The CRM-specific parts only (endpoints, scopes, PKCE, how the client authenticates, where the
OAuth app's id and secret are found); the protocol itself is core's (`crm_push.oauth`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class OAuthSettings(BaseModel):
    """A destination's OAuth endpoints and habits (the `oauth_settings` hook's answer)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The CRM's consent page (the user approves there).
    authorize_url: str
    #: Where a code (and a refresh token) is traded for tokens.
    token_url: str
    #: Where a token is revoked on `disconnect`; None: the CRM has no revocation endpoint.
    revoke_url: str | None = None
    #: Where a token's facts (scopes, expiry) are asked (RFC 7662); None: the CRM has none,
    #: or the destination asks its own API instead (Attio's /v2/self).
    introspect_url: str | None = None
    #: The scopes asked for, sent space-separated as `scope`; () sends none (the app's own).
    scopes: tuple[str, ...] = ()
    #: Extra query parameters of the consent URL (HubSpot's `optional_scope`, say).
    authorize_params: dict[str, str] = {}
    #: Send a PKCE S256 code challenge (RFC 7636) and its verifier with the code.
    pkce: bool = False
    #: How the app authenticates at the token endpoint (RFC 6749 §2.3.1).
    token_auth: Literal["client_secret_post", "client_secret_basic"] = "client_secret_post"
    #: Which token `disconnect` revokes: the access token (Attio) or the refresh token (HubSpot).
    revoke_token: Literal["access_token", "refresh_token"] = "access_token"
    #: The environment variables holding the OAuth app's client id and secret, read when
    #: `begin` is given none (e.g. ATTIO_CLIENT_ID and ATTIO_CLIENT_SECRET).
    client_id_env: str | None = None
    client_secret_env: str | None = None
    #: The environment variable of a registered loopback redirect URI, which the CLI's flow
    #: (`crm-push connect --oauth`) listens on; unset: a random port on 127.0.0.1.
    redirect_uri_env: str | None = None
    #: The API base URL `connect` checks the new token against (a local server, say);
    #: None: the destination's default.
    base_url: str | None = None
    #: How to register an OAuth app with this CRM, for messages that lack a client id.
    help: str = ""
