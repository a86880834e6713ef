"""Connecting: a token (environment, stored, OAuth), GET /v2/self, the scopes, a Connection.

And disconnecting, which revokes an OAuth token and deletes nothing in Attio.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

from crm_push.errors import Fatal, InvalidInput, ReconnectRequired, RetryLater, ScopeMissing
from crm_push.http import has_control_characters
from crm_push.models import (
    Connection,
    ConnectOptions,
    Credentials,
    DisconnectResult,
    OAuthSettings,
)
from crm_push.oauth import refresh, revoke
from pydantic import SecretStr

from . import oauth
from .api import DEFAULT_BASE_URL, REQUIRED_SCOPES, SCOPE_NOTES, AttioClient, NotAttio
from .clients import Clients
from .errors import (
    NO_TOKEN,
    NOTES_WARNING,
    RECONNECT,
    USER_TOKEN_WARNING,
    SettingError,
    self_error_for,
)
from .limits import check_settings
from .token import TokenAuth, expired

NAME = "attio"
TOKEN_ENV = "ATTIO_ACCESS_TOKEN"
BASE_URL_ENV = "ATTIO_BASE_URL"
REDIRECT_URI_ENV = oauth.REDIRECT_URI_ENV

KEPT = "Nothing in Attio was deleted: the records and notes pushed so far stay."


def has_scope(scopes: tuple[str, ...] | list[str], needed: str) -> bool:
    """`needed` is granted, or its read-write form is when only read is needed."""
    if needed in scopes:
        return True
    return needed.endswith(":read") and needed + "-write" in scopes


@dataclass(frozen=True)
class BaseUrl:
    """The API base URL and where it came from, for messages."""

    url: str
    origin: str  # "--base-url", "ATTIO_BASE_URL", "the stored connection", "the default"

    @classmethod
    def resolve(cls, options: ConnectOptions) -> BaseUrl:
        """--base-url, then ATTIO_BASE_URL (when allowed), then the stored one, then Attio's."""
        env = os.environ.get(BASE_URL_ENV, "").strip() if options.environment else ""
        for url, origin in (
            (options.base_url, "--base-url"),
            (env, BASE_URL_ENV),
            (options.stored_base_url, "the stored connection"),
        ):
            if url and url.strip():
                return cls(url.strip().rstrip("/"), origin)
        return cls(DEFAULT_BASE_URL, "the default")

    def __str__(self) -> str:
        return f"{self.url} (from {self.origin})"


def wrong_base_url(base: BaseUrl, tried: str) -> SettingError:
    """The error of a base URL that does not answer as Attio does."""
    hint = "; the base URL must not end in /v2" if base.url.endswith("/v2") else ""
    return SettingError(
        f"{base} is not Attio's API: {tried}{hint}",
        next_step=f"set {BASE_URL_ENV} (or `crm-push --dest attio connect --base-url URL`) to "
        f"Attio's API root, {DEFAULT_BASE_URL}, or to a local Attio-compatible server",
    )


def self_info(clients: Clients, base: BaseUrl, credentials: Credentials) -> dict[str, Any] | None:
    """GET /v2/self; None when Attio says the token is dead (inactive, 401, malformed).

    An answer Attio never gives there (404, a redirect, not JSON) says the base URL is wrong;
    a server that cannot be reached is named with the base URL and where it came from.
    """
    assert credentials.access_token is not None
    http = clients.http(base.url, TokenAuth(credentials), None, error_for=self_error_for)
    client = AttioClient(http)
    try:
        info = client.self_info()
    except ReconnectRequired:
        return None
    except InvalidInput:
        # A malformed token gets 400 missing_value on /v2/self.
        return None
    except NotAttio as exc:
        raise wrong_base_url(base, f"GET {base.url}/v2/self {exc.message}") from None
    except RetryLater as exc:
        raise RetryLater(
            f"{exc.message}; Attio's base URL is {base}",
            retry_after=exc.retry_after,
            next_step=f"check the base URL ({BASE_URL_ENV} or `connect --base-url`) and the "
            "network, then try again",
        ) from None
    finally:
        client.close()
    workspace = info.get("workspace_id") or info.get("sub")
    if workspace:
        clients.count_check(str(workspace), dict(http.stats.as_dict()))
    return info if info.get("active") is True else None


#: Where a token came from, as messages name it ("the token in ATTIO_ACCESS_TOKEN was refused").
FROM_ENV = f"the token in {TOKEN_ENV}"
FROM_STORED = "the token of the stored Attio connection"
FROM_OAUTH = "the token the Attio OAuth flow returned"


def _again(source: str) -> str:
    """How to give a good token again, depending on where the bad one came from."""
    if source == FROM_ENV:
        return (
            f"set {TOKEN_ENV} to the token alone, on one line (copy it again from Attio: "
            "Workspace settings → Developers → access token)"
        )
    if source == FROM_OAUTH:
        return "run `crm-push --dest attio connect --oauth` again"
    return RECONNECT


def check_token(credentials: Credentials, source: str) -> None:
    """Refuse, before it is sent, a token no HTTP header can carry; never echo it."""
    token = credentials.access_token
    if token is not None and has_control_characters(token.get_secret_value()):
        raise ReconnectRequired(
            f"{source} holds a control character (a line break or a tab, say), which no HTTP "
            "header can carry; it was not sent",
            next_step=_again(source),
        )


def resolve_credentials(
    credentials: Credentials | None, options: ConnectOptions
) -> tuple[Credentials, str]:
    """The token to use and where it came from (FROM_*): ATTIO_ACCESS_TOKEN (when the caller
    allows the environment), else the credentials given (stored, or fresh from the OAuth flow
    of `crm_push.oauth`). A token with a control character is refused here."""
    creds, source = _resolve(credentials, options)
    check_token(creds, source)
    return creds, source


def _resolve(credentials: Credentials | None, options: ConnectOptions) -> tuple[Credentials, str]:
    if options.oauth:
        # The flow is core's now: `crm-push connect --oauth` and crm_push.oauth.begin/complete
        # run it and hand the new token to this hook.
        raise ReconnectRequired(
            "the Attio OAuth flow is run by crm-push itself, not by the connect hook",
            next_step="run `crm-push --dest attio connect --oauth`, or use "
            "crm_push.oauth.begin/complete in a host app",
        )
    # Only when the caller allows it (the CLI does; a host app's Session does not), so a stray
    # variable never overrides the credentials a host app passed or stored.
    env_token = os.environ.get(TOKEN_ENV, "").strip() if options.environment else ""
    if env_token:
        return Credentials(access_token=SecretStr(env_token)), FROM_ENV
    if credentials is not None and credentials.access_token is not None:
        return credentials, FROM_STORED
    raise ReconnectRequired(NO_TOKEN, next_step="then run `crm-push --dest attio connect`")


def oauth_settings(options: ConnectOptions) -> OAuthSettings:
    """Attio's OAuth endpoints for the base URL the options resolve to."""
    base = BaseUrl.resolve(options)
    return oauth.Endpoints.resolve(options.extra, base.url).settings(base.url)


def _refresh(creds: Credentials, endpoints: oauth.Endpoints, clients: Clients) -> Credentials:
    return refresh(creds, endpoints.settings(), transport=clients.transport, crm="Attio")


def connect(
    clients: Clients, credentials: Credentials | None, options: ConnectOptions
) -> Connection:
    """Resolve a token, check it with GET /v2/self, and describe the workspace.

    Settings are checked first (ATTIO_*_PER_SECOND), before any browser or request.
    """
    check_settings()
    base = BaseUrl.resolve(options)
    base_url = base.url
    endpoints = oauth.Endpoints.resolve(options.extra, base_url)
    creds, source = resolve_credentials(credentials, options)
    refreshed = False
    if expired(creds) and creds.refresh_token is not None:
        creds, refreshed = _refresh(creds, endpoints, clients), True
    info = self_info(clients, base, creds)
    if info is None and creds.refresh_token is not None and not refreshed:
        creds = _refresh(creds, endpoints, clients)
        info = self_info(clients, base, creds)
    if info is None:
        by = "" if base.url == DEFAULT_BASE_URL else f" by {base}"
        raise ReconnectRequired(
            f"{source} was refused (invalid, revoked or expired){by}",
            next_step=_again(source) if source == FROM_OAUTH else RECONNECT,
        )
    scopes = tuple(str(info.get("scope") or "").split())
    missing = [s for s in REQUIRED_SCOPES if not has_scope(scopes, s)]
    if missing:
        names = " and ".join(missing)
        raise ScopeMissing(
            f"the Attio token lacks {names}, which crm-push needs to write people and companies",
            scope=" ".join(missing),
            next_step=f"grant {names} to the access token (Workspace settings → "
            "Developers) or the app, then run `crm-push --dest attio connect` again",
        )
    workspace_id = info.get("workspace_id") or info.get("sub")
    if not workspace_id:
        raise Fatal("Attio's /v2/self answer names no workspace")
    capabilities = {"inline_link"}
    warnings: list[str] = []
    if has_scope(scopes, SCOPE_NOTES):
        capabilities.add("notes")
    else:
        warnings.append(NOTES_WARNING)
    # Attio's token_level: "workspace" or "user" (acts with one member's permissions, so a
    # 403 may mean no permission with every scope granted). Shown by `status` as a capability.
    level = info.get("token_level")
    if level in ("workspace", "user"):
        capabilities.add(f"token_level:{level}")
        if level == "user":
            warnings.append(USER_TOKEN_WARNING)
    exp = info.get("exp")
    if creds.expires_at is None and isinstance(exp, int | float):
        creds = creds.model_copy(
            update={"expires_at": dt.datetime.fromtimestamp(float(exp), dt.UTC)}
        )
    return Connection(
        destination=NAME,
        workspace_id=str(workspace_id),
        workspace_name=info.get("workspace_name"),
        scopes=scopes,
        capabilities=frozenset(capabilities),
        warnings=tuple(warnings),
        credentials=creds,
        base_url=base_url,
    )


def disconnect(clients: Clients, connection: Connection) -> DisconnectResult:
    """Close the clients, and revoke an OAuth token (a workspace token can only be revoked in
    Attio itself). Nothing in Attio is deleted."""
    clients.close()
    creds = connection.credentials
    if creds.client_id and creds.access_token is not None:
        settings = oauth.Endpoints.resolve(None, connection.base_url).settings()
        revoked, why = revoke(creds, settings, transport=clients.transport, crm="Attio")
        if revoked:
            return DisconnectResult(revoked=True, message=f"Revoked the Attio token. {KEPT}")
        return DisconnectResult(
            revoked=False,
            message=f"Could not revoke the Attio token ({why}); remove the app's access in "
            f"Attio (Workspace settings → Apps). {KEPT}",
        )
    return DisconnectResult(
        revoked=False,
        message="An Attio workspace access token cannot be revoked through the API: revoke "
        f"it in Attio (Workspace settings → Developers). {KEPT}",
    )
