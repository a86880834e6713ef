"""Attio OAuth 2.0: the authorization-code flow with a loopback redirect, refresh and revoke.

The flow: listen on 127.0.0.1 (a random port unless a registered redirect URI says otherwise),
open the browser on Attio's authorize URL (and print it, for headless use), check `state` on
the redirect, exchange the code at the token endpoint (form-encoded), and only then answer the
browser: "connected" when the exchange succeeded, else why not. Attio documents no refresh
token, but if one comes back it is kept and used when the access token expires or dies.

Endpoints are overridable — connect option ``--option authorize_url=…`` (and ``token_url``,
``revoke_url``) or ATTIO_AUTHORIZE_URL / ATTIO_TOKEN_URL / ATTIO_REVOKE_URL — so the whole flow
runs against a local server. Two POSTs do not need an OAuth library: httpx does them directly.
Secrets (client secret, code, tokens) are never printed or logged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import secrets
import sys
import threading
import urllib.parse
import webbrowser
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from socket import AF_INET6
from typing import Any

import httpx
from crm_push.errors import ReconnectRequired
from crm_push.http import redact
from crm_push.models import Credentials
from pydantic import SecretStr

from .api import DEFAULT_BASE_URL
from .errors import SettingError

DEFAULT_AUTHORIZE_URL = "https://app.attio.com/authorize"
DEFAULT_TOKEN_URL = "https://app.attio.com/oauth/token"
DEFAULT_REVOKE_URL = "https://app.attio.com/oauth/revoke"
#: How long to wait for the browser to come back, in seconds (option ``oauth_timeout``).
DEFAULT_TIMEOUT = 300.0
CALLBACK_PATH = "/callback"
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

_OAUTH_HELP = (
    "create an Attio app at build.attio.com, register the redirect URI, and set "
    "ATTIO_CLIENT_ID and ATTIO_CLIENT_SECRET (or pass --client-id/--client-secret)"
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


@dataclass(frozen=True)
class App:
    """The OAuth app: its client id and (secret) client secret."""

    client_id: str
    client_secret: SecretStr | None = None

    @classmethod
    def resolve(
        cls,
        client_id: str | None,
        client_secret: SecretStr | None,
        extra: Mapping[str, str] | None = None,
    ) -> App:
        """Options first, then ATTIO_CLIENT_ID / ATTIO_CLIENT_SECRET."""
        extra = extra or {}
        cid = client_id or extra.get("client_id") or os.environ.get("ATTIO_CLIENT_ID")
        if not cid:
            raise ReconnectRequired(
                "the Attio OAuth flow needs a client id and secret", next_step=_OAUTH_HELP
            )
        secret = client_secret
        if secret is None:
            raw = os.environ.get("ATTIO_CLIENT_SECRET")
            secret = SecretStr(raw) if raw else None
        return cls(client_id=cid, client_secret=secret)

    @classmethod
    def from_credentials(cls, credentials: Credentials) -> App | None:
        if not credentials.client_id:
            return None
        return cls(credentials.client_id, credentials.client_secret)

    def form(self) -> dict[str, str]:
        out = {"client_id": self.client_id}
        if self.client_secret is not None:
            out["client_secret"] = self.client_secret.get_secret_value()
        return out


def timeout_option(extra: Mapping[str, str] | None) -> float:
    """The ``oauth_timeout`` option (seconds to wait for the browser), checked."""
    raw = (extra or {}).get("oauth_timeout")
    if raw is None or not str(raw).strip():
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise SettingError(
            f"--option oauth_timeout must be a number of seconds, not {raw!r}",
            next_step=f"give the seconds to wait for the browser, e.g. "
            f"`--option oauth_timeout={DEFAULT_TIMEOUT:g}` (the default)",
        )
    return value


def print_line(line: str) -> None:
    """Print a line for the user on stderr (stdout may be piped into another program)."""
    print(line, file=sys.stderr, flush=True)


def _post_form(
    url: str, form: dict[str, str], transport: httpx.BaseTransport | None
) -> httpx.Response:
    # No retries: an authorization code is single-use, and a failed exchange is best redone
    # by the user rather than replayed.
    try:
        with httpx.Client(transport=transport, timeout=30.0) as client:
            return client.post(url, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise ReconnectRequired(
            f"could not reach the Attio OAuth endpoint {url}: {type(exc).__name__}",
            next_step="check the network (or ATTIO_TOKEN_URL) and connect again",
        ) from None


def _credentials(
    response: httpx.Response, app: App, what: str, sent: Mapping[str, str]
) -> Credentials:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    token = body.get("access_token")
    if response.status_code >= 400 or not token:
        # OAuth's error fields, with whatever was sent (secret, code, tokens) scrubbed out.
        reason = body.get("error_description") or body.get("error") or body.get("message")
        message = f"Attio refused the OAuth {what} (HTTP {response.status_code}"
        message += f": {reason})" if reason else ")"
        raise ReconnectRequired(
            redact(message, _secrets_of(sent)),
            next_step="run `crm-push --dest attio connect --oauth` again",
        )
    expires_at = None
    if isinstance(body.get("expires_in"), int | float):
        expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=float(body["expires_in"]))
    refresh = body.get("refresh_token")
    return Credentials(
        access_token=SecretStr(str(token)),
        refresh_token=SecretStr(str(refresh)) if refresh else None,
        expires_at=expires_at,
        client_id=app.client_id,
        client_secret=app.client_secret,
        token_type=str(body.get("token_type") or "Bearer"),
    )


def _secrets_of(form: Mapping[str, str]) -> list[str]:
    """The values of a form that must never be shown."""
    keys = ("client_secret", "code", "refresh_token", "token")
    return [form[k] for k in keys if form.get(k)]


def exchange_code(
    app: App,
    endpoints: Endpoints,
    code: str,
    redirect_uri: str,
    transport: httpx.BaseTransport | None = None,
) -> Credentials:
    """POST the token endpoint with grant_type=authorization_code."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        **app.form(),
    }
    response = _post_form(endpoints.token_url, form, transport)
    return _credentials(response, app, "code exchange", form)


def refresh(
    credentials: Credentials, endpoints: Endpoints, transport: httpx.BaseTransport | None = None
) -> Credentials:
    """Trade the stored refresh token for a new access token (kept if none comes back)."""
    app = App.from_credentials(credentials)
    if credentials.refresh_token is None or app is None:
        raise ReconnectRequired("the Attio token cannot be refreshed", next_step=_OAUTH_HELP)
    form = {
        "grant_type": "refresh_token",
        "refresh_token": credentials.refresh_token.get_secret_value(),
        **app.form(),
    }
    response = _post_form(endpoints.token_url, form, transport)
    new = _credentials(response, app, "token refresh", form)
    if new.refresh_token is None:
        new = new.model_copy(update={"refresh_token": credentials.refresh_token})
    return new


def revoke(
    credentials: Credentials, endpoints: Endpoints, transport: httpx.BaseTransport | None = None
) -> tuple[bool, str]:
    """POST the revoke endpoint with the access token; (revoked, why not)."""
    if credentials.access_token is None:
        return False, "no access token was stored"
    form = {"token": credentials.access_token.get_secret_value()}
    app = App.from_credentials(credentials)
    if app is not None:
        form.update(app.form())
    try:
        response = _post_form(endpoints.revoke_url, form, transport)
    except ReconnectRequired as exc:
        return False, exc.message
    if response.status_code >= 400:
        return False, f"Attio answered HTTP {response.status_code} to the revoke request"
    return True, ""


# -- the authorization-code flow ------------------------------------------------------------


@dataclass
class _Answer:
    params: dict[str, str]


@dataclass
class _Outcome:
    """What the browser page says: connected, or why not."""

    ok: bool
    why: str = ""


#: How long the browser's request waits for the code exchange before its page is sent.
EXCHANGE_WAIT = 90.0


class _CallbackServer(HTTPServer):
    # Set after construction; the handler reads them through `self.server`.
    expected_path: str
    expected_state: str
    answer: _Answer | None
    done: threading.Event
    outcome: _Outcome | None
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
            self.server.answer = _Answer(params)
            self.server.done.set()
            # The page waits for the code exchange, so "connected" is only ever said when true.
            self.server.decided.wait(EXCHANGE_WAIT)
            outcome = self.server.outcome or _Outcome(False, "crm-push stopped before it finished")
        else:
            outcome = _Outcome(False, "this attempt was already answered")
        if outcome.ok:
            body = "Attio is connected: you can close this window and return to crm-push."
        else:
            body = f"Attio was not connected: {outcome.why}\n\nSee the crm-push terminal."
        data = body.encode()
        self.send_response(200 if outcome.ok else 400)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # The default logs the request line, which holds the authorization code.
        return


def same_state(received: str, expected: str) -> bool:
    """Constant-time comparison (bytes: compare_digest refuses non-ASCII str)."""
    return secrets.compare_digest(received.encode(), expected.encode())


def _redirect_target(redirect_uri: str | None) -> tuple[str, int, str]:
    """(bind host, port, path) of the loopback redirect; port 0 = any free port."""
    if not redirect_uri:
        return "127.0.0.1", 0, CALLBACK_PATH
    parts = urllib.parse.urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname not in _LOOPBACK_HOSTS:
        raise ReconnectRequired(
            f"the OAuth redirect URI {redirect_uri!r} is not a loopback http:// address",
            next_step="use http://127.0.0.1:PORT/callback, registered on the Attio app",
        )
    host = "::1" if parts.hostname == "::1" else "127.0.0.1"
    return host, parts.port or 80, parts.path or "/"


def authorize(
    app: App,
    endpoints: Endpoints,
    *,
    redirect_uri: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    open_browser: Callable[[str], Any] = webbrowser.open,
    echo: Callable[[str], None] = print_line,
    transport: httpx.BaseTransport | None = None,
) -> Credentials:
    """Run the flow in the user's browser; return the credentials (client id/secret included).

    `redirect_uri` must match the one registered on the Attio app exactly; without one a random
    port on 127.0.0.1 is used (fine for a local server, and for apps registered that way).
    """
    host, port, path = _redirect_target(redirect_uri)
    server_class = _CallbackServer6 if ":" in host else _CallbackServer
    server = server_class((host, port), _CallbackHandler)
    state = secrets.token_urlsafe(32)
    server.expected_path, server.expected_state = path, state
    server.answer, server.done = None, threading.Event()
    server.outcome, server.decided = None, threading.Event()
    if redirect_uri is None:
        redirect_uri = f"http://127.0.0.1:{server.server_port}{path}"
    query = urllib.parse.urlencode(
        {
            "client_id": app.client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    sep = "&" if "?" in endpoints.authorize_url else "?"
    url = f"{endpoints.authorize_url}{sep}{query}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="attio-oauth", daemon=True
    )
    thread.start()
    try:
        echo(f"Opening your browser to connect Attio. If it does not open, visit:\n  {url}")
        with contextlib.suppress(Exception):  # no browser (headless): the printed URL is the way
            open_browser(url)
        if not server.done.wait(timeout):
            raise ReconnectRequired(
                f"no answer from the browser within {timeout:g} s",
                next_step="run `crm-push --dest attio connect --oauth` again and approve "
                "access in the browser",
            )
        params: dict[str, str] = server.answer.params if server.answer else {}
        try:
            credentials = _complete(app, endpoints, params, state, redirect_uri, transport)
        except ReconnectRequired as exc:
            server.outcome = _Outcome(False, exc.message)
            raise
        server.outcome = _Outcome(True)
        return credentials
    finally:
        server.decided.set()  # the browser's page goes out now, then the listener stops
        server.shutdown()
        server.server_close()
        thread.join(5)


def _complete(
    app: App,
    endpoints: Endpoints,
    params: dict[str, str],
    state: str,
    redirect_uri: str,
    transport: httpx.BaseTransport | None,
) -> Credentials:
    """Check the browser's answer and exchange its code for the credentials."""
    if "error" in params:
        why = params.get("error_description") or params["error"]
        raise ReconnectRequired(
            f"Attio did not authorize crm-push: {why}",
            next_step="run `crm-push --dest attio connect --oauth` again and approve access",
        )
    # The state is what ties this answer to this attempt (CSRF protection).
    if not same_state(params.get("state", ""), state):
        raise ReconnectRequired(
            "the OAuth answer did not carry this attempt's state (possible forgery); "
            "nothing was stored",
            next_step="run `crm-push --dest attio connect --oauth` again",
        )
    code = params.get("code")
    if not code:
        raise ReconnectRequired(
            "the OAuth answer carried no authorization code",
            next_step="run `crm-push --dest attio connect --oauth` again",
        )
    return exchange_code(app, endpoints, code, redirect_uri, transport)
