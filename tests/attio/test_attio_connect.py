"""connect: where the token comes from, GET /v2/self, scopes, capabilities, refresh."""

from __future__ import annotations

import datetime as dt
import urllib.parse

import httpx
import pytest
import respx
from attio_helpers import ALL_SCOPES, BASE, TOKEN, WORKSPACE, error, self_body
from crm_push.destination.facade import Destination
from crm_push.errors import ReconnectRequired, RetryLater, ScopeMissing
from crm_push.http import RateLimits
from crm_push.models.crm import ConnectOptions, Credentials
from pydantic import SecretStr

from crm_push_attio.errors import NOTES_WARNING, SettingError
from crm_push_attio.limits import workspace_limits
from crm_push_attio.plugin import AttioDestination


def _self_route(api: respx.MockRouter, *answers: httpx.Response) -> respx.Route:
    route = api.get("/v2/self")
    route.side_effect = list(answers)
    return route


def test_env_token_checked_with_self(
    attio: AttioDestination, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", TOKEN)
    route = _self_route(api, httpx.Response(200, json=self_body()))
    conn = attio.connect(credentials=None, options=ConnectOptions())
    request = route.calls.last.request
    assert (request.method, str(request.url)) == ("GET", f"{BASE}/v2/self")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"].startswith("crm-push-attio/")
    assert not request.content
    assert conn.destination == "attio"
    assert (conn.workspace_id, conn.workspace_name) == (WORKSPACE, "Acme workspace")
    assert conn.scopes == tuple(ALL_SCOPES.split())
    assert conn.capabilities == {"notes", "inline_link"}
    assert conn.warnings == ()
    assert conn.base_url == BASE
    assert conn.credentials.access_token is not None
    assert conn.credentials.access_token.get_secret_value() == TOKEN
    # The token never shows in a repr or str of what connect returns.
    assert TOKEN not in repr(conn) and TOKEN not in str(conn.credentials)


def test_env_token_takes_precedence_over_stored(
    attio: AttioDestination, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", TOKEN)
    route = _self_route(api, httpx.Response(200, json=self_body()))
    stored = Credentials(access_token=SecretStr("stored-token-xyz"))
    attio.connect(credentials=stored, options=ConnectOptions())
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_without_environment_the_given_token_and_stored_base_url_win(
    attio: AttioDestination, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a host app's Session asks: a stray ATTIO_ACCESS_TOKEN / ATTIO_BASE_URL in the
    # process must not redirect a tenant's pushes.
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", "someone-elses-token")
    monkeypatch.setenv("ATTIO_BASE_URL", "https://elsewhere.example")
    route = _self_route(api, httpx.Response(200, json=self_body()))
    given = Credentials(access_token=SecretStr(TOKEN))
    options = ConnectOptions(environment=False, stored_base_url=BASE, interactive=False)
    conn = attio.connect(credentials=given, options=options)
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert conn.base_url == BASE


def test_stored_token_used_without_env(attio: AttioDestination, api: respx.MockRouter) -> None:
    route = _self_route(api, httpx.Response(200, json=self_body()))
    stored = Credentials(access_token=SecretStr("stored-token-xyz"))
    conn = attio.connect(credentials=stored, options=ConnectOptions())
    assert route.calls.last.request.headers["Authorization"] == "Bearer stored-token-xyz"
    assert conn.credentials == stored


def test_no_token_says_how_to_get_one(attio: AttioDestination) -> None:
    with pytest.raises(ReconnectRequired) as caught:
        attio.connect(credentials=None, options=ConnectOptions())
    text = str(caught.value)
    assert "Workspace settings → Developers" in text
    assert "ATTIO_ACCESS_TOKEN" in text
    assert "crm-push --dest attio connect --oauth" in text


def test_base_url_from_option_then_env(
    attio: AttioDestination, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("ATTIO_BASE_URL", "http://env.local:9/")
    with respx.mock(using="httpx", assert_all_called=True) as router:
        router.get("http://env.local:9/v2/self").respond(json=self_body())
        assert attio.connect(None, ConnectOptions()).base_url == "http://env.local:9"
    with respx.mock(using="httpx", assert_all_called=True) as router:
        router.get("http://opt.local:8/v2/self").respond(json=self_body())
        conn = attio.connect(None, ConnectOptions(base_url="http://opt.local:8"))
        assert conn.base_url == "http://opt.local:8"


def test_inactive_token_is_reconnect(
    attio: AttioDestination, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", TOKEN)
    _self_route(api, httpx.Response(200, json={"active": False}))
    with pytest.raises(ReconnectRequired) as caught:
        attio.connect(None, ConnectOptions())
    assert str(caught.value).startswith(
        "the token in ATTIO_ACCESS_TOKEN was refused (invalid, revoked or expired)"
    )
    assert "crm-push --dest attio connect" in str(caught.value)


def test_malformed_token_is_reconnect(
    attio: AttioDestination, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", TOKEN)
    _self_route(api, error(400, "missing_value", 'Expected an "Authorization" header.'))
    with pytest.raises(ReconnectRequired):
        attio.connect(None, ConnectOptions())


def test_missing_required_scopes_are_named(
    attio: AttioDestination, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", TOKEN)
    _self_route(api, httpx.Response(200, json=self_body(scope="note:read-write")))
    with pytest.raises(ScopeMissing) as caught:
        attio.connect(None, ConnectOptions())
    assert caught.value.scope == "record_permission:read-write object_configuration:read"
    assert "record_permission:read-write and object_configuration:read" in str(caught.value)


def test_read_write_covers_read(
    attio: AttioDestination, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", TOKEN)
    scope = "record_permission:read-write object_configuration:read-write note:read-write"
    _self_route(api, httpx.Response(200, json=self_body(scope=scope)))
    assert attio.connect(None, ConnectOptions()).can("notes")


def test_missing_note_scope_warns_and_drops_notes(
    attio: AttioDestination, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", TOKEN)
    scope = "record_permission:read-write object_configuration:read"
    _self_route(api, httpx.Response(200, json=self_body(scope=scope)))
    conn = attio.connect(None, ConnectOptions())
    assert conn.capabilities == {"inline_link"}
    assert conn.warnings == (NOTES_WARNING,)
    assert "notes will be skipped: grant note:read-write" in conn.warnings[0]


def test_exp_becomes_expires_at(
    attio: AttioDestination, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", TOKEN)
    _self_route(api, httpx.Response(200, json=self_body(exp=4102444800)))
    conn = attio.connect(None, ConnectOptions())
    assert conn.credentials.expires_at == dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _oauth_credentials(**extra: object) -> Credentials:
    return Credentials(
        access_token=SecretStr("old-access"),
        refresh_token=SecretStr("refresh-1"),
        client_id="cid",
        client_secret=SecretStr("csecret"),
        **extra,  # type: ignore[arg-type]
    )


def test_dead_token_with_refresh_token_is_refreshed(
    attio: AttioDestination, api: respx.MockRouter
) -> None:
    route = _self_route(
        api, httpx.Response(200, json={"active": False}), httpx.Response(200, json=self_body())
    )
    token = api.post("https://app.attio.com/oauth/token").respond(
        json={"access_token": "new-access", "token_type": "Bearer", "expires_in": 3600}
    )
    conn = attio.connect(_oauth_credentials(), ConnectOptions(interactive=False))
    form = urllib.parse.parse_qs(token.calls.last.request.content.decode())
    assert form == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["refresh-1"],
        "client_id": ["cid"],
        "client_secret": ["csecret"],
    }
    assert route.calls[1].request.headers["Authorization"] == "Bearer new-access"
    creds = conn.credentials
    assert creds.access_token is not None and creds.access_token.get_secret_value() == "new-access"
    # No new refresh token came back: the old one is kept.
    assert creds.refresh_token is not None and creds.refresh_token.get_secret_value() == "refresh-1"
    assert creds.expires_at is not None and creds.client_id == "cid"


def test_expired_token_is_refreshed_before_any_call(
    attio: AttioDestination, api: respx.MockRouter
) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    route = _self_route(api, httpx.Response(200, json=self_body()))
    api.post("https://app.attio.com/oauth/token").respond(
        json={"access_token": "new-access", "refresh_token": "refresh-2"}
    )
    conn = attio.connect(_oauth_credentials(expires_at=past), ConnectOptions())
    assert route.call_count == 1
    assert route.calls.last.request.headers["Authorization"] == "Bearer new-access"
    assert conn.credentials.refresh_token is not None
    assert conn.credentials.refresh_token.get_secret_value() == "refresh-2"


def test_refused_refresh_says_reconnect(attio: AttioDestination, api: respx.MockRouter) -> None:
    _self_route(api, httpx.Response(200, json={"active": False}))
    api.post("https://app.attio.com/oauth/token").respond(
        400, json={"error": "invalid_grant", "error_description": "The refresh token is used."}
    )
    with pytest.raises(ReconnectRequired, match="refresh token is used") as caught:
        attio.connect(_oauth_credentials(), ConnectOptions())
    assert "refresh-1" not in str(caught.value) and "csecret" not in str(caught.value)


def test_oauth_needs_a_client_id(attio: AttioDestination, monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_push import oauth
    from crm_push.errors import ConfigurationError

    monkeypatch.delenv("ATTIO_CLIENT_ID", raising=False)
    with pytest.raises(ConfigurationError, match="ATTIO_CLIENT_ID"):
        oauth.begin(Destination("attio", attio), redirect_uri="https://app.example.com/cb")


def test_rate_budget_is_shared_per_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTIO_WRITES_PER_SECOND", "5")
    monkeypatch.delenv("ATTIO_READS_PER_SECOND")
    from attio_helpers import make_connection

    one, two = (make_connection().model_copy(update={"workspace_id": ws}) for ws in "12")
    first = workspace_limits(one)
    assert isinstance(first, RateLimits)  # no Session configured a state database
    assert workspace_limits(one) is first
    assert workspace_limits(two) is not first
    assert (first.writes_per_second, first.reads_per_second) == (5.0, 100.0)
    assert first.rates["notes"] == 10.0


def test_clients_of_one_workspace_share_the_budget(attio: AttioDestination) -> None:
    from attio_helpers import make_connection

    other = AttioDestination()
    try:
        a, b = attio.client(make_connection()), other.client(make_connection())
        assert a is not b
        assert a.http.limits is b.http.limits is a.once.limits
        assert a.once.max_retries == 0  # creates are never retried blindly
    finally:
        other.close()


@pytest.mark.parametrize(
    ("where", "named"),
    [
        ("env", "ATTIO_ACCESS_TOKEN"),
        ("stored", "stored Attio connection"),
    ],
)
def test_a_token_with_a_control_character_is_refused_unsent(
    attio: AttioDestination,
    api: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    named: str,
) -> None:
    bad = "attio-first-line\nattio-second-line"
    route = _self_route(api, httpx.Response(200, json=self_body()))
    stored = None
    if where == "env":
        monkeypatch.setenv("ATTIO_ACCESS_TOKEN", bad)
    else:
        stored = Credentials(access_token=SecretStr(bad))
    with pytest.raises(ReconnectRequired) as caught:
        attio.connect(stored, ConnectOptions())
    text = str(caught.value)
    assert named in text and "control character" in text
    assert "first-line" not in text and "second-line" not in text
    assert not route.called


def test_a_connection_whose_token_has_a_newline_sends_nothing(
    attio: AttioDestination, api: respx.MockRouter
) -> None:
    from attio_helpers import make_connection

    route = api.get("/v2/objects").respond(json={"data": []})
    bad = make_connection(credentials=Credentials(access_token=SecretStr("tok-first\ntok-second")))
    with pytest.raises(ReconnectRequired) as caught:
        attio.client(bad).list_objects()
    assert "control character" in str(caught.value) and "tok-" not in str(caught.value)
    assert not route.called


# -- a wrong base URL is not a dead token ------------------------------------------------------


def _not_found(path: str) -> httpx.Response:
    return error(404, "not_found", f"No route for GET {path}.")


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (_not_found("/v2/v2/self"), "answered 404 (not_found: No route for GET /v2/v2/self.)"),
        (httpx.Response(404, text="<html>Not Found</html>"), "answered 404"),
        (
            httpx.Response(200, text="<html>Welcome</html>"),
            "answered 200 with a body that is not JSON",
        ),
        (httpx.Response(200, json={"ok": True}), "answered 200 with JSON that is not Attio's"),
        (httpx.Response(301, headers={"Location": "https://x.example/"}), "answered 301"),
    ],
)
@pytest.mark.not_attio
def test_a_wrong_base_url_says_so_naming_the_variable_and_the_url_tried(
    attio: AttioDestination,
    monkeypatch: pytest.MonkeyPatch,
    answer: httpx.Response,
    why: str,
) -> None:
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("ATTIO_BASE_URL", f"{BASE}/v2")
    with respx.mock(using="httpx", assert_all_called=True) as router:
        router.get(f"{BASE}/v2/v2/self").mock(return_value=answer)
        with pytest.raises(SettingError) as caught:
            attio.connect(None, ConnectOptions())
    text = str(caught.value)
    assert not isinstance(caught.value, ReconnectRequired)
    assert "revoked" not in text and "expired" not in text
    assert f"{BASE}/v2 (from ATTIO_BASE_URL) is not Attio's API" in text
    assert f"GET {BASE}/v2/v2/self {why}" in text
    assert "must not end in /v2" in text
    assert "ATTIO_BASE_URL" in text and "--base-url" in text


def test_a_wrong_base_url_option_is_named_as_the_option(
    attio: AttioDestination, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", TOKEN)
    with respx.mock(using="httpx", assert_all_called=True) as router:
        router.get("http://intranet.example/v2/self").respond(200, text="<html>hi</html>")
        with pytest.raises(SettingError) as caught:
            attio.connect(None, ConnectOptions(base_url="http://intranet.example/"))
    text = str(caught.value)
    assert "http://intranet.example (from --base-url) is not Attio's API" in text
    assert "must not end in /v2" not in text


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("env", "the token in ATTIO_ACCESS_TOKEN was refused (invalid, revoked or expired)"),
        ("stored", "the token of the stored Attio connection was refused (invalid, revoked or "),
    ],
)
@pytest.mark.parametrize(
    "answer",
    [
        error(401, "unauthorized", "Invalid token.", "auth_error"),
        httpx.Response(200, json={"active": False}),
        error(400, "missing_value", 'Expected an "Authorization" header.'),
    ],
)
def test_a_wrong_token_says_where_it_came_from(
    attio: AttioDestination,
    api: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    says: str,
    answer: httpx.Response,
) -> None:
    _self_route(api, answer)
    stored = None
    if where == "env":
        monkeypatch.setenv("ATTIO_ACCESS_TOKEN", TOKEN)
    else:
        stored = Credentials(access_token=SecretStr(TOKEN))
    with pytest.raises(ReconnectRequired) as caught:
        attio.connect(stored, ConnectOptions())
    assert str(caught.value).startswith(says)
    assert TOKEN not in str(caught.value)


def test_a_refused_token_on_another_server_names_that_server(
    attio: AttioDestination, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("ATTIO_BASE_URL", "http://127.0.0.1:9")
    with respx.mock(using="httpx", assert_all_called=True) as router:
        router.get("http://127.0.0.1:9/v2/self").respond(json={"active": False})
        with pytest.raises(ReconnectRequired) as caught:
            attio.connect(None, ConnectOptions())
    assert "was refused (invalid, revoked or expired) by http://127.0.0.1:9 (from " in str(
        caught.value
    )


def test_an_unreachable_base_url_is_named(
    attio: AttioDestination, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("ATTIO_BASE_URL", "http://127.0.0.1:9")
    with respx.mock(using="httpx", assert_all_called=True) as router:
        router.get("http://127.0.0.1:9/v2/self").mock(
            side_effect=httpx.ConnectError("[Errno 111] Connection refused")
        )
        with pytest.raises(RetryLater) as caught:
            attio.connect(None, ConnectOptions())
    text = str(caught.value)
    assert "connection refused" in text
    assert "http://127.0.0.1:9 (from ATTIO_BASE_URL)" in text and "--base-url" in text


# -- a bad rate setting is one error at connect, before any visitor ------------------------


@pytest.mark.parametrize("name", ["ATTIO_WRITES_PER_SECOND", "ATTIO_READS_PER_SECOND"])
@pytest.mark.parametrize("oauth", [False, True])
def test_a_bad_rate_setting_fails_connect_before_anything_is_sent(
    api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch, name: str, oauth: bool
) -> None:
    monkeypatch.setenv("ATTIO_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv(name, "fast")
    route = _self_route(api, httpx.Response(200, json=self_body()))
    attio = AttioDestination()
    extra = {"oauth_timeout": "0.5"}  # should the check come too late
    options = ConnectOptions(oauth=oauth, client_id="cid", interactive=True, extra=extra)
    with pytest.raises(SettingError) as caught:
        attio.connect(None, options)
    assert str(caught.value) == (
        f"{name}='fast' is not a request rate — set {name} to a positive number of requests "
        "per second, 0 or 'unlimited'"
    )
    assert not route.called
