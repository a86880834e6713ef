"""Connecting: a token (environment, stored, or OAuth), the portal, the scopes, a Connection.

And disconnecting, which deletes nothing in HubSpot: an OAuth refresh token is revoked; a
static token (private app, service key) can only be revoked in HubSpot itself.
"""

from __future__ import annotations

import os
import re
from typing import Any

from crm_push.errors import CrmPushError, Fatal, InvalidInput, ReconnectRequired, ScopeMissing
from crm_push.http import has_control_characters
from crm_push.models import (
    Connection,
    ConnectOptions,
    Credentials,
    DisconnectResult,
    OAuthSettings,
)
from crm_push.oauth import introspect, revoke
from pydantic import SecretStr

from . import oauth
from .api import DEFAULT_API_VERSION, DEFAULT_BASE_URL, REQUIRED_SCOPES, HubSpotClient
from .clients import Clients
from .errors import NO_TOKEN, RECONNECT, SettingError
from .limits import check_settings
from .properties import UNIQUE_DOMAIN, domain_property

NAME = "hubspot"
TOKEN_ENV = "HUBSPOT_ACCESS_TOKEN"
BASE_URL_ENV = "HUBSPOT_BASE_URL"
VERSION_ENV = "HUBSPOT_API_VERSION"
VERSION_OPTION = "api_version"
_VERSION = re.compile(r"^\d{4}-(03|09)$")

FROM_STORED = "the stored HubSpot token"
KEPT = "Nothing in HubSpot was deleted: the records and notes pushed so far stay."
LINKEDIN = "hs_linkedin_url"


def token_of(credentials: Credentials | None, options: ConnectOptions) -> tuple[str, str]:
    """(token, where it came from): HUBSPOT_ACCESS_TOKEN, else the stored credentials."""
    if options.oauth:
        # The flow is core's: `crm-push connect --oauth` and crm_push.oauth.begin/complete
        # run it and hand the new token to this hook.
        raise ReconnectRequired(
            "the HubSpot OAuth flow is run by crm-push itself, not by the connect hook",
            next_step="run `crm-push --dest hubspot connect --oauth`, or use "
            "crm_push.oauth.begin/complete in a host app",
        )
    env = os.environ.get(TOKEN_ENV, "").strip() if options.environment else ""
    if env:
        token, source = env, f"the token in {TOKEN_ENV}"
    elif credentials is not None and credentials.access_token is not None:
        token, source = credentials.access_token.get_secret_value(), FROM_STORED
    else:
        raise ReconnectRequired(NO_TOKEN, next_step=RECONNECT)
    if has_control_characters(token):
        raise ReconnectRequired(
            f"{source} holds a control character (a line break, a tab), which no HTTP header "
            "can carry; it was not sent",
            next_step=RECONNECT,
        )
    return token, source


def base_url_of(options: ConnectOptions) -> str:
    """--base-url, then HUBSPOT_BASE_URL, then the stored one, then HubSpot's."""
    env = os.environ.get(BASE_URL_ENV, "").strip() if options.environment else ""
    for url in (options.base_url, env, options.stored_base_url):
        if url and url.strip():
            return url.strip().rstrip("/")
    return DEFAULT_BASE_URL


def version_of(options: ConnectOptions) -> str:
    """`--option api_version=…`, then HUBSPOT_API_VERSION, then 2026-03."""
    env = os.environ.get(VERSION_ENV, "").strip() if options.environment else ""
    version = (options.extra.get(VERSION_OPTION) or env or DEFAULT_API_VERSION).strip()
    if not _VERSION.match(version):
        raise SettingError(
            f"{version!r} is not a HubSpot API version (they are dated YYYY-03 or YYYY-09)",
            next_step=f"set {VERSION_ENV} or `--option {VERSION_OPTION}=` to e.g. "
            f"{DEFAULT_API_VERSION}",
        )
    return version


def _scopes(client: HubSpotClient, token: str) -> tuple[str, ...] | None:
    """The token's scopes from HubSpot's private-app token info; None when HubSpot does not
    say (service keys have no documented introspection [unverified]): then a missing scope
    shows as a 403 naming it, on the first call that needs it."""
    try:
        info = client.private_app_token_info(token)
    except (InvalidInput, ScopeMissing):
        return None
    scopes = info.get("scopes")
    return tuple(str(s) for s in scopes) if isinstance(scopes, list) else None


def oauth_settings(options: ConnectOptions) -> OAuthSettings:
    """HubSpot's OAuth endpoints for the base URL the options resolve to."""
    return oauth.settings(options.extra, base_url_of(options))


def _oauth_scopes(
    clients: Clients, credentials: Credentials, options: ConnectOptions, base_url: str
) -> tuple[str, ...]:
    """An OAuth token's scopes, from HubSpot's introspection (the app's id and secret)."""
    facts = introspect(
        credentials,
        oauth.settings(options.extra, base_url),
        transport=clients.transport,
        crm="HubSpot",
    )
    if facts.get("active") is not True:
        raise ReconnectRequired(
            f"HubSpot says the OAuth token is no longer active ({base_url})", next_step=RECONNECT
        )
    scopes = facts.get("scopes")
    return tuple(str(s) for s in scopes) if isinstance(scopes, list) else ()


def connect(
    clients: Clients, credentials: Credentials | None, options: ConnectOptions
) -> Connection:
    """Check the token with GET /account-info/{v}/details, read its scopes, describe the portal.

    OAuth credentials (the app's client id and a refresh token) are refreshed first when
    their access token expires within minutes; their scopes come from HubSpot's introspection.
    """
    token, source = token_of(credentials, options)
    base_url = base_url_of(options)
    version = version_of(options)
    check_settings()  # a bad HUBSPOT_REQUESTS_PER_… is one error now, not one per visitor
    creds = Credentials(access_token=SecretStr(token), token_type="bearer")
    if credentials is not None and oauth.is_oauth(credentials) and source == FROM_STORED:
        creds = credentials
        if oauth.expired(creds):
            creds = oauth.renew(creds, base_url, clients.transport)
            assert creds.access_token is not None
            token = creds.access_token.get_secret_value()
    http = clients.http(base_url, token, None)
    client = HubSpotClient(http, http, version)
    details: dict[str, Any] = {}
    try:
        try:
            details = client.account_details()
        except ReconnectRequired:
            raise ReconnectRequired(
                f"HubSpot refused {source} ({base_url})", next_step=RECONNECT
            ) from None
        except (InvalidInput, Fatal) as exc:
            # 404, a redirect, not JSON: whatever answered is not HubSpot's API.
            raise SettingError(
                f"{base_url} did not answer as HubSpot does: {exc.message}",
                next_step=f"set {BASE_URL_ENV} (or `connect --base-url`) to {DEFAULT_BASE_URL} "
                "or to a local HubSpot-compatible server",
            ) from None
        portal = details.get("portalId")
        if portal is None:
            raise SettingError(
                f"{base_url} did not answer as HubSpot does: no portalId in the account details",
                next_step=f"set {BASE_URL_ENV} to {DEFAULT_BASE_URL} or a local HubSpot server",
            )
        scopes = (
            _oauth_scopes(clients, creds, options, base_url)
            if oauth.is_oauth(creds)
            else _scopes(client, token)
        )
        warnings: list[str] = []
        if scopes is None:
            warnings.append(
                "HubSpot did not say which scopes this token has (a service key?): a missing "
                "one will fail the first visitor that needs it, naming it"
            )
        else:
            missing = [s for s in REQUIRED_SCOPES if s not in scopes]
            if missing:
                raise ScopeMissing(
                    f"the HubSpot token lacks the scope {missing[0]} (needed: "
                    f"{', '.join(REQUIRED_SCOPES)})",
                    scope=missing[0],
                    next_step=f"add {', '.join(missing)} to the private app or service key, "
                    "then reconnect",
                )
        try:
            contact_properties: set[str] | None = client.property_names("contacts")
        except CrmPushError:
            contact_properties = None  # not readable: send what we have, HubSpot will say
        if contact_properties is not None and LINKEDIN not in contact_properties:
            warnings.append(
                f"this portal has no contact property {LINKEDIN}: LinkedIn URLs "
                "of people are not sent"
            )
        # Companies upsert on a unique property where the token may make it (properties.py).
        no_unique = domain_property(client, scopes)
        if no_unique:
            warnings.append(no_unique)
    finally:
        if details.get("portalId") is not None:
            clients.count_check(str(details["portalId"]), dict(http.stats.as_dict()))
        http.close()
    connection = Connection(
        destination=NAME,
        workspace_id=str(portal),
        workspace_name=f"HubSpot portal {portal}"
        + (f" ({details['uiDomain']})" if details.get("uiDomain") else ""),
        scopes=scopes or (),
        capabilities=frozenset({"notes"} | (set() if no_unique else {UNIQUE_DOMAIN})),
        warnings=tuple(warnings),
        credentials=creds,
        base_url=base_url,
    )
    clients.set_options(connection, version, contact_properties)
    return connection


def disconnect(clients: Clients, connection: Connection) -> DisconnectResult:
    """Revoke an OAuth refresh token; a private-app token or service key is revoked in
    HubSpot. Nothing in HubSpot is deleted."""
    creds = connection.credentials
    if oauth.is_oauth(creds):
        settings = oauth.settings(None, connection.base_url)
        revoked, why = revoke(creds, settings, transport=clients.transport, crm="HubSpot")
        if revoked:
            return DisconnectResult(
                revoked=True, message=f"Revoked the HubSpot app's refresh token. {KEPT}"
            )
        return DisconnectResult(
            revoked=False,
            message=f"Could not revoke the HubSpot token ({why}); uninstall the app in HubSpot "
            f"(Settings → Integrations → Connected apps). {KEPT}",
        )
    return DisconnectResult(
        revoked=False,
        message="crm-push forgets the HubSpot token; to revoke it, rotate or delete the "
        "private app's token or the service key in HubSpot. " + KEPT,
    )
