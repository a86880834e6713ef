"""The OAuth 2.0 web flow: `begin` (the consent URL), `complete` (the answer → a stored connection).

A host app connects a customer's CRM from a web page in two requests::

    from crm_push import oauth

    # GET /integrations/attio/connect
    auth = oauth.begin("attio", redirect_uri="https://app.example.com/integrations/attio/callback")
    session["attio_state"] = auth.state          # the only thing the host keeps
    return redirect(auth.url)                    # the CRM's consent page

    # GET /integrations/attio/callback?code=…&state=…
    connection = oauth.complete(
        "attio", query=request.args, state=session.pop("attio_state", ""),
        redirect_uri="https://app.example.com/integrations/attio/callback", tenant="cust_42")

What `begin` must hand to `complete` travels in the state itself: the state is a Fernet token
(authenticated encryption, from `cryptography`) holding a random nonce, the destination, the
redirect URI, the client id (and a client secret given to `begin`), the PKCE verifier and the
connect options, sealed with the first key of CRM_PUSH_SECRET_KEY and valid for
ATTEMPT_SECONDS. So the host keeps one opaque string, nobody can read or forge what it
carries, and any process sharing the key can complete. Without CRM_PUSH_SECRET_KEY a key made
at start-up is used: fine for one process (the CLI, a development server); a host app with
several processes must set the variable. `complete` records the nonce in the state database
(`crm_push.state.attempts`) before it exchanges the code, so a replayed answer stores nothing.

The protocol runs on authlib's httpx client (authorization URL, PKCE, code exchange, refresh,
revocation); destinations give their particulars through the optional hooks `oauth_settings`
and `oauth_credentials`. `loopback` is the CLI's flow (`crm-push connect --oauth`): a listener
on 127.0.0.1 as the redirect URI, then `begin` and `complete`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import math
import os
import secrets
import sys
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from socket import AF_INET6
from typing import TYPE_CHECKING, Any

from crm_push.errors import ConfigurationError, ReconnectRequired, ScopeMissing
from crm_push.models.crm import Connection, ConnectOptions, Credentials
from pydantic import SecretStr

if TYPE_CHECKING:
    import httpx
    from crm_push.destination.facade import Destination
    from crm_push.models.oauth import OAuthSettings

#: How long an attempt may take, from `begin` to `complete`, in seconds.
ATTEMPT_SECONDS = 600
#: How long the CLI's loopback flow waits for the browser by default (option `oauth_timeout`).
DEFAULT_TIMEOUT = 300.0
CALLBACK_PATH = "/callback"
_SECRET_KEY_ENV = "CRM_PUSH_SECRET_KEY"


@dataclass(frozen=True)
class Authorization:
    """Where to send the user (`url`, the CRM's consent page) and the `state` to keep."""

    url: str
    state: str

    def __repr__(self) -> str:  # the state is the attempt's key: not for logs
        return "Authorization(url=…, state=…)"


@dataclass(frozen=True)
class _Attempt:
    """What `begin` hands to `complete`, sealed inside the state."""

    nonce: str
    destination: str
    redirect_uri: str
    client_id: str
    client_secret: str | None
    code_verifier: str | None
    base_url: str | None
    options: dict[str, str]


# -- begin ----------------------------------------------------------------------------------


def begin(
    destination: str | Destination,
    *,
    redirect_uri: str,
    client_id: str | None = None,
    client_secret: str | SecretStr | None = None,
    options: Mapping[str, str] | None = None,
) -> Authorization:
    """Start an OAuth attempt: the CRM's consent URL and the state that identifies it.

    :param destination: an entry-point name ("attio", "hubspot") or a loaded Destination.
    :param redirect_uri: where the CRM sends the user back, exactly as registered on the OAuth
        app: any https:// URI, or http:// on a loopback address (development).
    :param client_id: the OAuth app's client id; None: the destination's environment variable
        (ATTIO_CLIENT_ID, HUBSPOT_CLIENT_ID).
    :param client_secret: the app's secret; None: the destination's environment variable
        (ATTIO_CLIENT_SECRET, HUBSPOT_CLIENT_SECRET), read by `complete`. One given here
        travels encrypted in the state.
    :param options: connect options: `base_url` (a local server, say) and the destination's
        own (`authorize_url`, `token_url`, …); carried to `complete`.
    :return: an Authorization: redirect the user to `.url`; keep `.state` in the session.
    """
    dest, loaded = _loaded(destination)
    try:
        return _authorization(dest, redirect_uri, client_id, client_secret, options)
    finally:
        if loaded:
            dest.close()


def _authorization(
    dest: Destination,
    redirect_uri: str,
    client_id: str | None,
    client_secret: str | SecretStr | None,
    options: Mapping[str, str] | None,
) -> Authorization:
    from authlib.common.security import generate_token

    OAuth2Client = _client_class()
    redirect_uri = check_redirect_uri(redirect_uri)
    extra = {str(k): str(v) for k, v in (options or {}).items()}
    base_url = extra.pop("base_url", None) or None
    settings = dest.oauth_settings(_options(base_url, extra, environment=True))
    cid = client_id or _env(settings.client_id_env)
    if not cid:
        where = f"set {settings.client_id_env} or " if settings.client_id_env else ""
        raise ConfigurationError(
            f"connecting {dest.name} through OAuth needs the OAuth app's client id",
            next_step=settings.help or f"{where}pass client_id= to crm_push.oauth.begin",
        )
    secret = (
        client_secret.get_secret_value() if isinstance(client_secret, SecretStr) else client_secret
    )
    verifier = generate_token(64) if settings.pkce else None
    attempt = _Attempt(
        nonce=secrets.token_urlsafe(24),
        destination=dest.name,
        redirect_uri=redirect_uri,
        client_id=cid,
        client_secret=secret or None,
        code_verifier=verifier,
        base_url=base_url or settings.base_url,
        options=extra,
    )
    state = _seal(attempt)
    client = OAuth2Client(
        client_id=cid,
        scope=" ".join(settings.scopes) or None,
        redirect_uri=redirect_uri,
        code_challenge_method="S256" if settings.pkce else None,
    )
    with client:
        url, _ = client.create_authorization_url(
            settings.authorize_url, state=state, code_verifier=verifier, **settings.authorize_params
        )
    return Authorization(url=str(url), state=state)


def check_redirect_uri(uri: str) -> str:
    """The redirect URI, if usable: https://, or http:// on a loopback address only."""
    parts = urllib.parse.urlsplit(str(uri or "").strip())
    secure = parts.scheme == "https" and bool(parts.hostname)
    if not secure and not (parts.scheme == "http" and _is_loopback(parts.hostname)):
        raise ConfigurationError(
            f"the OAuth redirect URI {uri!r} is neither https:// nor http:// on a loopback address",
            next_step="use the https:// callback URL of your app, as registered on the OAuth "
            "app (http://127.0.0.1:PORT/… for development)",
        )
    if parts.fragment:
        raise ConfigurationError(
            f"the OAuth redirect URI {uri!r} has a #fragment, which OAuth forbids",
            next_step="drop the #… part of the redirect URI",
        )
    return str(uri).strip()


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- complete -------------------------------------------------------------------------------


def complete(
    destination: str | Destination,
    *,
    query: Mapping[str, Any],
    state: str,
    redirect_uri: str,
    db_url: str | None = None,
    tenant: str | None = None,
) -> Connection:
    """Finish an OAuth attempt: check the CRM's answer, exchange the code, connect, store.

    :param destination: the destination `begin` was called with.
    :param query: the query parameters of the request to the redirect URI (a dict, or a web
        framework's multi-dict such as Flask's `request.args`).
    :param state: the `.state` of `begin`'s Authorization, as kept in the user's session.
    :param redirect_uri: the redirect URI the attempt began with (checked: it must be equal).
    :param db_url: the state database the connection is stored in (default: CRM_PUSH_DB).
    :param tenant: the host app's key for the connection ("cust_42"); it replaces the tenant's
        earlier connection of this destination.
    :return: the stored Connection (workspace, scopes; credentials encrypted at rest when
        CRM_PUSH_SECRET_KEY is set).
    :raises ReconnectRequired: the user denied access, or the answer is not this attempt's
        (no, another or a used state; another redirect URI; no code), or the CRM refused the
        code. Nothing is stored then; the message says why.
    """
    from crm_push.state.attempts import mark_answered
    from crm_push.state.connections import ConnectionStore

    dest, loaded = _loaded(destination)
    try:
        params = _params(query)
        again = f"start connecting {dest.name} again (crm_push.oauth.begin)"
        if not state:
            raise ReconnectRequired(
                "no OAuth attempt is known to this session (the state `begin` returned is "
                "missing); nothing was stored",
                next_step=again,
            )
        answered = params.get("state", "")
        if not answered:
            raise ReconnectRequired(
                "the OAuth answer carries no state, so it cannot be tied to this attempt "
                "(a forged or stray request); nothing was stored",
                next_step=again,
            )
        if not secrets.compare_digest(answered.encode(), str(state).encode()):
            raise ReconnectRequired(
                "the OAuth answer's state is not this session's attempt (a forged answer, or "
                "one meant for another session); nothing was stored",
                next_step=again,
            )
        attempt = _open(str(state), again)
        if attempt.destination != dest.name:
            raise ReconnectRequired(
                f"this OAuth attempt was begun for {attempt.destination}, not {dest.name}; "
                "nothing was stored",
                next_step=again,
            )
        if check_redirect_uri(redirect_uri) != attempt.redirect_uri:
            raise ReconnectRequired(
                f"the redirect URI {redirect_uri!r} differs from the one this attempt began "
                f"with ({attempt.redirect_uri!r}); nothing was stored",
                next_step="pass complete() the same redirect_uri as begin(), then " + again,
            )
        if "error" in params:
            why = params.get("error_description") or params["error"]
            raise ReconnectRequired(
                f"{dest.name} did not authorize access ({params['error']}: {why}); nothing "
                "was stored",
                next_step=f"{again} and approve access on the consent page",
            )
        code = params.get("code")
        if not code:
            raise ReconnectRequired(
                "the OAuth answer carries no authorization code; nothing was stored",
                next_step=again,
            )
        settings = dest.oauth_settings(
            _options(attempt.base_url, attempt.options, environment=True)
        )
        # Before the exchange: of two answers to one attempt, only the first gets this far.
        if not mark_answered(attempt.nonce, dest.name, db_url):
            raise ReconnectRequired(
                "this OAuth answer was already used (a replayed or resubmitted answer); "
                "nothing was stored",
                next_step=again,
            )
        secret = attempt.client_secret or _env(settings.client_secret_env)
        try:
            credentials = _exchange(dest, settings, attempt, code, secret)
            connection = dest.connect(
                credentials=credentials,
                options=_options(attempt.base_url, attempt.options, environment=False),
            )
        except ReconnectRequired as exc:
            raise ReconnectRequired(
                f"{exc.message}; nothing was stored", next_step=exc.next_step or again
            ) from None
        except ScopeMissing as exc:
            raise ScopeMissing(
                f"{exc.message}; nothing was stored", scope=exc.scope, next_step=exc.next_step
            ) from None
        current = dest.current_credentials(connection)
        connection = connection.model_copy(update={"credentials": current, "tenant": tenant})
        ConnectionStore(db_url).save(connection)
        return connection
    finally:
        if loaded:
            dest.close()


def _exchange(
    dest: Destination, settings: OAuthSettings, attempt: _Attempt, code: str, secret: str | None
) -> Credentials:
    """Trade the code for tokens at the token endpoint (with the PKCE verifier, if any)."""
    OAuth2Client = _client_class()
    extra = {"code_verifier": attempt.code_verifier} if attempt.code_verifier else {}
    client = OAuth2Client(
        client_id=attempt.client_id,
        client_secret=secret,
        token_endpoint_auth_method=settings.token_auth,
        redirect_uri=attempt.redirect_uri,
        timeout=30.0,
    )
    hidden = [s for s in (secret, code) if s]
    crm = getattr(dest.plugin, "crm_name", None) or dest.name
    with client, _refusals(crm, "code exchange", settings.token_url, hidden):
        answer = client.fetch_token(
            settings.token_url, grant_type="authorization_code", code=code, **extra
        )
    return _read(dest.oauth_credentials, dict(answer), attempt.client_id, secret)


# -- refresh and revoke (plugins call these from their token auth and `disconnect`) ---------


def refresh(
    credentials: Credentials,
    settings: OAuthSettings,
    *,
    read: Callable[[dict[str, Any]], Credentials | None] | None = None,
    transport: httpx.BaseTransport | None = None,
    crm: str = "the CRM",
) -> Credentials:
    """New credentials for a refresh token (the old refresh token kept if none comes back).

    :param read: the destination's reader of the token answer (its `oauth_credentials`);
        None: the standard fields.
    :raises ReconnectRequired: no refresh token or client id, or the CRM refused it.
    """
    OAuth2Client = _client_class()
    if credentials.refresh_token is None or not credentials.client_id:
        raise ReconnectRequired(
            f"the {crm} token has expired and cannot be renewed (no refresh token)",
            next_step=f"connect {crm} again",
        )
    secret = _plain(credentials.client_secret)
    renewed: list[dict[str, Any]] = []
    client = OAuth2Client(
        client_id=credentials.client_id,
        client_secret=secret,
        token_endpoint_auth_method=settings.token_auth,
        token=_token_of(credentials),
        # authlib hands the new token (with the old refresh token when none came) to this.
        update_token=lambda token, refresh_token=None: renewed.append(dict(token)),
        timeout=30.0,
        **({"transport": transport} if transport is not None else {}),
    )
    refresh_token = credentials.refresh_token.get_secret_value()
    hidden = [s for s in (secret, refresh_token, _plain(credentials.access_token)) if s]
    with client, _refusals(crm, "token refresh", settings.token_url, hidden):
        client.refresh_token(settings.token_url, refresh_token=refresh_token)
    return _read(read, renewed[-1], credentials.client_id, secret)


def revoke(
    credentials: Credentials,
    settings: OAuthSettings,
    *,
    transport: httpx.BaseTransport | None = None,
    crm: str = "the CRM",
) -> tuple[bool, str]:
    """Revoke the token `settings.revoke_token` names; (revoked, why not). Never raises for
    the CRM's answer: a failed revoke is reported, and the caller forgets the token anyway."""
    import httpx

    OAuth2Client = _client_class()
    if settings.revoke_url is None:
        return False, f"{crm} has no endpoint to revoke tokens"
    token = (
        credentials.refresh_token
        if settings.revoke_token == "refresh_token"
        else credentials.access_token
    )
    if token is None or not credentials.client_id:
        return False, f"no OAuth {settings.revoke_token.replace('_', ' ')} was stored"
    secret = _plain(credentials.client_secret)
    client = OAuth2Client(
        client_id=credentials.client_id,
        client_secret=secret,
        token_endpoint_auth_method=settings.token_auth,
        revocation_endpoint_auth_method=settings.token_auth,
        timeout=30.0,
        **({"transport": transport} if transport is not None else {}),
    )
    try:
        with client:
            response = client.revoke_token(
                settings.revoke_url,
                token=token.get_secret_value(),
                token_type_hint=settings.revoke_token,
            )
    except httpx.HTTPError as exc:
        return False, f"could not reach {settings.revoke_url}: {type(exc).__name__}"
    if response.status_code >= 400:
        return False, f"{crm} answered HTTP {response.status_code} to the revoke request"
    return True, ""


def introspect(
    credentials: Credentials,
    settings: OAuthSettings,
    *,
    transport: httpx.BaseTransport | None = None,
    crm: str = "the CRM",
) -> dict[str, Any]:
    """What the CRM's introspection endpoint (RFC 7662) says of the access token: `active`,
    its scopes, its expiry… ({"active": False} for a dead token).

    :raises ReconnectRequired: the CRM refused the app's credentials or could not be reached.
    """
    OAuth2Client = _client_class()
    token = _plain(credentials.access_token)
    if settings.introspect_url is None or not token or not credentials.client_id:
        return {}
    secret = _plain(credentials.client_secret)
    client = OAuth2Client(
        client_id=credentials.client_id,
        client_secret=secret,
        token_endpoint_auth_method=settings.token_auth,
        timeout=30.0,
        **({"transport": transport} if transport is not None else {}),
    )
    hidden = [s for s in (secret, token) if s]
    with client, _refusals(crm, "token introspection", settings.introspect_url, hidden):
        response = client.introspect_token(
            settings.introspect_url, token=token, token_type_hint="access_token"
        )
        if response.status_code >= 400:
            response.raise_for_status()
        answer = response.json()
    return answer if isinstance(answer, dict) else {}


def credentials_from_token(answer: Mapping[str, Any]) -> Credentials:
    """The standard fields of a token answer (RFC 6749 §5.1) as Credentials."""
    token = answer.get("access_token")
    if not token or not isinstance(token, str):
        raise ReconnectRequired(
            "the token endpoint's answer carries no access token",
            next_step="connect again; if it persists, check the OAuth app's settings",
        )
    expires_at = None
    if isinstance(answer.get("expires_at"), int | float):  # authlib adds it from expires_in
        expires_at = dt.datetime.fromtimestamp(float(answer["expires_at"]), dt.UTC)
    elif isinstance(answer.get("expires_in"), int | float):
        expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=float(answer["expires_in"]))
    refresh_token = answer.get("refresh_token")
    return Credentials(
        access_token=SecretStr(token),
        refresh_token=SecretStr(str(refresh_token)) if refresh_token else None,
        expires_at=expires_at,
        token_type=str(answer.get("token_type") or "Bearer"),
    )


def _read(
    read: Callable[[dict[str, Any]], Credentials | None] | None,
    answer: dict[str, Any],
    client_id: str,
    secret: str | None,
) -> Credentials:
    credentials = (read(answer) if read is not None else None) or credentials_from_token(answer)
    return credentials.model_copy(
        update={"client_id": client_id, "client_secret": SecretStr(secret) if secret else None}
    )


@contextlib.contextmanager
def _refusals(crm: str, what: str, url: str, hidden: list[str]) -> Any:
    """authlib's and httpx's errors as ReconnectRequired, with every secret scrubbed out."""
    import httpx
    from authlib.integrations.base_client.errors import OAuthError
    from crm_push.http import redact

    try:
        yield
    except OAuthError as exc:
        reason = f"{exc.error}: {exc.description}" if exc.description else str(exc.error)
        raise ReconnectRequired(
            redact(f"{crm} refused the OAuth {what} ({reason})", hidden),
            next_step=f"connect {crm} again",
        ) from None
    except httpx.HTTPStatusError as exc:
        raise ReconnectRequired(
            f"{crm} refused the OAuth {what} (HTTP {exc.response.status_code})",
            next_step=f"connect {crm} again",
        ) from None
    except httpx.HTTPError as exc:
        raise ReconnectRequired(
            f"could not reach the {crm} OAuth endpoint {url}: {type(exc).__name__}",
            next_step=f"check the network (or the token URL) and connect {crm} again",
        ) from None
    except ValueError as exc:  # not a JSON object: a gateway's page, say
        raise ReconnectRequired(
            redact(f"{crm} gave no usable answer to the OAuth {what}: {exc}", hidden),
            next_step=f"connect {crm} again",
        ) from None


def _token_of(credentials: Credentials) -> dict[str, Any]:
    token: dict[str, Any] = {
        "access_token": _plain(credentials.access_token) or "",
        "token_type": credentials.token_type,
    }
    if credentials.refresh_token is not None:
        token["refresh_token"] = credentials.refresh_token.get_secret_value()
    if credentials.expires_at is not None:
        token["expires_at"] = int(credentials.expires_at.timestamp())
    return token


# -- the sealed state -----------------------------------------------------------------------

_process_key: bytes | None = None
_process_key_lock = threading.Lock()


def _fernet() -> Any:
    """The keys of CRM_PUSH_SECRET_KEY (the first seals), or this process's own key."""
    from crm_push.state.secrets import SecretBox
    from cryptography.fernet import Fernet, MultiFernet

    global _process_key
    raw = os.environ.get(_SECRET_KEY_ENV, "")
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if keys:
        SecretBox(keys)  # a value that is not a Fernet key: its clear error
        return MultiFernet([Fernet(k.encode()) for k in keys])
    with _process_key_lock:
        if _process_key is None:
            _process_key = Fernet.generate_key()
        return MultiFernet([Fernet(_process_key)])


def _seal(attempt: _Attempt) -> str:
    data = json.dumps(attempt.__dict__, separators=(",", ":"), sort_keys=True).encode()
    token: bytes = _fernet().encrypt(data)
    return token.decode()


def _open(state: str, again: str) -> _Attempt:
    from cryptography.fernet import InvalidToken

    try:
        data = _fernet().decrypt(state.encode(), ttl=ATTEMPT_SECONDS)
    except InvalidToken:
        raise ReconnectRequired(
            f"this OAuth attempt is unknown or older than {ATTEMPT_SECONDS // 60} minutes (a "
            f"forged state, or one sealed by a process with another {_SECRET_KEY_ENV}); "
            "nothing was stored",
            next_step=f"set the same {_SECRET_KEY_ENV} in every process of the app, then {again}",
        ) from None
    return _Attempt(**json.loads(data))


# -- helpers ----------------------------------------------------------------------------------


def _client_class() -> Any:
    """authlib's httpx OAuth2Client. authlib now prefers the `httpx2` fork and warns, always,
    when it falls back to httpx (which crm-push uses everywhere): that warning is not the
    user's business, so it is kept quiet on the one import that raises it."""
    import warnings

    import authlib.deprecate  # noqa: F401  (it installs an "always" filter: ours goes after)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*httpx2", category=DeprecationWarning)
        from authlib.integrations.httpx_client import OAuth2Client

    return OAuth2Client


def _loaded(destination: str | Destination) -> tuple[Destination, bool]:
    """The Destination, and whether it was loaded here (then it is closed after use)."""
    if isinstance(destination, str):
        from crm_push.destination.discovery import load_destination

        return load_destination(destination), True
    return destination, False


def _options(
    base_url: str | None, extra: Mapping[str, str], *, environment: bool
) -> ConnectOptions:
    return ConnectOptions(
        base_url=base_url, extra=dict(extra), interactive=False, environment=environment
    )


def _params(query: Mapping[str, Any]) -> dict[str, str]:
    """One string per name, whatever the web framework's mapping (lists: the first value)."""
    out: dict[str, str] = {}
    for key in query:
        value = query[key]
        if isinstance(value, list | tuple):
            value = value[0] if value else ""
        out[str(key)] = str(value)
    return out


def _env(name: str | None) -> str | None:
    return (os.environ.get(name, "").strip() or None) if name else None


def _plain(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


# -- the CLI's loopback flow ----------------------------------------------------------------


def print_line(line: str) -> None:
    """Print a line for the user on stderr (stdout may be piped into another program)."""
    print(line, file=sys.stderr, flush=True)


def timeout_option(extra: Mapping[str, str] | None) -> float:
    """The `oauth_timeout` option (seconds to wait for the browser), checked."""
    raw = (extra or {}).get("oauth_timeout")
    if raw is None or not str(raw).strip():
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(
            f"--option oauth_timeout must be a number of seconds, not {raw!r}",
            next_step=f"give the seconds to wait for the browser, e.g. "
            f"`--option oauth_timeout={DEFAULT_TIMEOUT:g}` (the default)",
        )
    return value


#: How long the browser's request waits for the code exchange before its page is sent.
EXCHANGE_WAIT = 90.0


class _CallbackServer(HTTPServer):
    # Set after construction; the handler reads them through `self.server`.
    expected_path: str
    crm: str
    answer: dict[str, str] | None
    done: threading.Event
    outcome: tuple[bool, str] | None
    decided: threading.Event


class _CallbackServer6(_CallbackServer):
    address_family = AF_INET6


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path != self.server.expected_path:
            self.send_error(404)  # a favicon request, say: not the redirect
            return
        params = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items() if v}
        if self.server.answer is None:
            self.server.answer = params
            self.server.done.set()
            # The page waits for the code exchange, so "connected" is only ever said when true.
            self.server.decided.wait(EXCHANGE_WAIT)
            ok, why = self.server.outcome or (False, "crm-push stopped before it finished")
        else:
            ok, why = False, "this attempt was already answered"
        crm = self.server.crm
        if ok:
            body = f"{crm} is connected: you can close this window and return to crm-push."
        else:
            body = f"{crm} was not connected: {why}\n\nSee the crm-push terminal."
        data = body.encode()
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # The default logs the request line, which holds the authorization code.
        return


def _listen_on(redirect_uri: str | None) -> tuple[str, int, str]:
    """(bind host, port, path) of the loopback redirect; port 0 = any free port."""
    if not redirect_uri:
        return "127.0.0.1", 0, CALLBACK_PATH
    parts = urllib.parse.urlsplit(redirect_uri)
    if parts.scheme != "http" or not _is_loopback(parts.hostname):
        raise ConfigurationError(
            f"the OAuth redirect URI {redirect_uri!r} is not a loopback http:// address, "
            "which the CLI's flow needs (it listens there)",
            next_step="use http://127.0.0.1:PORT/callback, registered on the OAuth app",
        )
    # The same loopback test `begin` applies; it listens on that very address.
    host = "127.0.0.1" if parts.hostname in (None, "localhost") else parts.hostname
    return host, parts.port or 80, parts.path or "/"


def loopback(
    destination: str | Destination,
    *,
    client_id: str | None = None,
    client_secret: str | SecretStr | None = None,
    options: Mapping[str, str] | None = None,
    redirect_uri: str | None = None,
    db_url: str | None = None,
    tenant: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    open_browser: Callable[[str], Any] | None = None,
    echo: Callable[[str], None] = print_line,
) -> Connection:
    """The CLI's flow: listen on 127.0.0.1, open the consent page, `complete` the answer.

    `redirect_uri` must match the one registered on the OAuth app exactly (a loopback
    http:// URI); without one a random port on 127.0.0.1 is used. `open_browser` defaults to
    `webbrowser.open`. The browser's page says "connected" only once the connection is stored.
    """
    dest, loaded = _loaded(destination)
    host, port, path = _listen_on(redirect_uri)
    server_class = _CallbackServer6 if ":" in host else _CallbackServer
    server = server_class((host, port), _CallbackHandler)
    server.expected_path, server.crm = path, getattr(dest.plugin, "crm_name", dest.name)
    server.answer, server.done = None, threading.Event()
    server.outcome, server.decided = None, threading.Event()
    uri = redirect_uri or f"http://127.0.0.1:{server.server_port}{path}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="oauth", daemon=True
    )
    try:
        auth = begin(
            dest,
            redirect_uri=uri,
            client_id=client_id,
            client_secret=client_secret,
            options=options,
        )
        thread.start()
        echo(
            f"Opening your browser to connect {server.crm}. If it does not open, "
            f"visit:\n  {auth.url}"
        )
        with contextlib.suppress(Exception):  # no browser (headless): the printed URL is the way
            if open_browser is None:
                import webbrowser  # only here: a worker or web app never opens a browser

                open_browser = webbrowser.open
            open_browser(auth.url)
        if not server.done.wait(timeout):
            raise ReconnectRequired(
                f"no answer from the browser within {timeout:g} s",
                next_step=f"run `crm-push --dest {dest.name} connect --oauth` again and approve "
                "access in the browser",
            )
        try:
            connection = complete(
                dest,
                query=server.answer or {},
                state=auth.state,
                redirect_uri=uri,
                db_url=db_url,
                tenant=tenant,
            )
        except ReconnectRequired as exc:
            server.outcome = (False, exc.message)
            raise
        server.outcome = (True, "")
        return connection
    finally:
        server.decided.set()  # the browser's page goes out now, then the listener stops
        if thread.is_alive():
            server.shutdown()
            thread.join(5)
        server.server_close()
        if loaded:
            dest.close()
