"""HubSpot's OAuth on core's flow: the consent URL (scopes, PKCE), the code exchange,
introspected scopes, a 30-minute token refreshed ahead of its expiry and kept, revoke on
disconnect — against the local HubSpot server, plus respx for the exact requests."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from crm_push import Session, oauth, parse_visitor
from crm_push.destination.facade import Destination
from crm_push.errors import ReconnectRequired
from crm_push.models import Connection, ConnectOptions, Credentials
from crm_push.state.connections import ConnectionStore
from cryptography.fernet import Fernet
from pydantic import SecretStr

from crm_push_hubspot import oauth as hubspot_oauth
from crm_push_hubspot import server
from crm_push_hubspot.plugin import HubSpotDestination

CALLBACK = "https://app.example.com/integrations/hubspot/callback"
NEEDED = {
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
}


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_PUSH_SECRET_KEY", Fernet.generate_key().decode())


def _server(**kwargs: Any) -> server.HubSpotServer:
    return server.HubSpotServer(oauth_clients={"hs-app": "hs-secret"}, search_lag=0, **kwargs)


def _hubspot() -> Destination:
    return Destination("hubspot", HubSpotDestination(sleep=lambda s: None))


def _connect(srv: Any, db_url: str, tenant: str = "cust_7") -> tuple[Any, oauth.Authorization]:
    """A host app's two requests, the local server's consent approving at once."""
    hubspot = _hubspot()
    auth = oauth.begin(
        hubspot,
        redirect_uri=CALLBACK,
        client_id="hs-app",
        client_secret="hs-secret",
        options={"base_url": srv.base_url},
    )
    answer = httpx.get(auth.url)
    assert answer.status_code == 302, answer.text
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer.headers["Location"]).query))
    connection = oauth.complete(
        hubspot, query=query, state=auth.state, redirect_uri=CALLBACK, db_url=db_url, tenant=tenant
    )
    return connection, auth


@pytest.fixture
def srv() -> Iterator[Any]:
    with _server() as running:
        yield running


def test_the_consent_url_asks_the_scopes_with_pkce(srv: Any) -> None:
    auth = oauth.begin(
        _hubspot(), redirect_uri=CALLBACK, client_id="hs-app", options={"base_url": srv.base_url}
    )
    url = urllib.parse.urlsplit(auth.url)
    query = dict(urllib.parse.parse_qsl(url.query))
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{srv.base_url}/oauth/authorize"
    assert set(query["scope"].split()) == NEEDED | {"oauth"}
    assert "crm.schemas.companies.write" in query["optional_scope"].split()
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert (query["redirect_uri"], query["state"]) == (CALLBACK, auth.state)


def test_the_default_consent_page_is_hubspot_s() -> None:
    auth = oauth.begin(_hubspot(), redirect_uri=CALLBACK, client_id="hs-app")
    assert auth.url.startswith("https://app.hubspot.com/oauth/authorize?")


def test_complete_stores_the_portal_with_introspected_scopes(
    srv: Any, db_url: str, tmp_path: Path
) -> None:
    connection, _ = _connect(srv, db_url)
    assert connection.workspace_id == str(srv.portal_id)
    assert set(connection.scopes) >= NEEDED
    creds = connection.credentials
    assert creds.refresh_token is not None and creds.client_id == "hs-app"
    assert creds.expires_at is not None
    left = creds.expires_at - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=25) < left <= dt.timedelta(minutes=30)
    stored = ConnectionStore(db_url).load("hubspot", tenant="cust_7")
    assert stored is not None and stored.credentials == creds
    raw = (tmp_path / "state.db").read_bytes()
    for secret in (creds.access_token, creds.refresh_token, creds.client_secret):
        assert secret is not None and secret.get_secret_value().encode() not in raw
    # The exchange sent the PKCE verifier, in the body with the app's credentials.
    exchange = next(r for r in srv.requests if r.path == "/oauth/2026-03/token")
    form = dict(urllib.parse.parse_qsl(str(exchange.body)))
    assert form["grant_type"] == "authorization_code" and len(form["code_verifier"]) >= 43
    assert (form["client_id"], form["client_secret"]) == ("hs-app", "hs-secret")


def test_a_token_near_its_expiry_is_refreshed_before_the_request_and_kept(
    db_url: str,
) -> None:
    # Tokens of 4 minutes: always inside the 5-minute margin, so always refreshed first.
    with _server(access_token_seconds=240) as srv:
        connection, _ = _connect(srv, db_url)
        first = connection.credentials
        refreshes = sum(r.path == "/oauth/2026-03/token" for r in srv.requests)
        with Session(_hubspot(), tenant="cust_7", db_url=db_url) as session:
            result = session.pusher().push(
                parse_visitor({"id": "v1", "person": {"email": "ann@acme.io"}})
            )
            assert result.status == "created", result.reason
            renewed = session.current_credentials()
        assert sum(r.path == "/oauth/2026-03/token" for r in srv.requests) > refreshes
        assert renewed.access_token != first.access_token
        # 401s never happened: the token was renewed before it was refused.
        assert not [r for r in srv.requests if r.status == 401]
        stored = ConnectionStore(db_url).load("hubspot", tenant="cust_7")
        assert stored is not None and stored.credentials.access_token == renewed.access_token
        assert stored.tenant == "cust_7"


def test_disconnect_revokes_the_refresh_token(srv: Any, db_url: str) -> None:
    connection, _ = _connect(srv, db_url)
    refresh = connection.credentials.refresh_token
    assert refresh is not None
    with Session(_hubspot(), tenant="cust_7", db_url=db_url) as session:
        result = session.disconnect()
    assert result.revoked and "Nothing in HubSpot was deleted" in result.message
    assert ConnectionStore(db_url).list() == []
    again = httpx.post(
        f"{srv.base_url}/oauth/2026-03/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh.get_secret_value(),
            "client_id": "hs-app",
            "client_secret": "hs-secret",
        },
    )
    assert (again.status_code, again.json()["status"]) == (400, "BAD_REFRESH_TOKEN")
    assert not [r for r in srv.requests if r.method == "DELETE"]


def test_a_dead_refresh_token_says_reconnect(srv: Any, db_url: str) -> None:
    connection, _ = _connect(srv, db_url)
    dead = connection.credentials.model_copy(
        update={
            "refresh_token": SecretStr("refresh-never-issued"),
            "expires_at": dt.datetime.now(dt.UTC),
        }
    )
    with pytest.raises(
        ReconnectRequired, match="HubSpot refused the OAuth token refresh"
    ) as caught:
        _hubspot().connect(credentials=dead, options=ConnectOptions(stored_base_url=srv.base_url))
    assert "refresh-never-issued" not in str(caught.value)
    assert "hs-secret" not in str(caught.value)


# -- the exact requests (respx) --------------------------------------------------------------

API = "https://api.hubapi.com"


def test_refresh_and_revoke_send_hubspot_s_forms() -> None:
    creds = Credentials(
        access_token=SecretStr("old-access"),
        refresh_token=SecretStr("the-refresh"),
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
        client_id="hs-app",
        client_secret=SecretStr("hs-secret"),
    )
    with respx.mock(using="httpx", assert_all_called=True) as router:
        token = router.post(f"{API}/oauth/2026-03/token").respond(
            json={
                "token_type": "bearer",
                "access_token": "new-access",
                "refresh_token": "the-refresh",
                "expires_in": 1800,
                "hub_id": 1,
                "scopes": sorted(NEEDED),
            }
        )
        revoke = router.post(f"{API}/oauth/2026-03/token/revoke").respond(200)
        renewed = hubspot_oauth.renew(creds, None, None)
        stored = Connection(destination="hubspot", workspace_id="1", credentials=renewed)
        result = HubSpotDestination().disconnect(stored)
    assert dict(urllib.parse.parse_qsl(token.calls.last.request.content.decode())) == {
        "grant_type": "refresh_token",
        "refresh_token": "the-refresh",
        "client_id": "hs-app",
        "client_secret": "hs-secret",
    }
    assert renewed.access_token is not None
    assert renewed.access_token.get_secret_value() == "new-access"
    assert renewed.refresh_token == creds.refresh_token
    assert dict(urllib.parse.parse_qsl(revoke.calls.last.request.content.decode())) == {
        "token": "the-refresh",
        "token_type_hint": "refresh_token",
        "client_id": "hs-app",
        "client_secret": "hs-secret",
    }
    assert result.revoked


def test_the_local_server_checks_the_pkce_verifier(srv: Any) -> None:
    auth = oauth.begin(
        _hubspot(), redirect_uri=CALLBACK, client_id="hs-app", options={"base_url": srv.base_url}
    )
    location = httpx.get(auth.url).headers["Location"]
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": "hs-app",
        "client_secret": "hs-secret",
        "code_verifier": "not-the-verifier-of-this-consent-not-the-verifier",
    }
    answer = httpx.post(f"{srv.base_url}/oauth/2026-03/token", data=form)
    assert (answer.status_code, answer.json()["status"]) == (400, "BAD_CODE_VERIFIER")


def test_cli_connect_oauth_runs_the_loopback_flow(
    srv: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import webbrowser

    from click.testing import CliRunner
    from crm_push.cli import cli

    def browser(url: str) -> None:  # the local server approves at once: follow it back
        threading.Thread(
            target=lambda: httpx.get(url, follow_redirects=True, timeout=5), daemon=True
        ).start()

    monkeypatch.setattr(webbrowser, "open", browser)
    monkeypatch.setenv("HUBSPOT_CLIENT_ID", "hs-app")
    monkeypatch.setenv("HUBSPOT_CLIENT_SECRET", "hs-secret")
    db = f"sqlite:///{tmp_path / 'state.db'}"
    args = ["--dest", "hubspot", "--db", db, "connect", "--oauth", "--base-url", srv.base_url]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert str(srv.portal_id) in result.output and "OAuth access token" in result.output
    assert "hs-secret" not in result.output
    stored = ConnectionStore(db).load("hubspot")
    assert stored is not None and stored.credentials.refresh_token is not None
    assert stored.credentials.access_token is not None
    assert stored.credentials.access_token.get_secret_value() not in result.output
