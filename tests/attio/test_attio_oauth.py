"""OAuth: Attio's particulars under core's flow (`crm_push.oauth`): the CLI's loopback flow,
the endpoints, the token answer, revoke on disconnect.

The browser is simulated by a thread. With respx it answers like Attio's authorize page would
(redirect to the loopback listener with a code and the state). The loopback GET goes through
urllib, which respx does not intercept.
"""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from attio_helpers import BASE, TOKEN, make_connection, self_body
from crm_push import oauth
from crm_push.destination.facade import Destination
from crm_push.errors import ConfigurationError, ReconnectRequired
from crm_push.models.crm import Connection, ConnectOptions, Credentials
from crm_push.state.connections import ConnectionStore
from pydantic import SecretStr

from crm_push_attio.oauth import Endpoints
from crm_push_attio.plugin import AttioDestination

TOKEN_URL = "https://app.attio.com/oauth/token"
REVOKE_URL = "https://app.attio.com/oauth/revoke"


class Browser:
    """Opens the authorize URL in a thread, as the user's browser would."""

    def __init__(self, answer: Callable[[dict[str, str]], dict[str, str]] | None = None) -> None:
        self.urls: list[str] = []
        self.answer = answer or (lambda q: {"code": "the-code", "state": q["state"]})
        self.threads: list[threading.Thread] = []
        self.status: int | None = None
        self.page = ""  # the text of the page the loopback listener answered

    def __call__(self, url: str) -> bool:
        self.urls.append(url)
        query = {
            k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).items()
        }
        target = query["redirect_uri"] + "?" + urllib.parse.urlencode(self.answer(query))
        thread = threading.Thread(target=self._get, args=(target,), daemon=True)
        thread.start()
        self.threads.append(thread)
        return True

    def _get(self, url: str) -> None:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                self.status, self.page = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            self.status, self.page = exc.code, exc.read().decode()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(5)


def _flow(
    browser: Callable[[str], object],
    db_url: str,
    lines: list[str] | None = None,
    *,
    client_secret: str | None = "csecret",
    timeout: float = 10.0,
    **kwargs: Any,
) -> Connection:
    """`crm-push --dest attio connect --oauth`, as the CLI runs it."""
    attio = Destination("attio", AttioDestination(sleep=lambda s: None))
    return oauth.loopback(
        attio,
        client_id="cid",
        client_secret=client_secret,
        db_url=db_url,
        timeout=timeout,
        open_browser=browser,
        echo=(lines if lines is not None else []).append,
        **kwargs,
    )


def test_flow_with_respx_exchanges_the_code(monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", "env-token-ignored-for-oauth")
    browser, lines = Browser(), []
    with respx.mock(using="httpx", assert_all_called=True) as router:
        token = router.post(TOKEN_URL).respond(
            json={"access_token": "oauth-access", "token_type": "Bearer"}
        )
        me = router.get(f"{BASE}/v2/self").respond(json=self_body())
        conn = _flow(browser, db_url, lines)
    browser.join()
    url = urllib.parse.urlsplit(browser.urls[0])
    query = dict(urllib.parse.parse_qsl(url.query))
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://app.attio.com/authorize"
    assert set(query) == {"client_id", "response_type", "redirect_uri", "state"}
    assert (query["client_id"], query["response_type"]) == ("cid", "code")
    assert query["redirect_uri"].startswith("http://127.0.0.1:")
    assert query["redirect_uri"].endswith("/callback")
    assert len(query["state"]) >= 32
    # The URL is printed too, for headless use.
    assert any(browser.urls[0] in line for line in lines)
    form = dict(urllib.parse.parse_qsl(token.calls.last.request.content.decode()))
    assert token.calls.last.request.headers["Content-Type"].startswith(
        "application/x-www-form-urlencoded"
    )
    assert form == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": query["redirect_uri"],
        "client_id": "cid",
        "client_secret": "csecret",
    }
    assert me.calls.last.request.headers["Authorization"] == "Bearer oauth-access"
    assert browser.status == 200
    creds = conn.credentials
    assert creds.access_token is not None
    assert creds.access_token.get_secret_value() == "oauth-access"
    assert creds.client_id == "cid" and creds.client_secret is not None
    stored = ConnectionStore(db_url).load("attio")
    assert stored is not None and stored.credentials == creds


def test_state_mismatch_is_rejected(db_url: str) -> None:
    browser = Browser(lambda q: {"code": "the-code", "state": "forged"})
    with respx.mock(using="httpx", assert_all_called=False) as router:
        token = router.post(TOKEN_URL)
        with pytest.raises(ReconnectRequired, match="state"):
            _flow(browser, db_url)
        assert not token.called
    browser.join()
    assert browser.status == 400
    assert ConnectionStore(db_url).list() == []


def test_a_non_ascii_state_is_rejected_too(db_url: str) -> None:
    browser = Browser(lambda q: {"code": "the-code", "state": "état-forgé"})
    with pytest.raises(ReconnectRequired, match="state"):
        _flow(browser, db_url)
    browser.join()
    assert browser.status == 400


def test_denied_authorization_is_reported(db_url: str) -> None:
    browser = Browser(
        lambda q: {"error": "access_denied", "error_description": "no", "state": q["state"]}
    )
    with pytest.raises(ReconnectRequired, match="did not authorize"):
        _flow(browser, db_url)
    browser.join()
    assert "did not authorize" in browser.page


def test_no_answer_times_out(db_url: str) -> None:
    with pytest.raises(ReconnectRequired, match="no answer from the browser"):
        _flow(lambda url: None, db_url, timeout=0.2)


def test_registered_redirect_uri_is_used_exactly(db_url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    redirect = f"http://127.0.0.1:{port}/attio/callback"
    browser = Browser()
    with respx.mock(using="httpx") as router:
        token = router.post(TOKEN_URL).respond(json={"access_token": "a"})
        router.get(f"{BASE}/v2/self").respond(json=self_body())
        conn = _flow(browser, db_url, redirect_uri=redirect, client_secret=None)
    browser.join()
    form = dict(urllib.parse.parse_qsl(token.calls.last.request.content.decode()))
    assert (form["redirect_uri"], form["client_id"], form["code"]) == (redirect, "cid", "the-code")
    assert not form.get("client_secret")
    assert conn.credentials.client_secret is None


def test_a_non_loopback_redirect_is_refused(db_url: str) -> None:
    with pytest.raises(ConfigurationError, match="loopback"):
        _flow(Browser(), db_url, redirect_uri="https://example.com/cb")


def test_endpoints_from_options_env_or_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Endpoints.resolve() == Endpoints(
        "https://app.attio.com/authorize", TOKEN_URL, REVOKE_URL
    )
    local = Endpoints.resolve(None, "http://127.0.0.1:9/")
    assert local == Endpoints(
        "http://127.0.0.1:9/authorize",
        "http://127.0.0.1:9/oauth/token",
        "http://127.0.0.1:9/oauth/revoke",
    )
    monkeypatch.setenv("ATTIO_TOKEN_URL", "http://env/token")
    found = Endpoints.resolve({"authorize_url": "http://opt/authorize"})
    assert (found.authorize_url, found.token_url) == ("http://opt/authorize", "http://env/token")


def test_oauth_settings_hook_follows_the_base_url(attio: AttioDestination) -> None:
    settings = Destination("attio", attio).oauth_settings(
        ConnectOptions(base_url="http://127.0.0.1:9", environment=False)
    )
    assert settings.authorize_url == "http://127.0.0.1:9/authorize"
    assert settings.token_url == "http://127.0.0.1:9/oauth/token"
    assert settings.base_url == "http://127.0.0.1:9"
    assert (settings.client_id_env, settings.client_secret_env) == (
        "ATTIO_CLIENT_ID",
        "ATTIO_CLIENT_SECRET",
    )
    assert settings.pkce is False  # Attio documents none


def test_the_connect_hook_sends_oauth_to_core(attio: AttioDestination) -> None:
    with pytest.raises(ReconnectRequired, match="run by crm-push itself") as caught:
        attio.connect(None, ConnectOptions(oauth=True))
    assert "crm_push.oauth.begin" in caught.value.next_step


# -- disconnect --------------------------------------------------------------------------


def _oauth_connection(base_url: str = BASE) -> Connection:
    creds = Credentials(
        access_token=SecretStr("oauth-access"), client_id="cid", client_secret=SecretStr("cs")
    )
    return make_connection(credentials=creds, base_url=base_url)


def test_disconnect_revokes_an_oauth_token(attio: AttioDestination) -> None:
    with respx.mock(using="httpx") as router:
        revoke = router.post(REVOKE_URL).respond(json={})
        result = attio.disconnect(_oauth_connection())
    assert dict(urllib.parse.parse_qsl(revoke.calls.last.request.content.decode())) == {
        "token": "oauth-access",
        "token_type_hint": "access_token",  # RFC 7009, sent by authlib
        "client_id": "cid",
        "client_secret": "cs",
    }
    assert result.revoked
    assert "records and notes pushed so far stay" in result.message


def test_disconnect_reports_a_failed_revoke(attio: AttioDestination) -> None:
    with respx.mock(using="httpx") as router:
        router.post(REVOKE_URL).respond(500)
        result = attio.disconnect(_oauth_connection())
    assert not result.revoked
    assert "HTTP 500" in result.message and "records and notes" in result.message


def test_disconnect_of_an_access_token_sends_nothing(attio: AttioDestination, sent: object) -> None:
    with respx.mock(using="httpx") as router:
        result = attio.disconnect(make_connection())
        assert not router.calls
    assert not result.revoked
    assert "revoke it in Attio (Workspace settings → Developers)" in result.message
    assert "records and notes pushed so far stay" in result.message
    assert TOKEN not in result.message


def test_unknown_respx_guard_sanity(sent: object) -> None:
    # The autouse guard records requests made with httpx, whatever the transport.
    with respx.mock(using="httpx") as router:
        router.get("https://example.test/").respond(200)
        httpx.get("https://example.test/")
    assert sent.methods == ["GET"]  # type: ignore[attr-defined]


def test_a_refused_exchange_never_echoes_what_was_sent(db_url: str) -> None:
    browser = Browser(lambda q: {"code": "the-secret-code", "state": q["state"]})
    with respx.mock(using="httpx") as router:
        router.post(TOKEN_URL).respond(
            401,
            json={
                "error": "invalid_client",
                "error_description": "client_secret 'csecret-long' and code the-secret-code "
                "do not match",
            },
        )
        with pytest.raises(ReconnectRequired) as caught:
            _flow(browser, db_url, client_secret="csecret-long")
    browser.join()
    text = str(caught.value)
    assert "csecret-long" not in text and "the-secret-code" not in text
    assert "do not match" in text
    assert "csecret-long" not in browser.page and "the-secret-code" not in browser.page


# -- the browser page tells the truth; the options are checked first -------------------------


def test_the_page_says_connected_only_after_the_code_exchange_succeeded(db_url: str) -> None:
    browser = Browser()
    seen_before_exchange: list[str | None] = []

    def exchange(request: httpx.Request) -> httpx.Response:
        seen_before_exchange.append(browser.page or None)
        return httpx.Response(200, json={"access_token": "oauth-access"})

    with respx.mock(using="httpx") as router:
        router.post(TOKEN_URL).mock(side_effect=exchange)
        router.get(f"{BASE}/v2/self").respond(json=self_body())
        _flow(browser, db_url)
    browser.join()
    assert seen_before_exchange == [None]  # the browser was still waiting during the exchange
    assert browser.status == 200 and "Attio is connected" in browser.page


def test_a_refused_code_exchange_shows_an_error_page(db_url: str) -> None:
    browser = Browser()
    with respx.mock(using="httpx") as router:
        router.post(TOKEN_URL).respond(
            401, json={"error": "invalid_client", "error_description": "Bad client secret."}
        )
        with pytest.raises(ReconnectRequired, match="Bad client secret") as caught:
            _flow(browser, db_url)
    browser.join()
    assert browser.status == 400
    assert "connected" not in browser.page.replace("not connected", "")
    assert "Attio was not connected" in browser.page
    assert "Bad client secret" in browser.page and "csecret" not in browser.page
    assert "csecret" not in str(caught.value)
    assert ConnectionStore(db_url).list() == []


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", "inf"])
def test_oauth_timeout_must_be_a_number_of_seconds(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        oauth.timeout_option({"oauth_timeout": value})
    assert str(caught.value).startswith(
        f"--option oauth_timeout must be a number of seconds, not {value!r}"
    )
