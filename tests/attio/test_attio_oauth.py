"""OAuth: the authorization-code flow with a loopback redirect, revoke on disconnect.

The browser is simulated by a thread. With respx it answers like Attio's authorize page would
(redirect to the loopback listener with a code and the state); against the local server it
really GETs the authorize URL and follows the redirect. The loopback GET goes through urllib,
which respx does not intercept.
"""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

import httpx
import pytest
import respx
from attio_helpers import BASE, TOKEN, make_connection, self_body
from crm_push.errors import ReconnectRequired
from crm_push.models.crm import ConnectOptions, Credentials
from pydantic import SecretStr

from crm_push_attio.errors import SettingError
from crm_push_attio.oauth import App, Endpoints, authorize
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


def _destination(browser: Callable[[str], object], lines: list[str]) -> AttioDestination:
    return AttioDestination(open_browser=browser, echo=lines.append, sleep=lambda s: None)


def _options(**extra: str) -> ConnectOptions:
    return ConnectOptions(
        oauth=True, client_id="cid", client_secret=SecretStr("csecret"), extra=extra
    )


def test_flow_with_respx_exchanges_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", "env-token-ignored-for-oauth")
    browser, lines = Browser(), []
    attio = _destination(browser, lines)
    with respx.mock(assert_all_called=True) as router:
        token = router.post(TOKEN_URL).respond(
            json={"access_token": "oauth-access", "token_type": "Bearer"}
        )
        me = router.get(f"{BASE}/v2/self").respond(json=self_body())
        conn = attio.connect(None, _options())
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
    assert token.calls.last.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
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


def test_state_mismatch_is_rejected() -> None:
    browser = Browser(lambda q: {"code": "the-code", "state": "forged"})
    attio = _destination(browser, [])
    with respx.mock(assert_all_called=False) as router:
        token = router.post(TOKEN_URL)
        with pytest.raises(ReconnectRequired, match="state"):
            attio.connect(None, _options())
        assert not token.called
    browser.join()
    assert browser.status == 400


def test_a_non_ascii_state_is_rejected_too() -> None:
    browser = Browser(lambda q: {"code": "the-code", "state": "état-forgé"})
    with pytest.raises(ReconnectRequired, match="state"):
        _destination(browser, []).connect(None, _options())
    browser.join()
    assert browser.status == 400


def test_denied_authorization_is_reported() -> None:
    browser = Browser(
        lambda q: {"error": "access_denied", "error_description": "no", "state": q["state"]}
    )
    with pytest.raises(ReconnectRequired, match="did not authorize"):
        _destination(browser, []).connect(None, _options())
    browser.join()


def test_no_answer_times_out() -> None:
    with pytest.raises(ReconnectRequired, match="no answer from the browser"):
        _destination(lambda url: None, []).connect(None, _options(oauth_timeout="0.2"))


def test_registered_redirect_uri_is_used_exactly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    redirect = f"http://127.0.0.1:{port}/attio/callback"
    browser = Browser()
    with respx.mock() as router:
        token = router.post(TOKEN_URL).respond(json={"access_token": "a"})
        creds = authorize(
            App("cid"), Endpoints(), redirect_uri=redirect, open_browser=browser, echo=print
        )
    browser.join()
    assert dict(urllib.parse.parse_qsl(token.calls.last.request.content.decode())) == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": redirect,
        "client_id": "cid",
    }
    assert creds.client_secret is None


def test_a_non_loopback_redirect_is_refused() -> None:
    with pytest.raises(ReconnectRequired, match="loopback"):
        authorize(App("cid"), Endpoints(), redirect_uri="https://example.com/cb")


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


def test_client_id_and_secret_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTIO_CLIENT_ID", "env-cid")
    monkeypatch.setenv("ATTIO_CLIENT_SECRET", "env-secret")
    app = App.resolve(None, None)
    assert app.client_id == "env-cid" and app.form()["client_secret"] == "env-secret"
    assert "env-secret" not in repr(app)


# -- disconnect --------------------------------------------------------------------------


def _oauth_connection(base_url: str = BASE) -> object:
    creds = Credentials(
        access_token=SecretStr("oauth-access"), client_id="cid", client_secret=SecretStr("cs")
    )
    return make_connection(credentials=creds, base_url=base_url)


def test_disconnect_revokes_an_oauth_token(attio: AttioDestination) -> None:
    with respx.mock() as router:
        revoke = router.post(REVOKE_URL).respond(json={})
        result = attio.disconnect(_oauth_connection())  # type: ignore[arg-type]
    assert dict(urllib.parse.parse_qsl(revoke.calls.last.request.content.decode())) == {
        "token": "oauth-access",
        "client_id": "cid",
        "client_secret": "cs",
    }
    assert result.revoked
    assert "records and notes pushed so far stay" in result.message


def test_disconnect_reports_a_failed_revoke(attio: AttioDestination) -> None:
    with respx.mock() as router:
        router.post(REVOKE_URL).respond(500)
        result = attio.disconnect(_oauth_connection())  # type: ignore[arg-type]
    assert not result.revoked
    assert "HTTP 500" in result.message and "records and notes" in result.message


def test_disconnect_of_an_access_token_sends_nothing(attio: AttioDestination, sent: object) -> None:
    with respx.mock() as router:
        result = attio.disconnect(make_connection())
        assert not router.calls
    assert not result.revoked
    assert "revoke it in Attio (Workspace settings → Developers)" in result.message
    assert "records and notes pushed so far stay" in result.message
    assert TOKEN not in result.message


def test_unknown_respx_guard_sanity(sent: object) -> None:
    # The autouse guard records requests made with httpx, whatever the transport.
    with respx.mock() as router:
        router.get("https://example.test/").respond(200)
        httpx.get("https://example.test/")
    assert sent.methods == ["GET"]  # type: ignore[attr-defined]


def test_a_refused_exchange_never_echoes_what_was_sent() -> None:
    browser = Browser(lambda q: {"code": "the-secret-code", "state": q["state"]})
    with respx.mock() as router:
        router.post(TOKEN_URL).respond(
            401,
            json={
                "error": "invalid_client",
                "error_description": "client_secret 'csecret-long' and code the-secret-code "
                "do not match",
            },
        )
        options = ConnectOptions(
            oauth=True, client_id="cid", client_secret=SecretStr("csecret-long")
        )
        with pytest.raises(ReconnectRequired) as caught:
            _destination(browser, []).connect(None, options)
    browser.join()
    text = str(caught.value)
    assert "csecret-long" not in text and "the-secret-code" not in text
    assert "do not match" in text


# -- the browser page tells the truth; the options are checked first -------------------------


def test_the_page_says_connected_only_after_the_code_exchange_succeeded() -> None:
    browser = Browser()
    seen_before_exchange: list[str | None] = []

    def exchange(request: httpx.Request) -> httpx.Response:
        seen_before_exchange.append(browser.page or None)
        return httpx.Response(200, json={"access_token": "oauth-access"})

    with respx.mock() as router:
        router.post(TOKEN_URL).mock(side_effect=exchange)
        router.get(f"{BASE}/v2/self").respond(json=self_body())
        _destination(browser, []).connect(None, _options())
    browser.join()
    assert seen_before_exchange == [None]  # the browser was still waiting during the exchange
    assert browser.status == 200 and "Attio is connected" in browser.page


def test_a_refused_code_exchange_shows_an_error_page() -> None:
    browser = Browser()
    with respx.mock() as router:
        router.post(TOKEN_URL).respond(
            401, json={"error": "invalid_client", "error_description": "Bad client secret."}
        )
        with pytest.raises(ReconnectRequired, match="Bad client secret") as caught:
            _destination(browser, []).connect(None, _options())
    browser.join()
    assert browser.status == 400
    assert "connected" not in browser.page.replace("not connected", "")
    assert "Attio was not connected" in browser.page
    assert "Bad client secret" in browser.page and "csecret" not in browser.page
    assert "csecret" not in str(caught.value)


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", "inf"])
def test_oauth_timeout_must_be_a_number_of_seconds(value: str) -> None:
    browser = Browser()
    with pytest.raises(SettingError) as caught:
        _destination(browser, []).connect(None, _options(oauth_timeout=value))
    assert str(caught.value).startswith(
        f"--option oauth_timeout must be a number of seconds, not {value!r}"
    )
    assert browser.urls == []  # checked before the browser opens
