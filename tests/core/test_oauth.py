"""crm_push.oauth.begin/complete: the web flow a host app runs, against the local Attio server.

The "browser" here reads the server's consent page (a real HTML form), picks a workspace and
presses Approve or Deny, then follows the redirect to the host's callback, whose query is what
a web framework would hand to `complete`.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from crm_push import oauth
from crm_push.destination.facade import Destination
from crm_push.errors import ConfigurationError, ReconnectRequired
from crm_push.state.connections import ConnectionStore
from cryptography.fernet import Fernet

from crm_push_attio.plugin import AttioDestination
from crm_push_attio.server import AttioServer

CALLBACK = "https://app.example.com/integrations/attio/callback"


class _Form(HTMLParser):
    """The consent form: its hidden fields, its workspace choices (label ⇒ value), buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.hidden: dict[str, str] = {}
        self.choices: dict[str, str] = {}
        self.buttons: list[str] = []
        self._radio: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a.get("action", "")
        elif tag == "input" and a.get("type") == "hidden":
            self.hidden[a["name"]] = a["value"]
        elif tag == "input" and a.get("type") == "radio":
            self._radio = a["value"]
        elif tag == "button":
            self.buttons.append(a["value"])

    def handle_data(self, data: str) -> None:
        if self._radio is not None and data.strip():
            self.choices[data.strip()] = self._radio
            self._radio = None


def consent(url: str, decision: str = "approve", workspace: str | None = None) -> dict[str, str]:
    """Open the consent page, choose, press a button; the query the host's callback gets."""
    with httpx.Client(timeout=5) as browser:
        page = browser.get(url)
        assert page.status_code == 200, page.text
        form = _Form()
        form.feed(page.text)
        assert form.buttons == ["approve", "deny"]
        fields = {**form.hidden, "decision": decision}
        if workspace is not None:
            fields["workspace"] = form.choices[workspace]
        target = urllib.parse.urljoin(url, form.action)
        answer = browser.post(target, data=fields)
    assert answer.status_code == 302, answer.text
    location = urllib.parse.urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    return dict(urllib.parse.parse_qsl(location.query))


@pytest.fixture
def srv() -> Iterator[AttioServer]:
    with AttioServer(
        oauth_clients={"cid": "csecret"},
        workspace_name="Acme",
        more_workspaces=["Globex"],
    ) as server:
        yield server


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    value = Fernet.generate_key().decode()
    monkeypatch.setenv("CRM_PUSH_SECRET_KEY", value)
    return value


@pytest.fixture
def attio() -> Destination:
    return Destination("attio", AttioDestination())


def _begin(
    attio: Destination, srv: AttioServer, redirect_uri: str = CALLBACK
) -> oauth.Authorization:
    return oauth.begin(
        attio,
        redirect_uri=redirect_uri,
        client_id="cid",
        client_secret="csecret",
        options={"base_url": srv.base_url},
    )


def _stored(db_url: str) -> list[object]:
    return list(ConnectionStore(db_url).list())


def test_begin_gives_the_consent_url_with_a_fresh_state_and_the_redirect_uri(
    attio: Destination, srv: AttioServer, key: str
) -> None:
    first, second = _begin(attio, srv), _begin(attio, srv)
    assert first.state != second.state
    assert len(first.state) >= 32
    url = urllib.parse.urlsplit(first.url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{srv.base_url}/authorize"
    query = dict(urllib.parse.parse_qsl(url.query))
    assert query["redirect_uri"] == CALLBACK
    assert query["state"] == first.state
    assert (query["client_id"], query["response_type"]) == ("cid", "code")
    assert "csecret" not in first.url  # the secret given to begin travels sealed, if at all
    assert first.state not in repr(first)


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example.com/callback",  # plain http off loopback
        "ftp://app.example.com/callback",
        "https:///callback",
        "https://app.example.com/callback#frag",
        "",
    ],
)
def test_begin_refuses_a_redirect_uri_that_is_not_https_or_loopback(
    attio: Destination, srv: AttioServer, uri: str
) -> None:
    with pytest.raises(ConfigurationError, match="redirect URI"):
        _begin(attio, srv, uri)


@pytest.mark.parametrize(
    "uri", ["http://127.0.0.1:8000/cb", "http://localhost:5000/cb", "http://[::1]:9/cb"]
)
def test_begin_accepts_http_on_loopback(attio: Destination, srv: AttioServer, uri: str) -> None:
    auth = _begin(attio, srv, uri)
    assert (
        dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(auth.url).query))["redirect_uri"] == uri
    )


def test_begin_without_a_client_id_names_the_variable(
    attio: Destination, srv: AttioServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ATTIO_CLIENT_ID", raising=False)
    with pytest.raises(ConfigurationError, match="client id") as caught:
        oauth.begin(attio, redirect_uri=CALLBACK, options={"base_url": srv.base_url})
    assert "ATTIO_CLIENT_ID" in str(caught.value)


def test_client_id_and_secret_come_from_the_destination_variables(
    attio: Destination, srv: AttioServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTIO_CLIENT_ID", "cid")
    monkeypatch.setenv("ATTIO_CLIENT_SECRET", "csecret")
    auth = oauth.begin(attio, redirect_uri=CALLBACK, options={"base_url": srv.base_url})
    query = consent(auth.url, workspace="Acme")
    connection = oauth.complete(
        attio, query=query, state=auth.state, redirect_uri=CALLBACK, db_url=db_url
    )
    assert connection.workspace_name == "Acme"
    assert connection.credentials.client_id == "cid"


def test_right_state_stores_an_encrypted_connection_under_the_tenant(
    attio: Destination, srv: AttioServer, key: str, db_url: str, tmp_path: Path
) -> None:
    auth = _begin(attio, srv)
    query = consent(auth.url, workspace="Globex")
    connection = oauth.complete(
        attio, query=query, state=auth.state, redirect_uri=CALLBACK, db_url=db_url, tenant="cust_42"
    )
    globex = dict((name, wid) for wid, name in srv.workspaces)["Globex"]
    assert (connection.workspace_id, connection.workspace_name) == (globex, "Globex")
    assert connection.tenant == "cust_42"
    assert "record_permission:read-write" in connection.scopes
    loaded = ConnectionStore(db_url).load("attio", tenant="cust_42")
    assert loaded is not None and loaded.workspace_id == globex
    token = loaded.credentials.access_token
    assert token is not None
    # The token reaches Globex, and its text appears nowhere in the database file.
    me = httpx.get(
        f"{srv.base_url}/v2/self", headers={"Authorization": f"Bearer {token.get_secret_value()}"}
    )
    assert me.json()["workspace_name"] == "Globex"
    raw = (tmp_path / "state.db").read_bytes()
    assert token.get_secret_value().encode() not in raw
    assert b"csecret" not in raw
    assert query["code"].encode() not in raw


def test_two_tenants_two_workspaces(
    attio: Destination, srv: AttioServer, key: str, db_url: str
) -> None:
    for tenant, workspace in (("cust_1", "Acme"), ("cust_2", "Globex")):
        auth = _begin(attio, srv)
        oauth.complete(
            attio,
            query=consent(auth.url, workspace=workspace),
            state=auth.state,
            redirect_uri=CALLBACK,
            db_url=db_url,
            tenant=tenant,
        )
    store = ConnectionStore(db_url)
    one, two = store.load("attio", tenant="cust_1"), store.load("attio", tenant="cust_2")
    assert one is not None and two is not None
    assert (one.workspace_name, two.workspace_name) == ("Acme", "Globex")


def _refused(attio: Destination, db_url: str, match: str, **kwargs: object) -> ReconnectRequired:
    with pytest.raises(ReconnectRequired, match=match) as caught:
        oauth.complete(attio, db_url=db_url, **kwargs)  # type: ignore[arg-type]
    assert "nothing was stored" in str(caught.value)
    assert _stored(db_url) == []
    return caught.value


def test_wrong_state_stores_nothing(
    attio: Destination, srv: AttioServer, key: str, db_url: str
) -> None:
    auth, other = _begin(attio, srv), _begin(attio, srv)
    query = consent(auth.url, workspace="Acme")
    # The session holds another attempt's state (a crossed or forged answer).
    _refused(
        attio, db_url, "not this session's", query=query, state=other.state, redirect_uri=CALLBACK
    )


def test_missing_state_stores_nothing(
    attio: Destination, srv: AttioServer, key: str, db_url: str
) -> None:
    auth = _begin(attio, srv)
    query = consent(auth.url, workspace="Acme")
    without = {k: v for k, v in query.items() if k != "state"}
    _refused(
        attio, db_url, "carries no state", query=without, state=auth.state, redirect_uri=CALLBACK
    )
    # Nor does a session that kept no state.
    _refused(attio, db_url, "no OAuth attempt", query=query, state="", redirect_uri=CALLBACK)


def test_a_forged_state_stores_nothing(attio: Destination, key: str, db_url: str) -> None:
    forged = "gAAAAAB" + "x" * 120  # shaped like a sealed state, sealed by nobody
    _refused(
        attio,
        db_url,
        "unknown or older",
        query={"code": "c", "state": forged},
        state=forged,
        redirect_uri=CALLBACK,
    )


def test_a_denied_consent_is_a_clear_reconnect_and_stores_nothing(
    attio: Destination, srv: AttioServer, key: str, db_url: str
) -> None:
    auth = _begin(attio, srv)
    query = consent(auth.url, decision="deny")
    assert query["error"] == "access_denied"
    error = _refused(
        attio, db_url, "did not authorize", query=query, state=auth.state, redirect_uri=CALLBACK
    )
    assert "access_denied" in error.message
    assert "approve" in error.next_step


def test_a_replayed_answer_stores_nothing_more(
    attio: Destination, srv: AttioServer, key: str, db_url: str
) -> None:
    auth = _begin(attio, srv)
    query = consent(auth.url, workspace="Acme")
    first = oauth.complete(
        attio, query=query, state=auth.state, redirect_uri=CALLBACK, db_url=db_url, tenant="a"
    )
    with pytest.raises(ReconnectRequired, match="already used") as caught:
        oauth.complete(
            attio, query=query, state=auth.state, redirect_uri=CALLBACK, db_url=db_url, tenant="b"
        )
    assert "nothing was stored" in str(caught.value)
    stored = ConnectionStore(db_url).list()
    assert [(c.tenant, c.workspace_id) for c in stored] == [("a", first.workspace_id)]
    assert stored[0].credentials == first.credentials


def test_a_redirect_uri_that_differs_stores_nothing(
    attio: Destination, srv: AttioServer, key: str, db_url: str
) -> None:
    auth = _begin(attio, srv)
    query = consent(auth.url, workspace="Acme")
    _refused(
        attio,
        db_url,
        "differs from the one this attempt began with",
        query=query,
        state=auth.state,
        redirect_uri="https://evil.example.com/callback",
    )
    # The attempt is still good with the right redirect URI: the refusal burnt nothing.
    connection = oauth.complete(
        attio, query=query, state=auth.state, redirect_uri=CALLBACK, db_url=db_url
    )
    assert connection.workspace_name == "Acme"


def test_a_code_the_crm_refuses_stores_nothing_and_shows_no_secret(
    attio: Destination, srv: AttioServer, key: str, db_url: str
) -> None:
    auth = _begin(attio, srv)
    query = {**consent(auth.url, workspace="Acme"), "code": "not-a-code-of-this-server"}
    error = _refused(
        attio,
        db_url,
        "refused the OAuth code exchange",
        query=query,
        state=auth.state,
        redirect_uri=CALLBACK,
    )
    assert "invalid_grant" in error.message
    assert "csecret" not in str(error) and "not-a-code-of-this-server" not in str(error)


def test_another_process_with_the_same_key_completes(
    attio: Destination, srv: AttioServer, key: str, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = _begin(attio, srv)
    query = consent(auth.url, workspace="Acme")
    # A key rotated in between (new first, old kept) still opens the attempt.
    monkeypatch.setenv("CRM_PUSH_SECRET_KEY", f"{Fernet.generate_key().decode()},{key}")
    connection = oauth.complete(
        attio, query=query, state=auth.state, redirect_uri=CALLBACK, db_url=db_url
    )
    assert connection.workspace_name == "Acme"
    # Without the key that sealed it, an attempt cannot be completed.
    auth = _begin(attio, srv)
    query = consent(auth.url, workspace="Acme")
    monkeypatch.setenv("CRM_PUSH_SECRET_KEY", Fernet.generate_key().decode())
    with pytest.raises(ReconnectRequired, match="CRM_PUSH_SECRET_KEY"):
        oauth.complete(attio, query=query, state=auth.state, redirect_uri=CALLBACK, db_url=db_url)


def test_the_answered_attempts_table_holds_no_secret(
    attio: Destination, srv: AttioServer, key: str, db_url: str
) -> None:
    auth = _begin(attio, srv)
    oauth.complete(
        attio,
        query=consent(auth.url, workspace="Acme"),
        state=auth.state,
        redirect_uri=CALLBACK,
        db_url=db_url,
    )
    with sa.create_engine(db_url).connect() as conn:
        rows = conn.execute(sa.text("SELECT nonce, destination FROM oauth_attempts")).all()
    assert len(rows) == 1 and rows[0][1] == "attio"
    assert rows[0][0] not in auth.state  # the nonce is sealed inside the state, not readable


@pytest.mark.parametrize(
    ("uri", "listens"),
    [
        ("http://127.0.0.1:8765/callback", ("127.0.0.1", 8765, "/callback")),
        ("http://127.0.0.2:8080/cb", ("127.0.0.2", 8080, "/cb")),
        ("http://localhost:9000/", ("127.0.0.1", 9000, "/")),
        ("http://[::1]:9001/cb", ("::1", 9001, "/cb")),
    ],
)
def test_the_cli_listens_on_every_loopback_redirect_begin_accepts(
    uri: str, listens: tuple[str, int, str]
) -> None:
    assert oauth.check_redirect_uri(uri) == uri
    assert oauth._listen_on(uri) == listens


def test_the_cli_refuses_a_redirect_it_cannot_listen_on() -> None:
    with pytest.raises(ConfigurationError, match="not a loopback http:// address"):
        oauth._listen_on("https://app.example.com/integrations/attio/callback")
