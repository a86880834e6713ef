"""Attio's OAuth particulars: endpoints, the app's credentials, the token answer.

The protocol (consent URL, state, code exchange, refresh, revoke, the CLI's loopback flow) is
core's, `crm_push.oauth`, on authlib; this module says where Attio's endpoints are and how
Attio answers. Attio documents no PKCE, no scopes in the consent URL (the app's scopes are set
on build.attio.com) and no refresh token; if one comes back it is kept and used.

Endpoints are overridable — connect option ``--option authorize_url=…`` (and ``token_url``,
``revoke_url``) or ATTIO_AUTHORIZE_URL / ATTIO_TOKEN_URL / ATTIO_REVOKE_URL — and follow the
base URL: with a local server's base URL they are that server's, so the whole flow runs
against it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from crm_push.models import OAuthSettings

from .api import DEFAULT_BASE_URL

DEFAULT_AUTHORIZE_URL = "https://app.attio.com/authorize"
DEFAULT_TOKEN_URL = "https://app.attio.com/oauth/token"
DEFAULT_REVOKE_URL = "https://app.attio.com/oauth/revoke"
CLIENT_ID_ENV = "ATTIO_CLIENT_ID"
CLIENT_SECRET_ENV = "ATTIO_CLIENT_SECRET"
REDIRECT_URI_ENV = "ATTIO_REDIRECT_URI"

OAUTH_HELP = (
    "create an Attio app at build.attio.com, register the redirect URI, and set "
    f"{CLIENT_ID_ENV} and {CLIENT_SECRET_ENV} (or pass --client-id/--client-secret)"
)


@dataclass(frozen=True)
class Endpoints:
    """Where the OAuth calls go."""

    authorize_url: str = DEFAULT_AUTHORIZE_URL
    token_url: str = DEFAULT_TOKEN_URL
    revoke_url: str = DEFAULT_REVOKE_URL

    @classmethod
    def resolve(
        cls, extra: Mapping[str, str] | None = None, base_url: str | None = None
    ) -> Endpoints:
        """Connect options first, then ATTIO_*_URL environment variables, then the defaults.

        The defaults are Attio's (app.attio.com) for Attio's API; for any other base URL (a
        local Attio-compatible server) they are that server's /authorize, /oauth/token and
        /oauth/revoke, so `--base-url` alone is enough to run the whole flow locally.
        """
        extra = extra or {}
        base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        local = base != DEFAULT_BASE_URL
        defaults = {
            "authorize_url": f"{base}/authorize" if local else DEFAULT_AUTHORIZE_URL,
            "token_url": f"{base}/oauth/token" if local else DEFAULT_TOKEN_URL,
            "revoke_url": f"{base}/oauth/revoke" if local else DEFAULT_REVOKE_URL,
        }

        def pick(key: str) -> str:
            return extra.get(key) or os.environ.get(f"ATTIO_{key.upper()}") or defaults[key]

        return cls(pick("authorize_url"), pick("token_url"), pick("revoke_url"))

    def settings(self, base_url: str | None = None) -> OAuthSettings:
        """What `crm_push.oauth` needs to run Attio's flow against these endpoints."""
        return OAuthSettings(
            authorize_url=self.authorize_url,
            token_url=self.token_url,
            revoke_url=self.revoke_url,
            # Attio's token endpoint takes the client's id and secret in the form.
            token_auth="client_secret_post",
            revoke_token="access_token",
            client_id_env=CLIENT_ID_ENV,
            client_secret_env=CLIENT_SECRET_ENV,
            redirect_uri_env=REDIRECT_URI_ENV,
            base_url=base_url,
            help=OAUTH_HELP,
        )
