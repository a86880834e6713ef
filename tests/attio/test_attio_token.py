"""The bearer token flow: one refresh, shared by every thread, when Attio says the token died."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import respx
from crm_push.errors import ReconnectRequired
from crm_push.http import HttpClient
from crm_push.models.crm import Credentials

from crm_push_attio.oauth import Endpoints
from crm_push_attio.token import TokenAuth

API = "https://api.attio.com"
TOKEN_URL = "https://app.attio.com/oauth/token"


def oauth_credentials() -> Credentials:
    return Credentials(
        access_token="old-access-token",
        refresh_token="refresh-token-1",
        client_id="cid",
        client_secret="csecret",
    )


def test_many_threads_share_one_refresh_and_retry_once(api: respx.MockRouter) -> None:
    refreshes = 0
    lock = threading.Lock()

    def token(request: httpx.Request) -> httpx.Response:
        nonlocal refreshes
        with lock:
            refreshes += 1
        assert b"grant_type=refresh_token" in request.content
        assert b"refresh_token=refresh-token-1" in request.content
        body = {"access_token": "new-access-token", "refresh_token": "refresh-token-2"}
        return httpx.Response(200, json={**body, "token_type": "Bearer"})

    def records(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer new-access-token":
            return httpx.Response(200, json={"data": []})
        return httpx.Response(401, json={"status_code": 401, "type": "auth_error"})

    api.post(TOKEN_URL).mock(side_effect=token)
    api.get(f"{API}/v2/objects").mock(side_effect=records)
    auth = TokenAuth(oauth_credentials(), Endpoints())
    with HttpClient(API, auth=auth, max_retries=0) as http, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: http.json("GET", "/v2/objects"), range(24)))
    assert answers == [{"data": []}] * 24
    assert refreshes == 1
    assert auth.credentials.access_token is not None
    assert auth.credentials.access_token.get_secret_value() == "new-access-token"
    assert auth.credentials.refresh_token is not None
    assert auth.credentials.refresh_token.get_secret_value() == "refresh-token-2"


def test_without_a_refresh_token_a_401_says_reconnect(api: respx.MockRouter) -> None:
    api.get(f"{API}/v2/objects").respond(401, json={"status_code": 401, "type": "auth_error"})
    auth = TokenAuth(Credentials(access_token="workspace-access-token"), Endpoints())
    with (
        HttpClient(API, auth=auth, secrets=auth.secret_values) as http,
        pytest.raises(ReconnectRequired) as info,
    ):
        http.json("GET", "/v2/objects")
    assert "workspace-access-token" not in str(info.value)
    assert len(api.calls) == 1  # nothing to renew: no second try
